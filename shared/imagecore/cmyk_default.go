package imagecore

import (
	"math"
	"sync"
)

// CMYK without an embedded profile is read as SWOP (Grade 3 coated) press
// output, the usual assumption for untagged CMYK in North America: the CMY
// grids measured at six K levels in ANSI/CGATS/SWOP TR 003 (cmyk_tr003.go)
// are interpolated (trilinear in C, M, Y on each K slice, linear in K, all
// in CIELAB, as a profile's CLUT is), the press white is adapted to D50 and
// its black mapped to sRGB's (black-point compensation, as Photoshop's
// default CMYK to RGB conversion does), then D50 to D65 and sRGB.

// cmykSlice is a full CMY grid at one K level: lab holds L*, a*, b* for
// every (c, m, y) in levels, y varying fastest.
type cmykSlice struct {
	k      int
	levels []int
	lab    []float32
}

// at interpolates the slice at c, m, y in per cent.
func (s cmykSlice) at(c, m, y float64) [3]float64 {
	n := len(s.levels)
	ic, fc := segment(s.levels, c)
	im, fm := segment(s.levels, m)
	iy, fy := segment(s.levels, y)
	var out [3]float64
	for dc := range 2 {
		wc := fc
		if dc == 0 {
			wc = 1 - fc
		}
		for dm := range 2 {
			wm := fm
			if dm == 0 {
				wm = 1 - fm
			}
			for dy := range 2 {
				wy := fy
				if dy == 0 {
					wy = 1 - fy
				}
				w := wc * wm * wy
				if w == 0 {
					continue
				}
				o := (((ic+dc)*n+im+dm)*n + iy + dy) * 3
				for i := range 3 {
					out[i] += w * float64(s.lab[o+i])
				}
			}
		}
	}
	return out
}

// segment finds v in the increasing levels: index of the segment and the
// position in it.
func segment(levels []int, v float64) (int, float64) {
	for i := 0; i < len(levels)-2; i++ {
		if v < float64(levels[i+1]) {
			return i, max(v-float64(levels[i]), 0) / float64(levels[i+1]-levels[i])
		}
	}
	i := len(levels) - 2
	return i, min((v-float64(levels[i]))/float64(levels[i+1]-levels[i]), 1)
}

// swopLab is the press colour of CMYK given in [0,1] (1 = full ink).
func swopLab(c, m, y, k float64) [3]float64 {
	c, m, y, k = c*100, m*100, y*100, k*100
	ks := tr003Slices
	i := 0
	for i < len(ks)-2 && k >= float64(ks[i+1].k) {
		i++
	}
	f := min(max((k-float64(ks[i].k))/float64(ks[i+1].k-ks[i].k), 0), 1)
	a, b := ks[i].at(c, m, y), ks[i+1].at(c, m, y)
	return [3]float64{a[0] + f*(b[0]-a[0]), a[1] + f*(b[1]-a[1]), a[2] + f*(b[2]-a[2])}
}

var whiteD50 = [3]float64{0.9642, 1, 0.8249}

func labToXYZ(lab [3]float64, white [3]float64) [3]float64 {
	fy := (lab[0] + 16) / 116
	fx := fy + lab[1]/500
	fz := fy - lab[2]/200
	inv := func(t float64) float64 {
		if t > 6.0/29 {
			return t * t * t
		}
		return 3 * (6.0 / 29) * (6.0 / 29) * (t - 4.0/29)
	}
	return [3]float64{inv(fx) * white[0], inv(fy) * white[1], inv(fz) * white[2]}
}

var defaultCMYK = sync.OnceValue(func() *colourTransform {
	paper := labToXYZ(swopLab(0, 0, 0, 0), whiteD50)
	black := labToXYZ(swopLab(1, 1, 1, 1), whiteD50)
	// Paper to D50 (von Kries in XYZ, as ICC media-relative data is), then
	// black-point compensation: press black to 0, the white kept.
	var scale [3]float64
	for i := range 3 {
		scale[i] = whiteD50[i] / paper[i]
	}
	var bk [3]float64
	for i := range 3 {
		bk[i] = black[i] * scale[i]
	}
	d50ToSRGB := mulM(xyzToLinearSRGB, bradfordXYZ(whiteD50, [3]float64{0.95047, 1, 1.08883}))
	return bakeTransform("SWOP (TR 003) press default", 4, 3, gridCMYK, func(dev, srgb []float64) {
		x := labToXYZ(swopLab(dev[0], dev[1], dev[2], dev[3]), whiteD50)
		for i := range 3 {
			v := x[i] * scale[i]
			x[i] = (v - bk[i]) * whiteD50[i] / (whiteD50[i] - bk[i])
		}
		for i := range 3 {
			srgb[i] = srgbEncode(d50ToSRGB[i][0]*x[0] + d50ToSRGB[i][1]*x[1] + d50ToSRGB[i][2]*x[2])
		}
	})
})

// bradfordXYZ adapts XYZ from white s to white d, both given as XYZ.
func bradfordXYZ(s, d [3]float64) mat3 {
	sum := func(w [3]float64) (float64, float64) { t := w[0] + w[1] + w[2]; return w[0] / t, w[1] / t }
	sx, sy := sum(s)
	dx, dy := sum(d)
	if math.IsNaN(sx + dx) {
		return mat3{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
	}
	return bradford(sx, sy, dx, dy)
}
