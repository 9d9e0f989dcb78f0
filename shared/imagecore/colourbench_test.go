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
			loopCPU(b, func() {
				if _, err := buildICCTransform(p); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// Applying a table to one megapixel (cpu-ms/op is per megapixel).
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
		loopCPU(b, func() { rgb.ycbcr(m) })
	})
	b.Run("cmyk", func(b *testing.B) {
		m := image.NewCMYK(image.Rect(0, 0, w, h))
		for i := range m.Pix {
			m.Pix[i] = byte(i * 7)
		}
		t := defaultCMYK()
		loopCPU(b, func() {
			if _, err := t.apply(m); err != nil {
				b.Fatal(err)
			}
		})
	})
}
