package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/imagepipe/imagepipe/shared/imagecore"
)

// The formats section of imagepipe bench (issue 15): what the WebP and AVIF
// alternates cost beside the JPEG primary, per variant and per photo, at one
// core in a warm process, with their bytes and SSIM against the Lanczos reference.

// benchFormats are the formats of the per-variant tables, primary first.
var benchFormats = []imagecore.Format{imagecore.FormatJPEG, imagecore.FormatWebP, imagecore.FormatAVIF}

// formatSet is one variant set a photo is run with.
type formatSet struct {
	name     string
	variants []imagecore.Variant
}

// formatSets are the primaries alone, the configured set (the default is AVIF
// on thumb, small and medium) and every alternate on every variant; the last
// one's child also times each encode alone.
func formatSets(configured []imagecore.Variant) []formatSet {
	return []formatSet{
		{"JPEG only", withFormats(configured, nil)},
		{"configured (" + describeFormats(configured) + ")", configured},
		{"every format", withFormats(configured, benchFormats[1:])},
	}
}

func withFormats(vs []imagecore.Variant, fs []imagecore.Format) []imagecore.Variant {
	out := slices.Clone(vs)
	for i := range out {
		out[i].Formats = fs
	}
	return out
}

// describeFormats says which variants have which alternates: "avif on thumb,
// small, medium", or "no alternates".
func describeFormats(vs []imagecore.Variant) string {
	var order []string
	names := map[string][]string{}
	for _, v := range vs {
		if len(v.Formats) == 0 {
			continue
		}
		fs := make([]string, len(v.Formats))
		for i, f := range v.Formats {
			fs[i] = string(f)
		}
		key := strings.Join(fs, "+")
		if _, ok := names[key]; !ok {
			order = append(order, key)
		}
		names[key] = append(names[key], v.Name)
	}
	if len(order) == 0 {
		return "no alternates"
	}
	parts := make([]string, len(order))
	for i, k := range order {
		parts[i] = k + " on " + strings.Join(names[k], ", ")
	}
	return strings.Join(parts, "; ")
}

// encodeFigure is one "encode ..." line of a child: one variant's encode in one format.
type encodeFigure struct {
	variant       string
	format        imagecore.Format
	width, height int
	cpu           time.Duration
	bytes         int64
}

func parseEncodes(out string) ([]encodeFigure, error) {
	var figs []encodeFigure
	for _, m := range childFigures(out, "encode") {
		var f encodeFigure
		f.variant, f.format = m["variant"], imagecore.Format(m["format"])
		if f.variant == "" || f.format == "" {
			return nil, fmt.Errorf("encode line without variant or format: %v", m)
		}
		var nums [4]int64
		for i, k := range []string{"width", "height", "cpu_us", "bytes"} {
			n, err := figureInt(m, k)
			if err != nil {
				return nil, fmt.Errorf("encode line of %s %s: %w", f.variant, f.format, err)
			}
			nums[i] = n
		}
		f.width, f.height, f.cpu, f.bytes = int(nums[0]), int(nums[1]), time.Duration(nums[2])*time.Microsecond, nums[3]
		figs = append(figs, f)
	}
	return figs, nil
}

// parseCompile reads a child's "compile cpu_us=N" line: its WASM compile.
func parseCompile(out string) (time.Duration, error) {
	lines := childFigures(out, "compile")
	if len(lines) == 0 {
		return 0, fmt.Errorf("no compile figure in %q", out)
	}
	us, err := figureInt(lines[0], "cpu_us")
	if err != nil {
		return 0, fmt.Errorf("compile line: %w", err)
	}
	return time.Duration(us) * time.Microsecond, nil
}

// formatCell is one variant in one format: its encode's CPU, bytes and SSIM.
type formatCell struct {
	cpu   time.Duration
	bytes int64
	ssim  float64
}

type variantFigures struct {
	name          string
	width, height int
	cells         map[imagecore.Format]formatCell
}

