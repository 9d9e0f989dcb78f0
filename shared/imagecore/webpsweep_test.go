package imagecore

import (
	"context"
	"fmt"
	"image"
	"os"
	"runtime"
	"strings"
	"testing"
)

// TestWebPSweep is the measurement behind WebPQuality and WebPMethod
// (docs/performance.md, "Formats"): for every default variant of every photo
// (the committed three, and IMAGEPIPE_PHOTOS), the JPEG primary and WebP at
// each setting of IMAGEPIPE_WEBP_SWEEP ("82:4,85:4,88:6"), on the pixels the
// engine encodes: bytes against the JPEG's, SSIM against the Lanczos
// reference (Engine.ReferenceImages) minus the JPEG's, and the CPU of the
// encode alone (user+sys of the process; run it with -cpu 1). Skipped unless
// IMAGEPIPE_WEBP_SWEEP is set.
func TestWebPSweep(t *testing.T) {
	spec := os.Getenv("IMAGEPIPE_WEBP_SWEEP")
	if spec == "" {
		t.Skip("set IMAGEPIPE_WEBP_SWEEP, e.g. 82:4,85:4,88:4")
	}
	var settings []altSettings
	for _, f := range strings.Split(spec, ",") {
		var s altSettings
		if _, err := fmt.Sscanf(f, "%d:%d", &s.quality, &s.effort); err != nil {
			t.Fatalf("setting %q: %v", f, err)
		}
		settings = append(settings, s)
	}
	t.Logf("GOMAXPROCS %d", runtime.GOMAXPROCS(0))
	variants := primariesOnly(DefaultVariants())
	e := newEngine(t, variants...)
	type sum struct{ ratio, dssim, cpu, worst float64 }
	sums := make([][]sum, len(settings)) // [setting][variant]
	for i := range sums {
		sums[i] = make([]sum, len(variants))
		for j := range sums[i] {
			sums[i][j].worst = 1
		}
	}
	// The first encode compiles the WASM module: not part of any row.
	if _, err := encodeAlternateWith(image.NewRGBA(image.Rect(0, 0, 16, 16)), FormatWebP, true, settings[0]); err != nil {
		t.Fatal(err)
	}
	names, photos := benchPhotoData()
	for _, name := range names {
		data := photos[name]
		images, res, err := e.VariantImages(context.Background(), data)
		if err != nil {
			t.Fatal(err)
		}
		refs, err := e.ReferenceImages(data)
		if err != nil {
			t.Fatal(err)
		}
		for j, vi := range images {
			o := res.Outputs[j]
			m, err := DecodeOutput(o.Format, o.Data)
			if err != nil {
				t.Fatal(err)
			}
			sj := SSIM(refs[j], m)
			line := fmt.Sprintf("%-36s %-6s %4dx%-4d jpeg %7d SSIM %.4f |", name, o.Name, o.Width, o.Height, len(o.Data), sj)
			for i, s := range settings {
				start := cpuTime()
				w, err := encodeAlternateWith(vi.Image, FormatWebP, vi.Opaque, s)
				cpu := float64(cpuTime()-start) / 1e6
				if err != nil {
					t.Fatal(err)
				}
				m, err := DecodeOutput(FormatWebP, w)
				if err != nil {
					t.Fatal(err)
				}
				r, d := float64(len(w))/float64(len(o.Data)), SSIM(refs[j], m)-sj
				line += fmt.Sprintf(" q%d m%d %.2f %+.4f %4.0fms |", s.quality, s.effort, r, d, cpu)
				a := &sums[i][j]
				a.ratio += r
				a.dssim += d
				a.cpu += cpu
				a.worst = min(a.worst, d)
			}
			t.Log(line)
		}
	}
	n := float64(len(names))
	for i, s := range settings {
		line := fmt.Sprintf("mean of %d: q%d m%d |", len(names), s.quality, s.effort)
		for j, v := range variants {
			a := sums[i][j]
			line += fmt.Sprintf(" %s %.2f %+.4f (worst %+.4f) %4.0fms |", v.Name, a.ratio/n, a.dssim/n, a.worst, a.cpu/n)
		}
		t.Log(line)
	}
}
