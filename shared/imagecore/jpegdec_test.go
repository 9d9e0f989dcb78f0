package imagecore

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// stdPlanes decodes with image/jpeg and returns its Y, Cb, Cr (or gray) planes.
func stdPlanes(t *testing.T, data []byte) []plane {
	t.Helper()
	m, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("image/jpeg: %v", err)
	}
	w, h := m.Bounds().Dx(), m.Bounds().Dy()
	switch m := m.(type) {
	case *image.Gray:
		return []plane{{m.Pix, w, h, m.Stride}}
	case *image.YCbCr:
		cw, ch := m.Rect.Dx(), m.Rect.Dy()
		switch m.SubsampleRatio {
		case image.YCbCrSubsampleRatio420:
			cw, ch = (w+1)/2, (h+1)/2
		case image.YCbCrSubsampleRatio422:
			cw = (w + 1) / 2
		case image.YCbCrSubsampleRatio440:
			ch = (h + 1) / 2
		}
		return []plane{{m.Y, w, h, m.YStride}, {m.Cb, cw, ch, m.CStride}, {m.Cr, cw, ch, m.CStride}}
	}
	t.Fatalf("image/jpeg gave %T", m)
	return nil
}

// decodeScaled runs the scaled decoder with every component at n/8.
func decodeScaled(t *testing.T, data []byte, n int) []plane {
	t.Helper()
	d, err := newJPEGDecoder(data)
	if err != nil {
		t.Fatalf("header: %v", err)
	}
	ns := make([]int, len(d.comps))
	for i := range ns {
		ns[i] = n
	}
	planes, err := d.decode(context.Background(), ns)
	if err != nil {
		t.Fatalf("decode at %d/8: %v", n, err)
	}
	return planes
}

// boxShrink averages f x f cells (partial cells at the edges average what
// they cover): the ideal a 1/f DCT-domain decode approximates.
func boxShrink(p plane, f int) plane {
	w, h := (p.w+f-1)/f, (p.h+f-1)/f
	out := plane{pix: make([]byte, w*h), w: w, h: h, stride: w}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			sum, n := 0, 0
			for yy := y * f; yy < min(y*f+f, p.h); yy++ {
				for xx := x * f; xx < min(x*f+f, p.w); xx++ {
					sum += int(p.pix[yy*p.stride+xx])
					n++
				}
			}
			out.pix[y*w+x] = uint8((sum + n/2) / n)
		}
	}
	return out
}

// comparePlanes returns the PSNR and the largest difference of b against a.
func comparePlanes(t *testing.T, a, b plane) (float64, int) {
	t.Helper()
	if a.w != b.w || a.h != b.h {
		t.Fatalf("plane sizes differ: %dx%d vs %dx%d", a.w, a.h, b.w, b.h)
	}
	var se float64
	maxd := 0
	for y := 0; y < a.h; y++ {
		ra, rb := a.row(y), b.row(y)
		for x := range ra {
			d := abs(int(ra[x]) - int(rb[x]))
			maxd = max(maxd, d)
			se += float64(d * d)
		}
	}
	if se == 0 {
		return math.Inf(1), 0
	}
	return 10 * math.Log10(255*255*float64(a.w*a.h)/se), maxd
}

// decoderCases are JPEGs the scaled decoder must handle: generated ones of
// every layout (testdata/jpeg, see its README), the photos, and some made by
// image/jpeg here.
func decoderCases(t *testing.T) map[string][]byte {
	t.Helper()
	cases := map[string][]byte{}
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "jpeg", "*.jpg"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/jpeg files: %v", err)
	}
	files = append(files, filepath.Join("..", "..", "testdata", "formats", "video-001.progressive.jpeg"))
	imgs, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "images", "*.jpg"))
	for _, f := range append(files, imgs...) {
		switch filepath.Base(f) {
		case "arithmetic.jpg", "progressive-420-restart.jpg": // image/jpeg cannot decode these
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cases[filepath.Base(f)] = b
	}
	grad := image.NewNRGBA(image.Rect(0, 0, 77, 45))
	for y := 0; y < 45; y++ {
		for x := 0; x < 77; x++ {
			grad.SetNRGBA(x, y, color.NRGBA{uint8(x * 3), uint8(y * 5), uint8((x * y) % 256), 255})
		}
	}
	cases["go-420-77x45"] = encodeJPEG(t, grad, 90)
	gray := image.NewGray(image.Rect(0, 0, 33, 9))
	for y := 0; y < 9; y++ {
		for x := 0; x < 33; x++ {
			gray.Pix[y*33+x] = uint8(40 + 5*x + 3*y)
		}
	}
	cases["go-gray-33x9"] = encodeJPEG(t, gray, 75)
	cases["go-1x1"] = encodeJPEG(t, filled(1, 1, red), 80)
	return cases
}

