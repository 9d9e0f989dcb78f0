package imagecore

import (
	"context"
	"sort"
	"testing"
)

// BenchmarkVariantStage times the variants alone (levels, resampling,
// encoding) from a JPEG decoded once at the scale the variants allow: the
// part of Process that the cascade and the level choice decide, without the
// decoder's share of the noise.
func BenchmarkVariantStage(b *testing.B) {
	photos := qualityPhotos(&testing.T{})
	names := make([]string, 0, len(photos))
	for n := range photos {
		names = append(names, n)
	}
	sort.Strings(names)
	variants := primariesOnly(DefaultVariants())
	e, err := NewEngine(DefaultLimits(), variants)
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range names {
		data := photos[name]
		b.Run(name, func(b *testing.B) {
			info, err := e.CheckHeader(data)
			if err != nil {
				b.Fatal(err)
			}
			d, err := newJPEGDecoder(data)
			if err != nil {
				b.Fatal(err)
			}
			ks := jpegScales(info, d, variants)
			n := make([]int, len(ks))
			for i, k := range ks {
				n[i] = 8 >> k
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
				if _, err := renderPlanar(context.Background(), info, chains, d.w, d.h, variants); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}
