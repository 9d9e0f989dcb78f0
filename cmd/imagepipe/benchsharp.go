package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"image"
	"image/draw"
	_ "image/jpeg"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/imagepipe/imagepipe/shared/imagecore"
)

// sharpScript is the sharp side of the warm comparison; bench writes it next
// to the sharp install and runs it with node.
//
//go:embed sharpbench.js
var sharpScript []byte

// warmPipeline is one contender of the warm comparison: a child process that
// makes every variant of a photo, then repeats it and prints its median CPU
// time per photo ("warm cpu_us=N ...").
type warmPipeline struct {
	name string
	dir  string
	args func(photo string) (string, []string)
}

// benchSharp compares, warm and interleaved, the engine with sharp (libvips)
// used both ways people use it for this job: decode once and cascade, and one
// pipeline per variant. Quality is the RMSE of each variant against the
// reference pipeline's unencoded Lanczos result.
func benchSharp(ctx context.Context, w io.Writer, self, sharpDir, scratch string, photos []string, variants []imagecore.Variant, limits imagecore.Limits, procs []int, runs, warm int) error {
	script := filepath.Join(sharpDir, "sharpbench.js")
	if err := os.WriteFile(script, sharpScript, 0o644); err != nil {
		return err
	}
	vjson, err := json.Marshal(variants)
	if err != nil {
		return err
	}
	engine, err := imagecore.NewEngine(limits, variants)
	if err != nil {
		return err
	}
	pipes := []warmPipeline{
		{"engine", filepath.Join(scratch, "warm-engine"), func(photo string) (string, []string) {
			return self, []string{"resize", "-q", "-repeat", strconv.Itoa(warm), "-o", filepath.Join(scratch, "warm-engine"), photo}
		}},
		{"sharp cascade", filepath.Join(scratch, "sharp-cascade"), func(photo string) (string, []string) {
			return "node", []string{script, "cascade", strconv.Itoa(warm), string(vjson), filepath.Join(scratch, "sharp-cascade"), photo}
		}},
		{"sharp per variant", filepath.Join(scratch, "sharp-pervariant"), func(photo string) (string, []string) {
			return "node", []string{script, "pervariant", strconv.Itoa(warm), string(vjson), filepath.Join(scratch, "sharp-pervariant"), photo}
		}},
	}
	medium := len(variants) / 2 // the variant the quality column reports (medium in the default set)
	fmt.Fprintf(w, "## Warm, against sharp %s\n\n", sharpVersion(sharpDir))
	fmt.Fprintf(w, "Each pipeline runs in its own process, makes every variant once, then %d more times; the figure is the median CPU time (user+sys) per photo of those warm runs, median of %d interleaved processes. Ratio is engine CPU over sharp's: at or under 1.00 means the engine is as fast or faster. RMSE is against the reference pipeline's unencoded Lanczos result (0-1 scale), for %s and as the mean over all variants.\n\n",
		warm, runs, variants[medium].Name)
	for _, p := range procs {
		env := append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(p), "VIPS_CONCURRENCY="+strconv.Itoa(p), "UV_THREADPOOL_SIZE="+strconv.Itoa(max(p, 1)), "NODE_PATH="+filepath.Join(sharpDir, "node_modules"))
		fmt.Fprintf(w, "### GOMAXPROCS=%d (sharp concurrency %d)\n\n", p, p)
		fmt.Fprintln(w, "| photo | MP | engine CPU | sharp cascade CPU | sharp per-variant CPU | x cascade | x per-variant | engine / sharp cascade peak RSS | RMSE engine (medium / mean) | RMSE sharp cascade (medium / mean) | engine bytes | sharp cascade bytes |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
		worst := 0.0
		for _, photo := range photos {
			mp, err := megapixels(photo)
			if err != nil {
				return fmt.Errorf("%s: %w", photo, err)
			}
			got := make([][]warmUsage, len(pipes))
			for r := 0; r < runs; r++ {
				for i, pl := range pipes {
					if err := ctx.Err(); err != nil {
						return err
					}
					name, args := pl.args(photo)
					u, err := measureWarm(ctx, env, name, args...)
					if err != nil {
						return fmt.Errorf("%s on %s: %w", pl.name, photo, err)
					}
					got[i] = append(got[i], u)
				}
			}
			cpu := make([]time.Duration, len(pipes))
			for i := range pipes {
				cpu[i] = medianWarm(got[i])
			}
			ref, err := referenceOf(engine, photo)
			if err != nil {
				return fmt.Errorf("reference for %s: %w", photo, err)
			}
			eq := rmseOf(pipes[0].dir, photo, variants, ref)
			sq := rmseOf(pipes[1].dir, photo, variants, ref)
			var rss, srss int64
			for _, u := range got[0] {
				rss = max(rss, u.rssKB)
			}
			for _, u := range got[1] {
				srss = max(srss, u.rssKB)
			}
			x := ratio(cpu[0], cpu[1])
			worst = max(worst, x)
			fmt.Fprintf(w, "| %s | %.1f | %s | %s | %s | %.2f | %.2f | %d / %d MB | %s | %s | %d KB | %d KB |\n",
				filepath.Base(photo), mp, ms(cpu[0]), ms(cpu[1]), ms(cpu[2]), x, ratio(cpu[0], cpu[2]), rss/1024, srss/1024,
				eq, sq, outputBytes(pipes[0].dir, photo, variants)/1024, outputBytes(pipes[1].dir, photo, variants)/1024)
		}
		fmt.Fprintf(w, "\nWorst engine/cascade ratio at GOMAXPROCS=%d: **%.2f** (target: at most 1.00).\n\n", p, worst)
	}
	return nil
}

