package imagecore

import (
	"context"
	"math/rand"
	"testing"
)

// The resampler's hot paths alone, at the sizes the default variants meet on a
// 20 MP photo decoded at half scale.
func BenchmarkResamplePlane(b *testing.B) {
	cases := []struct {
		name         string
		sw, sh, w, h int
	}{
		{"large-1.47x", 3014, 1696, 2048, 1152},
		{"medium-1.47x", 1507, 848, 1024, 576},
		{"small-3.1x", 1507, 848, 480, 270},
	}
	for _, c := range cases {
		src := plane{pix: make([]byte, c.sw*c.sh), w: c.sw, h: c.sh, stride: c.sw}
		rng := rand.New(rand.NewSource(1))
		for i := range src.pix {
			src.pix[i] = byte(rng.Intn(256))
		}
		pj := planeJob{src: src, lw: float64(c.sw), lh: float64(c.sh), w: c.w, h: c.h}
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(c.sw * c.sh))
			loopCPU(b, func() { _, _ = resamplePlane(context.Background(), pj) })
		})
	}
}

// The two passes on their own, at the default variants' common tap counts
// (7-9 taps for the large and medium outputs, 19-34 for the small ones).
func BenchmarkResamplePasses(b *testing.B) {
	cases := []struct {
		name         string
		sw, sh, w, h int
	}{
		{"large-1.47x", 3014, 1696, 2048, 1152},
		{"large-1.03x", 2112, 1584, 2048, 1536},
		{"small-5.5x", 2656, 1494, 480, 270},
	}
	for _, c := range cases {
		src := photoLikePlane(c.sw, c.sh)
		hw := weightsFor(c.w, 0, float64(c.sw), c.sw)
		vw := weightsFor(c.h, 0, float64(c.sh), c.sh)
		x0 := hw.start[0]
		cols := hw.start[c.w-1] + hw.n - x0
		tmp := make([]byte, c.h*cols)
		out := make([]byte, c.w*c.h)
		b.Run("vertical-"+c.name, func(b *testing.B) {
			loopCPU(b, func() { _ = verticalSWAR(context.Background(), src, x0, cols, vw, tmp) })
		})
		b.Run("horizontal-"+c.name, func(b *testing.B) {
			loopCPU(b, func() { horizontalSWAR(tmp, cols, x0, hw, out, c.w, c.h) })
		})
	}
}

// photoLikePlane is smooth content with a little noise, like a photo's: the
// filters rarely clamp, as on real images (uniform noise clamps at every
// other sample and measures branch misprediction instead).
func photoLikePlane(w, h int) plane {
	const cell = 16
	rng := rand.New(rand.NewSource(1))
	gw, gh := w/cell+2, h/cell+2
	grid := make([]float64, gw*gh)
	for i := range grid {
		grid[i] = 16 + 224*rng.Float64()
	}
	p := plane{pix: make([]byte, w*h), w: w, h: h, stride: w}
	for y := range h {
		gy, fy := y/cell, float64(y%cell)/cell
		for x := range w {
			gx, fx := x/cell, float64(x%cell)/cell
			v := (grid[gy*gw+gx]*(1-fx)+grid[gy*gw+gx+1]*fx)*(1-fy) +
				(grid[(gy+1)*gw+gx]*(1-fx)+grid[(gy+1)*gw+gx+1]*fx)*fy
			p.pix[y*w+x] = byte(min(max(v+float64(rng.Intn(13)-6), 0), 255))
		}
	}
	return p
}
