package imagecore

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"image"
	"image/jpeg"
	"math/rand"
	"testing"
)

// The planar encoder against image/jpeg at the same quality: the output must
// decode (with image/jpeg) to the same picture as image/jpeg's own output, to
// within a small PSNR margin, at about the same size, for every size class
// (edges that are not whole blocks or MCUs), layout and quality.
func TestPlanarJPEGEncoderMatchesStdlib(t *testing.T) {
	photo := loadTestPhoto(t)
	tests := []struct {
		name    string
		w, h    int
		layout  string
		quality int
	}{
		{"1x1 gray", 1, 1, "gray", 82},
		{"7x9 444", 7, 9, "444", 82},
		{"17x33 420", 17, 33, "420", 82},
		{"16x16 420", 16, 16, "420", 50},
		{"200x200 420", 200, 200, "420", 82},
		{"481x271 420", 481, 271, "420", 82},
		{"333x211 444", 333, 211, "444", 95},
		{"640x427 gray", 640, 427, "gray", 30},
		{"1024x683 420 q100", 1024, 683, "420", 100},
		{"1024x683 420 q1", 1024, 683, "420", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := cropLayout(photo, tt.w, tt.h, tt.layout)
			ours, err := encodeJPEGPlanes(src, tt.quality, nil)
			if err != nil {
				t.Fatal(err)
			}
			var std bytes.Buffer
			if err := jpeg.Encode(&std, src, &jpeg.Options{Quality: tt.quality}); err != nil {
				t.Fatal(err)
			}
			got, err := jpeg.Decode(bytes.NewReader(ours))
			if err != nil {
				t.Fatalf("our output does not decode: %v", err)
			}
			want, _ := jpeg.Decode(bytes.NewReader(std.Bytes()))
			if got.Bounds() != want.Bounds() {
				t.Fatalf("bounds %v, want %v", got.Bounds(), want.Bounds())
			}
			pOurs, pStd := psnr(t, src, got), psnr(t, src, want)
			if pOurs < pStd-0.3 {
				t.Errorf("PSNR %.2f dB against the source, image/jpeg gets %.2f", pOurs, pStd)
			}
			if r := float64(len(ours)) / float64(std.Len()); std.Len() > 4096 && (r > 1.03 || r < 0.90) {
				t.Errorf("%d bytes, image/jpeg writes %d (ratio %.3f)", len(ours), std.Len(), r)
			}
		})
	}
}

// Every byte value and run length through the bit writer: noise makes long
// codes and 0xFF bytes, flat areas make EOB-only blocks.
func TestPlanarJPEGEncoderNoiseAndFlat(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for _, fill := range []string{"noise", "flat", "stripes"} {
		g := image.NewGray(image.Rect(0, 0, 67, 45))
		for i := range g.Pix {
			switch fill {
			case "noise":
				g.Pix[i] = byte(rng.Intn(256))
			case "flat":
				g.Pix[i] = 200
			default:
				g.Pix[i] = byte(255 * (i % 2))
			}
		}
		out, err := encodeJPEGPlanes(g, 90, nil)
		if err != nil {
			t.Fatal(err)
		}
		m, err := jpeg.Decode(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("%s: %v", fill, err)
		}
		if p := psnr(t, g, m); p < 20 {
			t.Errorf("%s: PSNR %.1f dB", fill, p)
		}
	}
}

func cropLayout(photo *image.YCbCr, w, h int, layout string) image.Image {
	switch layout {
	case "gray":
		g := image.NewGray(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			copy(g.Pix[y*g.Stride:y*g.Stride+w], photo.Y[y*photo.YStride:])
		}
		return g
	case "444":
		m := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio444)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := photo.YCbCrAt(x, y)
				m.Y[y*m.YStride+x], m.Cb[y*m.CStride+x], m.Cr[y*m.CStride+x] = c.Y, c.Cb, c.Cr
			}
		}
		return m
	}
	m := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := photo.YCbCrAt(x, y)
			m.Y[y*m.YStride+x] = c.Y
			if x%2 == 0 && y%2 == 0 {
				m.Cb[y/2*m.CStride+x/2], m.Cr[y/2*m.CStride+x/2] = c.Cb, c.Cr
			}
		}
	}
	return m
}

