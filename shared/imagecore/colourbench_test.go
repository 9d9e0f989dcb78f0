package imagecore

import (
	"image"
	"testing"
)

// Building a profile's table (once per profile; cached after).
func BenchmarkColourBuild(b *testing.B) {
	for _, name := range []string{"compatibleWithAdobeRGB1998.icc", "swop-tr003.icc", "gray-gamma22.icc"} {
		p := readColour(&testing.T{}, name)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := buildICCTransform(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Applying a table, per megapixel.
func BenchmarkColourApply(b *testing.B) {
	rgb, err := buildICCTransform(readColour(&testing.T{}, "compatibleWithAdobeRGB1998.icc"))
	if err != nil {
		b.Fatal(err)
	}
	const w, h = 1000, 1000
	b.Run("rgb-ycbcr420", func(b *testing.B) {
		m := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
		for i := range m.Y {
			m.Y[i] = byte(i)
		}
		for b.Loop() {
			rgb.ycbcr(m)
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/MP")
	})
	b.Run("cmyk", func(b *testing.B) {
		m := image.NewCMYK(image.Rect(0, 0, w, h))
		for i := range m.Pix {
			m.Pix[i] = byte(i * 7)
		}
		t := defaultCMYK()
		for b.Loop() {
			if _, err := t.apply(m); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/MP")
	})
}