type warmUsage struct {
	cpu   time.Duration
	rssKB int64
}

// measureWarm runs one warm child and reads its "warm ..." line.
func measureWarm(ctx context.Context, env []string, name string, args ...string) (warmUsage, error) {
	out, err := childOutput(ctx, env, name, args...)
	if err != nil {
		return warmUsage{}, err
	}
	return parseWarm(out)
}

// childOutput runs a bench child and returns what it printed; a failure
// carries the child's stderr.
func childOutput(ctx context.Context, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %v: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// childFigures returns the fields of every "KIND key=value ..." line of a
// bench child's output whose first word is kind, in order.
func childFigures(out, kind string) []map[string]string {
	var lines []map[string]string
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != kind {
			continue
		}
		m := map[string]string{}
		for _, f := range fields[1:] {
			if k, v, ok := strings.Cut(f, "="); ok {
				m[k] = v
			}
		}
		lines = append(lines, m)
	}
	return lines
}

// figureInt reads a whole-number field of a child's line.
func figureInt(m map[string]string, key string) (int64, error) {
	v, ok := m[key]
	if !ok {
		return 0, fmt.Errorf("no %s", key)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", key, err)
	}
	return n, nil
}

// parseWarm reads the "warm cpu_us=N ... rss_kb=N" line of a warm child.
func parseWarm(out string) (warmUsage, error) {
	lines := childFigures(out, "warm")
	if len(lines) == 0 {
		return warmUsage{}, fmt.Errorf("no warm figure in %q", out)
	}
	us, err := figureInt(lines[0], "cpu_us")
	if err != nil {
		return warmUsage{}, fmt.Errorf("warm line: %w", err)
	}
	u := warmUsage{cpu: time.Duration(us) * time.Microsecond}
	u.rssKB, _ = figureInt(lines[0], "rss_kb") // older children did not print it
	return u, nil
}

func medianWarm(us []warmUsage) time.Duration {
	ds := make([]time.Duration, len(us))
	for i, u := range us {
		ds[i] = u.cpu
	}
	return medianDuration(ds)
}

func sharpVersion(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", "sharp", "package.json"))
	if err != nil {
		return "(version unknown)"
	}
	var pkg struct{ Version string }
	if json.Unmarshal(b, &pkg) != nil {
		return "(version unknown)"
	}
	return pkg.Version
}

func referenceOf(e *imagecore.Engine, photo string) ([]*image.NRGBA, error) {
	data, err := os.ReadFile(photo)
	if err != nil {
		return nil, err
	}
	return e.ReferenceImages(data)
}

// rmseOf reports "medium / mean" RMSE of the outputs in dir against ref, or
// why it could not.
func rmseOf(dir, photo string, vs []imagecore.Variant, ref []*image.NRGBA) string {
	base := strings.TrimSuffix(filepath.Base(photo), filepath.Ext(photo))
	var sum float64
	var mid float64
	for i, v := range vs {
		b, err := os.ReadFile(filepath.Join(dir, base+"_"+v.Name+".jpg"))
		if err != nil {
			return "missing " + v.Name
		}
		m, _, err := image.Decode(bytes.NewReader(b))
		if err != nil {
			return "undecodable " + v.Name
		}
		e, ok := rmse(m, ref[i])
		if !ok {
			return fmt.Sprintf("%s is %dx%d, reference %dx%d", v.Name, m.Bounds().Dx(), m.Bounds().Dy(), ref[i].Rect.Dx(), ref[i].Rect.Dy())
		}
		sum += e
		if i == len(vs)/2 {
			mid = e
		}
	}
	return fmt.Sprintf("%.4f / %.4f", mid, sum/float64(len(vs)))
}

// rmse compares RGB on a 0-1 scale; sizes must agree.
func rmse(a image.Image, ref *image.NRGBA) (float64, bool) {
	if a.Bounds().Dx() != ref.Rect.Dx() || a.Bounds().Dy() != ref.Rect.Dy() {
		return 0, false
	}
	n := image.NewNRGBA(image.Rect(0, 0, ref.Rect.Dx(), ref.Rect.Dy()))
	draw.Draw(n, n.Rect, a, a.Bounds().Min, draw.Src)
	var se float64
	for i := 0; i < len(n.Pix); i += 4 {
		for c := 0; c < 3; c++ {
			d := float64(n.Pix[i+c]) - float64(ref.Pix[i+c])
			se += d * d
		}
	}
	return math.Sqrt(se/float64(len(n.Pix)/4*3)) / 255, true
}