// setFigures are one variant set's figures on a photo.
type setFigures struct {
	cpu, compile time.Duration // warm median per photo; the one-off WASM compile
	rssKB, bytes int64
}

type photoFormats struct {
	photo    string
	mp       float64
	sets     []setFigures // as formatSets
	variants []variantFigures
}

// runBenchFormats runs every photo with each formatSet in its own warm child
// at GOMAXPROCS=1 (runs children per set, interleaved), prints each photo's
// per-variant table as it is measured, then the per-photo and mean tables.
func runBenchFormats(ctx context.Context, w io.Writer, self, scratch string, photos []string, configured []imagecore.Variant, limits imagecore.Limits, runs, warm int) error {
	sets := formatSets(configured)
	all := sets[len(sets)-1].variants
	refEngine, err := imagecore.NewEngine(limits, all)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "## Formats: CPU per variant\n\n"+
		"Each variant set runs in its own process at GOMAXPROCS=1: the WASM encoders are compiled first (reported on their own), every variant is made once, then %d more times, and the figure is the median CPU time (user+sys) of those warm runs, median over %d process(es) per set. "+
		"Per variant: each encode alone on the engine's own pixels for that variant (the primary and every alternate), median of %d. "+
		"SSIM (luma, 11x11 Gaussian window) is against the reference pipeline's unencoded Lanczos result; bytes ratios are against the JPEG.\n\n",
		warm, runs, warm)
	var results []photoFormats
	for _, photo := range photos {
		pf, err := measurePhotoFormats(ctx, self, scratch, photo, sets, refEngine, runs, warm)
		if err != nil {
			return fmt.Errorf("%s: %w", photo, err)
		}
		fmt.Fprintf(w, "### %s (%.1f MP)\n\n", filepath.Base(photo), pf.mp)
		writeVariantTable(w, pf.variants)
		results = append(results, pf)
	}
	fmt.Fprintf(w, "### Per photo\n\n")
	writePhotoTable(w, sets, results)
	fmt.Fprintf(w, "### Mean over the photos\n\n")
	writeMeansTable(w, results)
	return nil
}

func measurePhotoFormats(ctx context.Context, self, scratch, photo string, sets []formatSet, ref *imagecore.Engine, runs, warm int) (photoFormats, error) {
	pf := photoFormats{photo: photo, sets: make([]setFigures, len(sets))}
	var err error
	if pf.mp, err = megapixels(photo); err != nil {
		return pf, err
	}
	dirs := make([]string, len(sets))
	outs := make([][]string, len(sets))
	for r := 0; r < runs; r++ {
		for i, set := range sets {
			vj, err := json.Marshal(set.variants)
			if err != nil {
				return pf, err
			}
			dirs[i] = filepath.Join(scratch, "formats-"+strconv.Itoa(i))
			args := []string{"resize", "-q", "-repeat", strconv.Itoa(warm), "-o", dirs[i]}
			if i == len(sets)-1 {
				args = append(args, "-encodes")
			}
			args = append(args, photo)
			env := append(os.Environ(), "GOMAXPROCS=1", "VARIANTS="+string(vj))
			out, err := childOutput(ctx, env, self, args...)
			if err != nil {
				return pf, fmt.Errorf("%s: %w", set.name, err)
			}
			outs[i] = append(outs[i], out)
		}
	}
	for i, set := range sets {
		var cpus, compiles []time.Duration
		s := &pf.sets[i]
		for _, out := range outs[i] {
			u, err := parseWarm(out)
			if err != nil {
				return pf, fmt.Errorf("%s: %w", set.name, err)
			}
			c, err := parseCompile(out)
			if err != nil {
				return pf, fmt.Errorf("%s: %w", set.name, err)
			}
			cpus, compiles = append(cpus, u.cpu), append(compiles, c)
			s.rssKB = max(s.rssKB, u.rssKB)
		}
		s.cpu, s.compile = medianDuration(cpus), medianDuration(compiles)
		s.bytes = outputBytes(dirs[i], photo, set.variants)
	}
	var figs [][]encodeFigure
	for _, out := range outs[len(sets)-1] {
		f, err := parseEncodes(out)
		if err != nil {
			return pf, err
		}
		figs = append(figs, f)
	}
	data, err := os.ReadFile(photo)
	if err != nil {
		return pf, err
	}
	refs, err := ref.ReferenceImages(data)
	if err != nil {
		return pf, fmt.Errorf("reference: %w", err)
	}
	pf.variants, err = variantCells(medianEncodes(figs), sets[len(sets)-1].variants, refs, dirs[len(sets)-1], photo)
	return pf, err
}