// At full size the decoder must agree with image/jpeg up to IDCT rounding.
func TestJPEGDecoderFullScale(t *testing.T) {
	for name, data := range decoderCases(t) {
		t.Run(name, func(t *testing.T) {
			want := stdPlanes(t, data)
			got := decodeScaled(t, data, 8)
			if len(got) != len(want) {
				t.Fatalf("%d planes, image/jpeg %d", len(got), len(want))
			}
			for i := range want {
				p, maxd := comparePlanes(t, want[i], got[i])
				if p < 45 || maxd > 6 {
					t.Errorf("plane %d: PSNR %.1f dB, max difference %d against image/jpeg", i, p, maxd)
				}
			}
		})
	}
}

// At 1/2, 1/4 and 1/8 each plane must be close to a box reduction of
// image/jpeg's full-size plane.
func TestJPEGDecoderScaled(t *testing.T) {
	for name, data := range decoderCases(t) {
		full := stdPlanes(t, data)
		for _, n := range []int{4, 2, 1} {
			t.Run(name+"/"+string(rune('0'+n))+"of8", func(t *testing.T) {
				got := decodeScaled(t, data, n)
				for i := range full {
					want := boxShrink(full[i], 8/n)
					p, _ := comparePlanes(t, want, got[i])
					t.Logf("plane %d: %.1f dB", i, p)
					if p < 30 {
						t.Errorf("plane %d: PSNR %.1f dB against a %dx box reduction", i, p, 8/n)
					}
				}
			})
		}
	}
}

// image/jpeg refuses progressive 4:2:0 files with restart intervals ("missing
// 0xff00 sequence"); libjpeg and this decoder read them. The same picture
// coded without restarts has the same coefficients.
func TestJPEGDecoderProgressiveRestart(t *testing.T) {
	want := stdPlanes(t, readTestdata(t, "jpeg", "progressive-420.jpg"))
	got := decodeScaled(t, readTestdata(t, "jpeg", "progressive-420-restart.jpg"), 8)
	for i := range want {
		if p, maxd := comparePlanes(t, want[i], got[i]); p < 45 || maxd > 6 {
			t.Errorf("plane %d: PSNR %.1f dB, max difference %d", i, p, maxd)
		}
	}
}

// Kinds the decoder leaves to image/jpeg are refused from the header.
func TestJPEGDecoderUnsupported(t *testing.T) {
	cases := map[string][]byte{
		"arithmetic": readTestdata(t, "jpeg", "arithmetic.jpg"),
	}
	// 12-bit and lossless frames, made by patching a baseline file's SOF0.
	base := readTestdata(t, "jpeg", "baseline-420-odd.jpg")
	sof := bytes.Index(base, []byte{0xFF, 0xC0})
	if sof < 0 {
		t.Fatal("no SOF0 in baseline-420-odd.jpg")
	}
	twelve := bytes.Clone(base)
	twelve[sof+4] = 12
	cases["12-bit"] = twelve
	lossless := bytes.Clone(base)
	lossless[sof+1] = 0xC3
	cases["lossless"] = lossless
	e := newEngine(t, Variant{Name: "s", Width: 16})
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := newJPEGDecoder(data); !errors.Is(err, errJPEGUnsupported) {
				t.Fatalf("newJPEGDecoder: %v, want errJPEGUnsupported", err)
			}
			// The engine gives image/jpeg's verdict.
			_, stdErr := jpeg.Decode(bytes.NewReader(data))
			if _, err := e.Process(context.Background(), data); (err == nil) != (stdErr == nil) {
				t.Fatalf("engine error %v, image/jpeg error %v", err, stdErr)
			}
		})
	}
}

// Truncated and damaged files: the decoder fails without panicking, and the
// engine gives the same verdict as image/jpeg.
func TestJPEGDecoderTruncated(t *testing.T) {
	e := newEngine(t, Variant{Name: "s", Width: 48}, Variant{Name: "t", Width: 20, Height: 20, Fit: FitCover})
	for name, data := range decoderCases(t) {
		for _, frac := range []float64{0.1, 0.3, 0.5, 0.8, 0.97} {
			cut := data[:int(float64(len(data))*frac)]
			t.Run(name, func(t *testing.T) {
				if d, err := newJPEGDecoder(cut); err == nil {
					ns := make([]int, len(d.comps))
					for i := range ns {
						ns[i] = 2
					}
					if _, err := d.decode(context.Background(), ns); err == nil {
						t.Errorf("%.0f%% of the file decoded without error", frac*100)
					}
				}
				_, stdErr := jpeg.Decode(bytes.NewReader(cut))
				_, err := e.Process(context.Background(), cut)
				if (err == nil) != (stdErr == nil) {
					t.Fatalf("%.0f%%: engine error %v, image/jpeg error %v", frac*100, err, stdErr)
				}
				if err != nil {
					wantCode(t, err, CodeCorrupt)
				}
			})
		}
	}
}

