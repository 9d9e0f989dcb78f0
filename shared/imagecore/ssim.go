package imagecore

import (
	"image"
	"math"
)

// SSIM is the mean structural similarity (Wang et al. 2004) of b against a
// on luma (BT.601 weights): local means, variances and covariance under the
// standard 11x11 Gaussian window (sigma 1.5), constants for 8-bit samples,
// averaged over the positions where the window fits. 1 is identical; NaN when
// the sizes differ or are under the window. The engine never calls it: it is
// the fidelity figure of the tests and of imagepipe bench, exported for the latter.
func SSIM(a, b image.Image) float64 {
	w, h := a.Bounds().Dx(), a.Bounds().Dy()
	if w < 11 || h < 11 || b.Bounds().Dx() != w || b.Bounds().Dy() != h {
		return math.NaN()
	}
	ya, yb := luma(a), luma(b)
	prod := func(p, q []float64) []float64 {
		out := make([]float64, len(p))
		for i := range p {
			out[i] = p[i] * q[i]
		}
		return out
	}
	ma, mb := blur11(ya, w, h), blur11(yb, w, h)
	saa, sbb, sab := blur11(prod(ya, ya), w, h), blur11(prod(yb, yb), w, h), blur11(prod(ya, yb), w, h)
	const c1, c2 = (0.01 * 255) * (0.01 * 255), (0.03 * 255) * (0.03 * 255)
	var sum float64
	n := 0
	for y := 5; y < h-5; y++ {
		for x := 5; x < w-5; x++ {
			i := y*w + x
			va, vb, cov := saa[i]-ma[i]*ma[i], sbb[i]-mb[i]*mb[i], sab[i]-ma[i]*mb[i]
			sum += ((2*ma[i]*mb[i] + c1) * (2*cov + c2)) / ((ma[i]*ma[i] + mb[i]*mb[i] + c1) * (va + vb + c2))
			n++
		}
	}
	return sum / float64(n)
}

// blur11 is a separable 11-tap Gaussian (sigma 1.5); edges are left as they
// are, since only interior positions are read.
func blur11(p []float64, w, h int) []float64 {
	var k [11]float64
	var ks float64
	for i := range k {
		d := float64(i - 5)
		k[i] = math.Exp(-d * d / (2 * 1.5 * 1.5))
		ks += k[i]
	}
	for i := range k {
		k[i] /= ks
	}
	tmp := make([]float64, len(p))
	for y := 0; y < h; y++ {
		for x := 5; x < w-5; x++ {
			var s float64
			for i, kv := range k {
				s += kv * p[y*w+x+i-5]
			}
			tmp[y*w+x] = s
		}
	}
	out := make([]float64, len(p))
	for y := 5; y < h-5; y++ {
		for x := 5; x < w-5; x++ {
			var s float64
			for i, kv := range k {
				s += kv * tmp[(y+i-5)*w+x]
			}
			out[y*w+x] = s
		}
	}
	return out
}

func luma(m image.Image) []float64 {
	b := m.Bounds()
	out := make([]float64, b.Dx()*b.Dy())
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			r, g, bl, _ := m.At(b.Min.X+x, b.Min.Y+y).RGBA()
			out[y*b.Dx()+x] = (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bl)) / 257
		}
	}
	return out
}
