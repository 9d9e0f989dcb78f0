package imagecore

import (
	"image"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// psnr is the peak signal-to-noise ratio of b against a over RGB, in dB.
func psnr(t *testing.T, a, b image.Image) float64 {
	t.Helper()
	mse := meanSquaredRGB(t, a, b)
	if mse == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/mse)
}

// meanSquaredRGB is the mean squared 8-bit difference of b against a over RGB.
func meanSquaredRGB(t *testing.T, a, b image.Image) float64 {
	t.Helper()
	if a.Bounds().Size() != b.Bounds().Size() {
		t.Fatalf("sizes differ: %v vs %v", a.Bounds(), b.Bounds())
	}
	var se float64
	ab, bb := a.Bounds(), b.Bounds()
	for y := 0; y < ab.Dy(); y++ {
		for x := 0; x < ab.Dx(); x++ {
			r1, g1, b1, _ := a.At(ab.Min.X+x, ab.Min.Y+y).RGBA()
			r2, g2, b2, _ := b.At(bb.Min.X+x, bb.Min.Y+y).RGBA()
			for _, d := range []float64{float64(r1>>8) - float64(r2>>8), float64(g1>>8) - float64(g2>>8), float64(b1>>8) - float64(b2>>8)} {
				se += d * d
			}
		}
	}
	return se / float64(3*ab.Dx()*ab.Dy())
}

// qualityPhotos are the committed photos plus, when IMAGEPIPE_PHOTOS names a
// directory (make bench sets it to the fetched 12-20 MP corpus), every JPEG in it.
func qualityPhotos(t *testing.T) map[string][]byte {
	t.Helper()
	photos := map[string][]byte{}
	for _, f := range []string{"friends.jpg", "seeding.jpg", "wine.jpg"} {
		photos[f] = readTestdata(t, "images", f)
	}
	if dir := os.Getenv("IMAGEPIPE_PHOTOS"); dir != "" {
		files, err := filepath.Glob(filepath.Join(dir, "*.jpg"))
		if err != nil || len(files) == 0 {
			t.Fatalf("IMAGEPIPE_PHOTOS=%s holds no .jpg files (%v)", dir, err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			photos[filepath.Base(f)] = b
		}
	}
	return photos
}

// Every variant of the fast engine must stay above 35 dB PSNR against the
// plain full-size Lanczos resize of the same region (ProcessReference).
func TestQualityAgainstReference(t *testing.T) {
	variants := append(DefaultVariants(),
		Variant{Name: "w100", Width: 100},
		Variant{Name: "w700", Width: 700},
		Variant{Name: "h333", Height: 333},
		Variant{Name: "sq150", Width: 150, Height: 150, Fit: FitCover},
		Variant{Name: "wide", Width: 640, Height: 200, Fit: FitCover},
	)
	// Each as served (JPEG, where chroma is made at half size) and as PNG
	// (lossless, so only the resampling differs).
	for _, v := range variants {
		v.Name += "-png"
		v.Format = FormatPNG
		variants = append(variants, v)
	}
	e := newEngine(t, variants...)
	const minPSNR = 35
	for name, data := range qualityPhotos(t) {
		t.Run(name, func(t *testing.T) {
			fast := process(t, e, data)
			ref, err := e.ProcessReference(data)
			if err != nil {
				t.Fatal(err)
			}
			for i, o := range fast.Outputs {
				r := ref.Outputs[i]
				if o.Width != r.Width || o.Height != r.Height {
					t.Fatalf("%s: %dx%d, reference %dx%d", o.Name, o.Width, o.Height, r.Width, r.Height)
				}
				p := psnr(t, decodeOutput(t, r), decodeOutput(t, o))
				t.Logf("%-6s %4dx%-4d PSNR %.1f dB", o.Name, o.Width, o.Height, p)
				if p < minPSNR {
					t.Errorf("%s: PSNR %.1f dB against the reference, want >= %d", o.Name, p, minPSNR)
				}
			}
		})
	}
}