// The engine takes the scaled path for a photo much larger than its
// variants, and picks the reduction the variants allow.
func TestJPEGScalesForVariants(t *testing.T) {
	data := readTestdata(t, "images", "wine.jpg") // 1067x1600, 4:2:0
	d, err := newJPEGDecoder(data)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		variants []Variant
		want     []int
	}{
		{[]Variant{{Name: "a", Width: 1067}}, []int{0, 0, 0}},
		{[]Variant{{Name: "a", Width: 500}}, []int{1, 1, 1}},
		{[]Variant{{Name: "a", Width: 260}}, []int{0, 0, 0}}, // small: Lanczos keeps a ratio of 3
		{[]Variant{{Name: "a", Width: 40}}, []int{3, 3, 3}},
		{[]Variant{{Name: "a", Width: 40}, {Name: "b", Width: 500}}, []int{1, 1, 1}},
	}
	for _, tt := range tests {
		got := jpegScales(SourceInfo{Width: 1067, Height: 1600}, d, tt.variants)
		for i := range tt.want {
			if got[i] != tt.want[i] {
				t.Errorf("%v: halvings %v, want %v", tt.variants, got, tt.want)
				break
			}
		}
	}
}

// The 4-point butterfly must equal the general basis-matrix IDCT.
func TestIDCT4MatchesBasis(t *testing.T) {
	var q [64]uint16
	for i := range q {
		q[i] = uint16(1 + i%13)
	}
	seed := uint32(1)
	for trial := 0; trial < 200; trial++ {
		var blk [16]int32 // u, v < 4 at v*4+u
		for i := range blk {
			seed = seed*1664525 + 1013904223
			if seed>>28 < 6 {
				blk[i] = int32(seed>>20)%61 - 30
			}
		}
		got := make([]byte, 4*5)
		idct4(&blk, &q, got, 5)
		// The general path, with the butterfly bypassed.
		basis := &idctBasis[4]
		for y := 0; y < 4; y++ {
			for x := 0; x < 4; x++ {
				var s float64
				for v := 0; v < 4; v++ {
					for u := 0; u < 4; u++ {
						s += float64(blk[v*4+u]) * float64(q[v*8+u]) * float64(basis[x*8+u]) * float64(basis[y*8+v])
					}
				}
				want := clampf(float32(s) + 128)
				if d := abs(int(got[y*5+x]) - int(want)); d > 1 {
					t.Fatalf("trial %d (%d,%d): %d, basis %d", trial, x, y, got[y*5+x], want)
				}
			}
		}
	}
}

// Through the engine, every layout rendered from the scaled decode is as
// close to the naive reference as the same engine decoding with image/jpeg
// (within 1.5 dB; tiny thumbnails of detailed photos are near 35 dB on both
// paths), and close to that path's output.
func TestScaledJPEGMatchesStdJPEG(t *testing.T) {
	e := newEngine(t,
		Variant{Name: "small", Width: 64},
		Variant{Name: "thumb", Width: 32, Height: 32, Fit: FitCover},
		Variant{Name: "png", Width: 48, Format: FormatPNG},
	)
	std := *e
	std.stdJPEG = true
	for name, data := range decoderCases(t) {
		t.Run(name, func(t *testing.T) {
			info, err := e.CheckHeader(data)
			if err != nil {
				t.Fatal(err)
			}
			d, err := newJPEGDecoder(data)
			if err != nil {
				t.Fatal(err)
			}
			if ks := jpegScales(info, d, e.variants); ks[0] == 0 && info.Width >= 400 {
				t.Errorf("no reduction for %dx%d", info.Width, info.Height)
			}
			got, old := process(t, e, data), process(t, &std, data)
			ref, err := e.ProcessReference(data)
			if err != nil {
				t.Fatal(err)
			}
			for i, o := range got.Outputs {
				r := decodeOutput(t, ref.Outputs[i])
				pNew, pOld := psnr(t, r, decodeOutput(t, o)), psnr(t, r, decodeOutput(t, old.Outputs[i]))
				pPath := psnr(t, decodeOutput(t, old.Outputs[i]), decodeOutput(t, o))
				t.Logf("%s: %.1f dB against the reference (image/jpeg path %.1f), %.1f against the image/jpeg path", o.Name, pNew, pOld, pPath)
				if pNew < pOld-1.5 || pPath < 33 {
					t.Errorf("%s: %.1f dB against the reference (image/jpeg path %.1f), %.1f against the image/jpeg path", o.Name, pNew, pOld, pPath)
				}
			}
		})
	}
}
