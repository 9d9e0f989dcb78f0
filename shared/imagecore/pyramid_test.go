package imagecore

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math/rand/v2"
	"testing"
)

func TestPlaneHalving(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	p := plane{pix: make([]byte, 37*23), w: 37, h: 23, stride: 37}
	for i := range p.pix {
		p.pix[i] = uint8(rng.IntN(256))
	}
	at := func(x, y int) int { return int(p.pix[min(y, p.h-1)*p.stride+min(x, p.w-1)]) }
	tests := []struct {
		name   string
		got    plane
		w, h   int
		expect func(x, y int) int
	}{
		{"both", p.halve(), 19, 12, func(x, y int) int {
			return (at(2*x, 2*y) + at(2*x+1, 2*y) + at(2*x, 2*y+1) + at(2*x+1, 2*y+1) + 2) / 4
		}},
		{"across", p.halveX(), 19, 23, func(x, y int) int { return (at(2*x, y) + at(2*x+1, y) + 1) / 2 }},
		{"down", p.halveY(), 37, 12, func(x, y int) int { return (at(x, 2*y) + at(x, 2*y+1) + 1) / 2 }},
	}
	for _, tt := range tests {
		if tt.got.w != tt.w || tt.got.h != tt.h {
			t.Fatalf("%s: %dx%d, want %dx%d", tt.name, tt.got.w, tt.got.h, tt.w, tt.h)
		}
		for y := 0; y < tt.h; y++ {
			for x := 0; x < tt.w; x++ {
				if g, w := int(tt.got.row(y)[x]), tt.expect(x, y); g != w {
					t.Fatalf("%s: %d,%d is %d, want %d", tt.name, x, y, g, w)
				}
			}
		}
	}
}

// Every chroma layout image/jpeg can produce keeps its colour through the
// planar path, at full size (chroma upsampled) and shrunk.
func TestEverySubsampleRatio(t *testing.T) {
	want := color.YCbCr{Y: 120, Cb: 90, Cr: 170}
	for _, ratio := range []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	} {
		t.Run(ratio.String(), func(t *testing.T) {
			m := image.NewYCbCr(image.Rect(0, 0, 37, 23), ratio)
			for i := range m.Y {
				m.Y[i] = want.Y
			}
			for i := range m.Cb {
				m.Cb[i], m.Cr[i] = want.Cb, want.Cr
			}
			if _, ok := planarChains(m, 37, 23); !ok {
				t.Fatal("planar path refused the image")
			}
			outs, err := render(context.Background(), encodeHooks{}, SourceInfo{Format: SourceJPEG, Width: 37, Height: 23, Orientation: 1}, m, 37, 23,
				[]Variant{{Name: "full", Width: 100, Format: FormatPNG}, {Name: "small", Width: 9, Format: FormatPNG}})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range outs {
				img := decodeOutput(t, o)
				for y := 0; y < o.Height; y++ {
					for x := 0; x < o.Width; x++ {
						if c := img.At(x, y); !near(c, want, 2) {
							t.Fatalf("%s: pixel %d,%d is %v, want %v", o.Name, x, y, c, color.NRGBAModel.Convert(want))
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
	out := mustResample(t, flat, 0, 0, 97, 61, 31, 17, true)
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
	n := unpremultiply(mustResample(t, edge, 0, 0, 64, 8, 13, 3, false))
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
			loopCPU(b, func() { mustResample(b, src, 0, 0, 3014, 1696, w, h, true) })
		})
	}
}

func mustResample(t testing.TB, src *image.RGBA, ox, oy, lw, lh float64, w, h int, opaque bool) *image.RGBA {
	t.Helper()
	m, err := resample(context.Background(), src, ox, oy, lw, lh, w, h, opaque)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// toRGBA's row conversions give exactly what draw.Draw gives, for every
// type they take, whole images and GIF-style frames inside a larger screen.
func TestToRGBAMatchesDraw(t *testing.T) {
	seed := uint32(7)
	rnd := func() byte {
		seed = seed*1664525 + 1013904223
		return byte(seed >> 24)
	}
	fill := func(pix []byte) {
		for i := range pix {
			pix[i] = rnd()
		}
	}
	frame := image.Rect(3, 2, 40, 27)
	pal := color.Palette{color.NRGBA{1, 2, 3, 0}, color.NRGBA{200, 100, 50, 128}, color.RGBA{9, 8, 7, 255}, color.Gray{77}}
	mk := func(r image.Rectangle) []image.Image {
		p := image.NewPaletted(r, pal)
		for i := range p.Pix {
			p.Pix[i] = rnd() % uint8(len(pal))
		}
		n := image.NewNRGBA64(r)
		fill(n.Pix)
		for i := 6; i < len(n.Pix); i += 8 { // some fully opaque and fully transparent pixels
			switch i % 24 {
			case 6:
				n.Pix[i], n.Pix[i+1] = 0xff, 0xff
			case 14:
				n.Pix[i], n.Pix[i+1] = 0, 0
			}
		}
		r64 := image.NewRGBA64(r)
		fill(r64.Pix)
		g := image.NewGray16(r)
		fill(g.Pix)
		return []image.Image{p, n, r64, g}
	}
	for _, r := range []image.Rectangle{image.Rect(0, 0, 45, 31), frame} {
		for _, m := range mk(r) {
			want := image.NewRGBA(image.Rect(0, 0, 45, 31))
			draw.Draw(want, m.Bounds(), m, m.Bounds().Min, draw.Src)
			got, err := toRGBA(context.Background(), m, 45, 31)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Pix, want.Pix) {
				t.Errorf("%T in %v: toRGBA differs from draw.Draw", m, r)
			}
		}
	}
}
