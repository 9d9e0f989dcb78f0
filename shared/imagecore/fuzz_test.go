package imagecore_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	_ "image/gif" // stdlib decoders, the independent opinion on each input
	_ "image/jpeg"
	_ "image/png"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	_ "golang.org/x/image/webp"

	"github.com/imagepipe/imagepipe/shared/imagecore"
)

// fuzzLimits keep each fuzz input cheap while leaving every code path reachable.
var fuzzLimits = imagecore.Limits{MaxBytes: 1 << 20, MaxPixels: 1 << 20, MaxSide: 4096}

// allocPerPixel bounds what processing may allocate per declared pixel: the
// decoded image, its NRGBA copy, the JPEG coefficient buffers of progressive
// files and the resize scratch all scale with it; 64 bytes is a generous roof
// that a decoder sizing itself from anything but the checked header would blow.
const allocPerPixel = 64

// wasmAllowance is what one HEIC or AVIF decode may allocate besides: a fresh
// WASM instance's linear memory (a Go slice) starts at the module's declared
// size and grows in 64 KiB pages whatever the picture's size.
const wasmAllowance = 64 << 20

// addSeeds adds every small file under testdata's image folders.
func addSeeds(f *testing.F) {
	for _, dir := range []string{"../../testdata/hostile", "../../testdata/formats", "../../testdata/images", "../../testdata/jpeg"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() || filepath.Ext(e.Name()) == ".md" {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			if len(b) <= int(fuzzLimits.MaxBytes) {
				f.Add(b)
			}
		}
	}
}

// FuzzProcess feeds arbitrary bytes to the guarded decode. It must never panic;
// every refusal is an *imagecore.Error; the header check and the full decode
// agree (same code, same dimensions); what the standard decoders accept at a
// size other than the header's is refused; and allocation stays proportional to
// the pixels the checked header declared.
func FuzzProcess(f *testing.F) {
	addSeeds(f)
	engine, err := imagecore.NewEngine(fuzzLimits, []imagecore.Variant{
		{Name: "thumb", Width: 32, Height: 32, Fit: imagecore.FitCover},
		{Name: "small", Width: 96, Fit: imagecore.FitInside},
	})
	if err != nil {
		f.Fatal(err)
	}
	// Compile the WASM decoders once before measuring.
	for _, s := range []string{"heic-8bit.heic", "avif-8bit.avif"} {
		b, err := os.ReadFile(filepath.Join("../../testdata/formats", s))
		if err != nil {
			f.Fatal(err)
		}
		if _, err := engine.Process(context.Background(), b); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, headErr := engine.CheckHeader(data)

		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		res, err := engine.Process(context.Background(), data)
		runtime.ReadMemStats(&after)
		allocated := after.TotalAlloc - before.TotalAlloc

		var headRefusal, refusal *imagecore.Error
		if headErr != nil {
			if !errors.As(headErr, &headRefusal) {
				t.Fatalf("CheckHeader error is not a refusal: %v", headErr)
			}
			if !errors.As(err, &refusal) || refusal.Code != headRefusal.Code {
				t.Fatalf("CheckHeader refused with %s, Process returned %v", headRefusal.Code, err)
			}
			// Refused from the header: no pixel buffer may have been made.
			if allocated > 1<<20+uint64(len(data)) {
				t.Fatalf("refusal (%s) allocated %d bytes", refusal.Code, allocated)
			}
			return
		}
		px := uint64(info.Width) * uint64(info.Height)
		ceiling := allocPerPixel*px + 2<<20 + 4*uint64(len(data))
		if info.Format == imagecore.SourceHEIC || info.Format == imagecore.SourceAVIF {
			ceiling += wasmAllowance // HEIC with alpha: two decodes
			ceiling *= 2
		}
		if allocated > ceiling {
			t.Fatalf("%dx%d image allocated %d bytes, over %d", info.Width, info.Height, allocated, ceiling)
		}
		if err != nil {
			if !errors.As(err, &refusal) {
				t.Fatalf("Process failed without a refusal: %v", err)
			}
			// After the header only damage, or a decode's work budget, refuses.
			if refusal.Code != imagecore.CodeCorrupt && refusal.Code != imagecore.CodeTooComplex {
				t.Fatalf("header accepted, then refused with %s (want only %s or %s after the header)", refusal.Code, imagecore.CodeCorrupt, imagecore.CodeTooComplex)
			}
			return
		}
		if res.Source != info {
			t.Fatalf("Process source %+v, CheckHeader %+v", res.Source, info)
		}
		if len(res.Outputs) != 2 {
			t.Fatalf("%d outputs, want 2", len(res.Outputs))
		}
		for _, o := range res.Outputs {
			if o.Width < 1 || o.Height < 1 || o.Width > max(info.Width, info.Height) || o.Height > max(info.Width, info.Height) {
				t.Fatalf("%s: %dx%d from %dx%d", o.Name, o.Width, o.Height, info.Width, info.Height)
			}
			cfg, _, err := image.DecodeConfig(bytes.NewReader(o.Data))
			if err != nil || cfg.Width != o.Width || cfg.Height != o.Height {
				t.Fatalf("%s: output decodes as %dx%d, %v; says %dx%d", o.Name, cfg.Width, cfg.Height, err, o.Width, o.Height)
			}
		}
		// The standard decoder's picture has the header's size (GIF frames may be
		// smaller than the logical screen, and are placed on it). gen2brain's
		// registered HEIC/AVIF decoders ignore irot, so they are no judge.
		if m, kind, err := image.Decode(bytes.NewReader(data)); err == nil && kind != "gif" && kind != "avif" && kind != "heic" {
			w, h := m.Bounds().Dx(), m.Bounds().Dy()
			if info.Orientation >= 5 {
				w, h = h, w
			}
			if w != info.Width || h != info.Height {
				t.Fatalf("decoded %dx%d, header said %dx%d", w, h, info.Width, info.Height)
			}
		}
	})
}