// medianEncodes merges the encode figures of several children (the same
// lines in the same order), taking the median CPU of each.
func medianEncodes(runs [][]encodeFigure) []encodeFigure {
	if len(runs) == 0 {
		return nil
	}
	out := slices.Clone(runs[0])
	for i := range out {
		var cpus []time.Duration
		for _, r := range runs {
			if i < len(r) {
				cpus = append(cpus, r[i].cpu)
			}
		}
		out[i].cpu = medianDuration(cpus)
	}
	return out
}

// variantCells pairs each encode with the SSIM of the file the child wrote
// for it against the variant's reference image.
func variantCells(figs []encodeFigure, vs []imagecore.Variant, refs []*image.NRGBA, dir, photo string) ([]variantFigures, error) {
	base := strings.TrimSuffix(filepath.Base(photo), filepath.Ext(photo))
	var out []variantFigures
	for i, v := range vs {
		vf := variantFigures{name: v.Name, cells: map[imagecore.Format]formatCell{}}
		for _, f := range figs {
			if f.variant != v.Name {
				continue
			}
			vf.width, vf.height = f.width, f.height
			b, err := os.ReadFile(filepath.Join(dir, base+"_"+v.Name+"."+f.format.Ext()))
			if err != nil {
				return nil, err
			}
			m, err := imagecore.DecodeOutput(f.format, b)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", v.Name, err)
			}
			vf.cells[f.format] = formatCell{cpu: f.cpu, bytes: f.bytes, ssim: imagecore.SSIM(refs[i], m)}
		}
		out = append(out, vf)
	}
	return out, nil
}

// writeVariantTable prints one photo's encodes: a row per variant, then their sum.
func writeVariantTable(w io.Writer, vs []variantFigures) {
	writeTableHead(w, []string{"variant", "size"}, benchFormats, "CPU", "bytes", "SSIM")
	sum := map[imagecore.Format]formatCell{}
	for _, v := range vs {
		row := fmt.Sprintf("| %s | %dx%d |", v.name, v.width, v.height)
		jpeg, hasJPEG := v.cells[imagecore.FormatJPEG]
		for _, f := range benchFormats {
			c, ok := v.cells[f]
			if !ok {
				row += " | | |"
				continue
			}
			size := kb(c.bytes)
			if f != imagecore.FormatJPEG && hasJPEG {
				size += fmt.Sprintf(" (%.2f)", float64(c.bytes)/float64(jpeg.bytes))
			}
			row += fmt.Sprintf(" %s | %s | %.4f |", cpuMS(c.cpu), size, c.ssim)
			s := sum[f]
			s.cpu += c.cpu
			s.bytes += c.bytes
			sum[f] = s
		}
		fmt.Fprintln(w, row)
	}
	row := "| **all** | |"
	for _, f := range benchFormats {
		s := sum[f]
		row += fmt.Sprintf(" **%s** | %s | |", cpuMS(s.cpu), kb(s.bytes))
	}
	fmt.Fprintln(w, row)
	fmt.Fprintln(w)
}

