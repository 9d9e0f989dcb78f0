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

// rmseRGB is the root-mean-square difference of b against a over RGB on a
// 0-1 scale, as the sharp comparison (make bench-sharp) reports it.
func rmseRGB(t *testing.T, a, b image.Image) float64 {
	t.Helper()
	return math.Sqrt(meanSquaredRGB(t, a, b)) / 255
}

// A variant that is about half another's size is made from that one's output
// (the cascade), not from a 2x box step and a short Lanczos, which left
// medium 1-10 % behind sharp's RMSE (issue 15). On the committed photos the
// pair below took that path before the cascade (large needs the full decode,
// medium was a box step under it and a Lanczos of 1.11): medium's RMSE, as
// PNG so that only the resampling counts, was 0.00424, 0.00463 and 0.00444
// (friends, seeding, wine); from large it is 0.00277, 0.00268 and 0.00357.
// With IMAGEPIPE_PHOTOS set, the
// default variants' medium is checked against sharp 0.34.5's decode-once
// cascade on the bench corpus (its figures from make bench-sharp, to five
// places), within 0.1 %: Infinite-Sea (4:4:4, where both make medium by a
// Lanczos of a 2048 large from the same half-scale decode) is at 0.01242
// against 0.01241, the order of the JPEG encoders' own rounding.
func TestMediumRMSE(t *testing.T) {
	pair := []Variant{{Name: "large", Width: 1200, Height: 1200, Format: FormatPNG}, {Name: "medium", Width: 720, Height: 720, Format: FormatPNG}}
	limits := map[string]float64{"friends.jpg": 0.00285, "seeding.jpg": 0.00276, "wine.jpg": 0.00367}
	sharp := map[string]float64{ // medium, sharp cascade
		"Dragonfly_by_Bolly.jpg":             0.01377,
		"Infinite-Sea_by_Aury88.jpg":         0.01241,
		"Kleiber_by_Lukas_Baubkus.jpg":       0.01073,
		"seeding_by_Clements_Engelhardt.jpg": 0.01160,
		"sunset_by_Aitzol_Berasategi.jpg":    0.01422,
	}
	for name, data := range qualityPhotos(t) {
		vs, limit, mi := pair, limits[name], 1
		if l, ok := sharp[name]; ok {
			vs, limit, mi = primariesOnly(DefaultVariants()), l*1.001, 2
		} else if _, ok := limits[name]; !ok {
			continue
		}
		t.Run(name, func(t *testing.T) {
			e := newEngine(t, vs...)
			ref, err := e.ReferenceImages(data)
			if err != nil {
				t.Fatal(err)
			}
			got := rmseRGB(t, ref[mi], decodeOutput(t, process(t, e, data).Outputs[mi]))
			t.Logf("medium RMSE %.5f (limit %.5f)", got, limit)
			if got > limit {
				t.Errorf("medium RMSE %.5f against the reference, want <= %.5f", got, limit)
			}
		})
	}
}