func loadTestPhoto(t *testing.T) *image.YCbCr {
	t.Helper()
	data := readTestdata(t, "images", "seeding.jpg")
	m, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	y, ok := m.(*image.YCbCr)
	if !ok || m.Bounds().Dx() < 1024 || m.Bounds().Dy() < 683 {
		t.Fatalf("test photo is %T %v, want a YCbCr of at least 1024x683", m, m.Bounds())
	}
	return y
}

// The planar encoder beside image/jpeg on a variant-sized picture.
func BenchmarkJPEGEncode(b *testing.B) {
	t := &testing.T{}
	photo := loadTestPhoto(t)
	for _, layout := range []string{"420", "444"} {
		src := cropLayout(photo, 1600, 900, layout)
		b.Run("planar-"+layout, func(b *testing.B) {
			var buf []byte
			loopCPU(b, func() {
				out, err := encodeJPEGPlanes(src, 82, buf)
				if err != nil {
					b.Fatal(err)
				}
				buf = out[:0]
			})
		})
		b.Run("stdlib-"+layout, func(b *testing.B) {
			var buf bytes.Buffer
			loopCPU(b, func() {
				buf.Reset()
				if err := jpeg.Encode(&buf, src, &jpeg.Options{Quality: 82}); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// The encoder's exact bytes for a spread of sizes, layouts, qualities and
// contents. Speed work on the encoder must keep them; a deliberate change of
// its arithmetic changes the engine's output, so it bumps EngineVersion and
// records the new digests here.
func TestPlanarJPEGEncoderGolden(t *testing.T) {
	photo := loadTestPhoto(t)
	rng := rand.New(rand.NewSource(11))
	noise := image.NewYCbCr(image.Rect(0, 0, 61, 37), image.YCbCrSubsampleRatio420)
	for _, p := range [][]byte{noise.Y, noise.Cb, noise.Cr} {
		for i := range p {
			p[i] = byte(rng.Intn(256))
		}
	}
	tests := []struct {
		name    string
		m       image.Image
		quality int
		want    string
	}{
		{"1x1 gray", cropLayout(photo, 1, 1, "gray"), 82, "5f68b2e39db79b4678cd4f9e032b653ed784ec70b906a367f45329b204bbac91"},
		{"7x9 444", cropLayout(photo, 7, 9, "444"), 82, "4536bf97d2a896684434e7c08dfc837b9432bb0ff5cd8f16141cfdc45192887d"},
		{"17x33 420", cropLayout(photo, 17, 33, "420"), 82, "26c44772b44299c2e69b4e7dc98e105b9b29b18bdac0d044ce8fead1a34b980b"},
		{"481x271 420", cropLayout(photo, 481, 271, "420"), 82, "6b6a8e95f52fb0671af7e63b6165ec719033466a12a802255fe17eb0fe6ac955"},
		{"333x211 444 q95", cropLayout(photo, 333, 211, "444"), 95, "a9a05c95cf98b575f6efa3166f08c97f949b2e463423ddf6ef0297c3681eac3a"},
		{"640x427 gray q30", cropLayout(photo, 640, 427, "gray"), 30, "9c77cd9b40b204cd22fa82dd93042ae234ab7ca2957718e38a0129f46c8905d5"},
		{"1024x683 420 q100", cropLayout(photo, 1024, 683, "420"), 100, "cfea4ac78a00be797cca1f408e85eeeca6ae93e028e4e3622f06b63149020753"},
		{"1024x683 420 q1", cropLayout(photo, 1024, 683, "420"), 1, "d6942f31871629d4967dfa1503681c379e1aac6129217447f8a0a20b2960c6c4"},
		{"noise 420 q90", noise, 90, "27fe36e90acf7167ebd09e8fc012c441fe194682c18147462b6879af0f819db8"},
	}
	for _, tt := range tests {
		out, err := encodeJPEGPlanes(tt.m, tt.quality, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%x", sha256.Sum256(out)); got != tt.want {
			t.Errorf("%s: sha256 %s, want %s", tt.name, got, tt.want)
		}
	}
}

// fdctAAN is the Arai-Agui-Nakajima forward DCT on a level-shifted block in
// natural order, in place; outputs are scaled by 8*aanScale[r]*aanScale[c].
// Rows, then columns, each an 8-point transform on locals (5 multiplies).
func fdctAAN(b *[64]float32) {
	for r := 0; r < 8; r++ {
		p := (*[8]float32)(b[r*8 : r*8+8])
		p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7] = fdct8(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7])
	}
	for c := 0; c < 8; c++ {
		p := (*[57]float32)(b[c : c+57])
		p[0], p[8], p[16], p[24], p[32], p[40], p[48], p[56] = fdct8(p[0], p[8], p[16], p[24], p[32], p[40], p[48], p[56])
	}
}

// fdct8 is one 8-point AAN forward DCT (5 multiplies); outputs are scaled
// by 8*aanScale[k]. transformBlock has it written out for the rows, then the columns; this
// and fdctAAN are the reference it is tested against.
func fdct8(d0, d1, d2, d3, d4, d5, d6, d7 float32) (o0, o1, o2, o3, o4, o5, o6, o7 float32) {
	tmp0, tmp7 := d0+d7, d0-d7
	tmp1, tmp6 := d1+d6, d1-d6
	tmp2, tmp5 := d2+d5, d2-d5
	tmp3, tmp4 := d3+d4, d3-d4

	tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
	tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2
	o0 = tmp10 + tmp11
	o4 = tmp10 - tmp11
	z1 := (tmp12 + tmp13) * 0.707106781
	o2 = tmp13 + z1
	o6 = tmp13 - z1

	tmp10 = tmp4 + tmp5
	tmp11 = tmp5 + tmp6
	tmp12 = tmp6 + tmp7
	z5 := (tmp10 - tmp12) * 0.382683433
	z2 := 0.541196100*tmp10 + z5
	z4 := 1.306562965*tmp12 + z5
	z3 := tmp11 * 0.707106781
	z11, z13 := tmp7+z3, tmp7-z3
	o5 = z13 + z2
	o3 = z13 - z2
	o1 = z11 + z4
	o7 = z11 - z4
	return
}

// The fused load, DCT and quantization of transformBlock against the plain
// steps (copy the block with edge repeats, fdctAAN, quantize in natural
// order, reorder to zigzag), block by block, interior and edge blocks,
// flat, noisy and extreme contents, every quality's tables.
func TestTransformBlockMatchesSteps(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	const w, h = 29, 21 // blocks cut by both edges
	pix := make([]byte, w*h)
	for _, quality := range []int{1, 30, 82, 100} {
		lq, _ := quantTables(quality)
		div := divisors(&lq)
		for _, fill := range []string{"noise", "flat0", "flat255", "checker"} {
			for i := range pix {
				switch fill {
				case "noise":
					pix[i] = byte(rng.Intn(256))
				case "flat0":
					pix[i] = 0
				case "flat255":
					pix[i] = 255
				default:
					pix[i] = byte(255 * ((i%w + i/w) % 2))
				}
			}
			c := &encComp{pix: pix, w: w, h: h, stride: w, div: &div}
			for y0 := 0; y0 < h; y0 += 8 {
				for x0 := 0; x0 < w; x0 += 8 {
					var b [64]float32
					for y := range 8 {
						for x := range 8 {
							b[y*8+x] = float32(int32(pix[min(y0+y, h-1)*w+min(x0+x, w-1)]) - 128)
						}
					}
					fdctAAN(&b)
					var want [64]int32
					var wantNZ uint64
					for k, i := range encZigzag {
						want[k] = int32(b[i]*div[i]+(rndBias+0.5)) - rndBias
						if want[k] != 0 {
							wantNZ |= 1 << k
						}
					}
					var got [64]int32
					nz := transformBlock(&got, c, x0, y0)
					if got != want || nz != wantNZ {
						t.Fatalf("q%d %s block (%d,%d): got %v (mask %x), want %v (mask %x)", quality, fill, x0, y0, got, nz, want, wantNZ)
					}
				}
			}
		}
	}
}

// encZigzag is T.81's order: the anti-diagonals r+c = 0..14, walked up and
// to the right on even diagonals, down and to the left on odd ones.
func TestEncZigzag(t *testing.T) {
	var want [64]uint8
	k := 0
	for d := 0; d < 15; d++ {
		for i := 0; i <= d; i++ {
			r := i // odd diagonals start at the top row
			if d%2 == 0 {
				r = d - i
			}
			if c := d - r; r < 8 && c < 8 {
				want[k] = uint8(r*8 + c)
				k++
			}
		}
	}
	if encZigzag != want {
		t.Fatalf("encZigzag %v, want %v", encZigzag, want)
	}
	for k, i := range encZigzag {
		if encUnzig[i] != uint8(k) {
			t.Fatalf("encUnzig[%d] = %d, want %d", i, encUnzig[i], k)
		}
	}
}
