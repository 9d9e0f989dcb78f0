package imagecore

import (
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"testing"
)

func TestHalveYCbCrMatchesConvertThenAverage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, ratio := range []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	} {
		t.Run(ratio.String(), func(t *testing.T) {
			m := image.NewYCbCr(image.Rect(0, 0, 37, 23), ratio) // odd sides exercise the edges
			// Mid-range values keep the conversion away from clamping, where
			// averaging before and after converting differ.
			for i := range m.Y {
				m.Y[i] = uint8(64 + rng.IntN(128))
			}
			for i := range m.Cb {
				m.Cb[i], m.Cr[i] = uint8(100+rng.IntN(56)), uint8(100+rng.IntN(56))
			}
			got := halveYCbCr(m)
			if got.Rect != image.Rect(0, 0, 19, 12) {
				t.Fatalf("bounds %v, want 19x12", got.Rect)
			}
			for y := 0; y < 12; y++ {
				for x := 0; x < 19; x++ {
					var sum [3]int
					for _, p := range []image.Point{{2 * x, 2 * y}, {2*x + 1, 2 * y}, {2 * x, 2*y + 1}, {2*x + 1, 2*y + 1}} {
						p.X, p.Y = min(p.X, 36), min(p.Y, 22)
						c := color.RGBAModel.Convert(m.At(p.X, p.Y)).(color.RGBA)
						sum[0], sum[1], sum[2] = sum[0]+int(c.R), sum[1]+int(c.G), sum[2]+int(c.B)
					}
					g := got.RGBAAt(x, y)
					for k, v := range []uint8{g.R, g.G, g.B} {
						if abs(int(v)-(sum[k]+2)/4) > 2 || g.A != 0xFF {
							t.Fatalf("pixel %d,%d channel %d: %d, want about %d (alpha %d)", x, y, k, v, (sum[k]+2)/4, g.A)
						}
					}
				}
			}
		})
	}
}

func TestWeightsAreNormalisedAndInBounds(t *testing.T) {
	for _, tc := range []struct {
		dst       int
		off, size float64
		src       int
	}{
		{200, 0, 4000, 4000}, {480, 0, 1507, 1507}, {1, 0, 7, 7}, {7, 0, 8, 8},
		{100, 333.5, 1000.25, 2000}, {3, 0, 3, 3}, {50, 0, 51, 51}, {10, 0, 1, 1},
	} {
		t.Run(fmt.Sprintf("%d<-%v+%v/%d", tc.dst, tc.off, tc.size, tc.src), func(t *testing.T) {
			aw := weightsFor(tc.dst, tc.off, tc.size, tc.src)
			for v := 0; v < tc.dst; v++ {
				if aw.start[v] < 0 || aw.start[v]+aw.n > tc.src {
					t.Fatalf("sample %d reads [%d,%d) of %d", v, aw.start[v], aw.start[v]+aw.n, tc.src)
				}
				var sum int32
				for _, w := range aw.w[v*aw.n : (v+1)*aw.n] {
					sum += w
				}
				if sum != wOne {
					t.Fatalf("sample %d: weights sum to %d, want %d", v, sum, wOne)
				}
			}
		})
	}
}

func TestResampleKeepsFlatAreasAndAlphaEdges(t *testing.T) {
	flat := image.NewRGBA(image.Rect(0, 0, 97, 61))
	for i := 0; i < len(flat.Pix); i += 4 {
		flat.Pix[i], flat.Pix[i+1], flat.Pix[i+2], flat.Pix[i+3] = 10, 128, 250, 255
	}
	out := resample(flat, 0, 0, 97, 61, 31, 17, true)
	for i := 0; i < len(out.Pix); i += 4 {
		if c := out.Pix[i : i+4]; c[0] != 10 || c[1] != 128 || c[2] != 250 || c[3] != 255 {
			t.Fatalf("flat area became %v", c)
		}
	}
	// White on the left, fully transparent on the right. Premultiplied
	// filtering keeps the edge white: no dark fringe from the hidden pixels.
	edge := image.NewRGBA(image.Rect(0, 0, 64, 8))
	for y := 0; y < 8; y++ {
		for x := 0; x < 32; x++ {
			edge.SetRGBA(x, y, color.RGBA{255, 255, 255, 255})
		}
	}
	n := unpremultiply(resample(edge, 0, 0, 64, 8, 13, 3, false))
	for x := 0; x < 13; x++ {
		c := n.NRGBAAt(x, 1)
		if c.A > 8 && (c.R < 245 || c.G < 245 || c.B < 245) {
			t.Errorf("pixel %d is %v: a dark fringe at the transparent edge", x, c)
		}
	}
}

func BenchmarkResample(b *testing.B) {
	src := image.NewRGBA(image.Rect(0, 0, 3014, 1696))
	for i := range src.Pix {
		src.Pix[i] = uint8(i * 31 % 253)
	}
	for _, w := range []int{2048, 1024, 480} {
		h := w * 1696 / 3014
		b.Run(fmt.Sprint(w), func(b *testing.B) {
			loopCPU(b, func() { resample(src, 0, 0, 3014, 1696, w, h, true) })
		})
	}
}
