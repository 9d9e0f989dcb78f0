package imagecore

import (
	"context"
	"testing"
)

// BenchmarkVariantStage times the variants alone (levels, resampling,
// encoding) from a JPEG decoded once at the scale the variants allow: the
// part of Process that the cascade and the level choice decide, without the
// decoder's share of the noise.
func BenchmarkVariantStage(b *testing.B) {
	benchScaledJPEG(b, func(b *testing.B, e *Engine, info SourceInfo, data []byte, n []int) {
		d, err := newJPEGDecoder(data)
		if err != nil {
			b.Fatal(err)
		}
		planes, err := d.decode(context.Background(), n)
		if err != nil {
			b.Fatal(err)
		}
		loopCPU(b, func() {
			chains := make([]*chain, len(planes))
			for i, p := range planes {
				c := d.comps[i]
				s := float64(c.n) / 8
				chains[i] = newChain(p, float64(c.cw)/float64(d.w)*s, float64(c.ch)/float64(d.h)*s)
			}
			if _, err := renderPlanar(context.Background(), encodeHooks{}, info, chains, d.w, d.h, e.variants); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// benchScaledJPEG runs one benchmark per photo with the default primaries,
// handing it the photo and each component's decode scale (n of 8) as the
// engine would choose them.
func benchScaledJPEG(b *testing.B, run func(b *testing.B, e *Engine, info SourceInfo, data []byte, n []int)) {
	eachBenchPhoto(b, func(b *testing.B, e *Engine, info SourceInfo, data []byte) {
		d, err := newJPEGDecoder(data)
		if err != nil {
			b.Fatal(err)
		}
		n := jpegScales(info, d, e.variants)
		for i, k := range n {
			n[i] = 8 >> k
		}
		run(b, e, info, data, n)
	})
}
