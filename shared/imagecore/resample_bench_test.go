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
