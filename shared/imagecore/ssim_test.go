package imagecore

import (
	"image"
	"math"
)

// ssim is the mean structural similarity (Wang et al. 2004) of b against a
// on luma (BT.601 weights), over 8x8 windows stepped by 4, with the usual
// constants for 8-bit samples. 1 is identical.
func ssim(a, b image.Image) float64 {
	ya, yb := luma(a), luma(b)
	w, h := a.Bounds().Dx(), a.Bounds().Dy()
	const c1, c2 = (0.01 * 255) * (0.01 * 255), (0.03 * 255) * (0.03 * 255)
	var sum float64
	n := 0
	for y := 0; y+8 <= h; y += 4 {
		for x := 0; x+8 <= w; x += 4 {
			var ma, mb, va, vb, cov float64
			for j := y; j < y+8; j++ {
				for i := x; i < x+8; i++ {
					ma += ya[j*w+i]
					mb += yb[j*w+i]
				}
			}
			ma /= 64
			mb /= 64
			for j := y; j < y+8; j++ {
				for i := x; i < x+8; i++ {
					da, db := ya[j*w+i]-ma, yb[j*w+i]-mb
					va += da * da
					vb += db * db
					cov += da * db
				}
			}
			va /= 63
			vb /= 63
			cov /= 63
			sum += ((2*ma*mb + c1) * (2*cov + c2)) / ((ma*ma + mb*mb + c1) * (va + vb + c2))
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
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