// writePhotoTable prints each photo's warm CPU per variant set, with its
// ratio to the JPEG-only set, the one-off compile, peak RSS and bytes.
func writePhotoTable(w io.Writer, sets []formatSet, ps []photoFormats) {
	cols := []string{"photo", "MP"}
	for i, s := range sets {
		cols = append(cols, s.name)
		if i > 0 {
			cols = append(cols, "x JPEG only")
		}
	}
	cols = append(cols, "WASM compile ("+strings.Join(setNames(sets[1:]), " / ")+")", "peak RSS", "bytes")
	writeTableHead(w, cols, nil)
	for _, p := range ps {
		row := fmt.Sprintf("| %s | %.1f |", filepath.Base(p.photo), p.mp)
		var compile, rss, size []string
		for i, s := range p.sets {
			row += " " + ms(s.cpu) + " |"
			if i > 0 {
				row += fmt.Sprintf(" %.2f |", ratio(s.cpu, p.sets[0].cpu))
				compile = append(compile, ms(s.compile))
			}
			rss = append(rss, strconv.FormatInt(s.rssKB/1024, 10))
			size = append(size, strconv.FormatInt(s.bytes/1024, 10))
		}
		fmt.Fprintf(w, "%s %s | %s MB | %s KB |\n", row, strings.Join(compile, " / "), strings.Join(rss, " / "), strings.Join(size, " / "))
	}
	fmt.Fprintln(w)
}

func setNames(sets []formatSet) []string {
	names := make([]string, len(sets))
	for i, s := range sets {
		names[i], _, _ = strings.Cut(s.name, " (")
	}
	return names
}

// writeMeansTable prints, per variant, the mean over the photos of each
// format's encode CPU and, for the alternates, bytes over the JPEG's and SSIM
// minus the JPEG's; a photo without the cell counts for nothing in its mean.
func writeMeansTable(w io.Writer, ps []photoFormats) {
	if len(ps) == 0 {
		return
	}
	writeTableHead(w, []string{"variant", "JPEG CPU"}, benchFormats[1:], "CPU", "bytes / JPEG", "SSIM - JPEG")
	for i, v := range ps[0].variants {
		row := fmt.Sprintf("| %s |", v.name)
		for _, f := range benchFormats {
			var cpu time.Duration
			var bytesX, dssim float64
			var n int
			for _, p := range ps {
				if i >= len(p.variants) {
					continue
				}
				c, ok := p.variants[i].cells[f]
				j, okj := p.variants[i].cells[imagecore.FormatJPEG]
				if !ok || !okj || j.bytes == 0 {
					continue
				}
				cpu += c.cpu
				bytesX += float64(c.bytes) / float64(j.bytes)
				dssim += c.ssim - j.ssim
				n++
			}
			switch {
			case n == 0 && f == imagecore.FormatJPEG:
				row += " |"
			case n == 0:
				row += " | | |"
			case f == imagecore.FormatJPEG:
				row += fmt.Sprintf(" %s |", cpuMS(cpu/time.Duration(n)))
			default:
				row += fmt.Sprintf(" %s | %.2f | %+.4f |", cpuMS(cpu/time.Duration(n)), bytesX/float64(n), dssim/float64(n))
			}
		}
		fmt.Fprintln(w, row)
	}
	fmt.Fprintln(w)
}

// writeTableHead prints a Markdown table's header: the lead columns, then
// for each format one column per suffix ("WebP CPU", "WebP bytes", ...).
func writeTableHead(w io.Writer, lead []string, fs []imagecore.Format, suffixes ...string) {
	head := "| " + strings.Join(lead, " | ") + " |"
	n := len(lead)
	for _, f := range fs {
		for _, s := range suffixes {
			head += " " + formatLabel(f) + " " + s + " |"
			n++
		}
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, "|"+strings.Repeat("---|", n))
}

func formatLabel(f imagecore.Format) string {
	switch f {
	case imagecore.FormatJPEG:
		return "JPEG"
	case imagecore.FormatWebP:
		return "WebP"
	case imagecore.FormatAVIF:
		return "AVIF"
	}
	return string(f)
}

// cpuMS keeps a tenth of a millisecond: small variants' JPEG encodes take one or two.
func cpuMS(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func kb(n int64) string { return fmt.Sprintf("%.1f KB", math.Round(float64(n)/102.4)/10) }
