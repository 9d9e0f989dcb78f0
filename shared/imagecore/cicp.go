package imagecore

import (
	"crypto/sha256"
	"fmt"
	"math"
)

// CICP (ITU-T H.273) colour descriptions, as HEIF and AVIF 'nclx' boxes carry
// them, turned into the same lookup tables as ICC profiles: decode the
// transfer function, RGB to XYZ from the primaries, Bradford to D65 when the
// white differs, XYZ to linear sRGB, clip, sRGB encoding.

// chromaticities are the xy coordinates of the red, green and blue primaries
// and of the white point.
type chromaticities struct{ rx, ry, gx, gy, bx, by, wx, wy float64 }

var (
	whiteD65 = [2]float64{0.3127, 0.3290}
	primSRGB = chromaticities{0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290}
)

// cicpPrimaries are the H.273 colour primaries this engine converts.
var cicpPrimaries = map[uint16]chromaticities{
	1:  primSRGB,                                                   // BT.709, sRGB
	4:  {0.67, 0.33, 0.21, 0.71, 0.14, 0.08, 0.310, 0.316},         // BT.470 System M
	5:  {0.64, 0.33, 0.29, 0.60, 0.15, 0.06, 0.3127, 0.3290},       // BT.470 System B, G
	6:  {0.630, 0.340, 0.310, 0.595, 0.155, 0.070, 0.3127, 0.3290}, // SMPTE 170M
	7:  {0.630, 0.340, 0.310, 0.595, 0.155, 0.070, 0.3127, 0.3290}, // SMPTE 240M
	8:  {0.681, 0.319, 0.243, 0.692, 0.145, 0.049, 0.310, 0.316},   // generic film
	9:  {0.708, 0.292, 0.170, 0.797, 0.131, 0.046, 0.3127, 0.3290}, // BT.2020, BT.2100
	10: {1, 0, 0, 1, 0, 0, 1.0 / 3, 1.0 / 3},                       // SMPTE ST 428 (CIE XYZ)
	11: {0.680, 0.320, 0.265, 0.690, 0.150, 0.060, 0.314, 0.351},   // SMPTE RP 431 (DCI-P3)
	12: {0.680, 0.320, 0.265, 0.690, 0.150, 0.060, 0.3127, 0.3290}, // SMPTE EG 432 (Display P3)
	22: {0.630, 0.340, 0.295, 0.605, 0.155, 0.077, 0.3127, 0.3290}, // EBU Tech 3213
}

// cicpTransfer returns the decoding (signal to linear light, 1 = reference
// white) of an H.273 transfer characteristic.
func cicpTransfer(tc uint16) (func(float64) float64, bool) {
	switch tc {
	case 1, 6, 14, 15: // BT.709 family: the inverse of its camera curve
		return func(v float64) float64 {
			if v < 0.081 {
				return v / 4.5
			}
			return math.Pow((v+0.099)/1.099, 1/0.45)
		}, true
	case 4:
		return func(v float64) float64 { return math.Pow(v, 2.2) }, true
	case 5:
		return func(v float64) float64 { return math.Pow(v, 2.8) }, true
	case 8:
		return func(v float64) float64 { return v }, true
	case 13:
		return srgbDecode, true
	case 16: // PQ; 203 cd/m² (BT.2408 reference white) maps to 1, brighter clips
		return func(v float64) float64 {
			const m1, m2, c1, c2, c3 = 0.1593017578125, 78.84375, 0.8359375, 18.8515625, 18.6875
			p := math.Pow(v, 1/m2)
			y := math.Pow(max(p-c1, 0)/(c2-c3*p), 1/m1) // 1 = 10000 cd/m²
			return y * 10000 / 203
		}, true
	case 18: // HLG; its reference white (signal 0.75) maps to 1, brighter clips
		inv := func(v float64) float64 {
			const a, b, c = 0.17883277, 0.28466892, 0.55991073
			if v <= 0.5 {
				return v * v / 3
			}
			return (math.Exp((v-c)/a) + b) / 12
		}
		ref := inv(0.75)
		return func(v float64) float64 { return inv(v) / ref }, true
	}
	return nil, false
}

func srgbDecode(v float64) float64 {
	if v <= 0.04045 {
		return v / 12.92
	}
	return math.Pow((v+0.055)/1.055, 2.4)
}

func srgbEncode(v float64) float64 {
	v = min(max(v, 0), 1)
	if v <= 0.0031308 {
		return 12.92 * v
	}
	return 1.055*math.Pow(v, 1/2.4) - 0.055
}

// cicpTransform is the table for a CICP description, or nil when it is sRGB
// (or says nothing: code point 2 is "unspecified").
func cicpTransform(c cicp) (*colourTransform, error) {
	p, tc := c.Primaries, c.Transfer
	if p == 2 {
		p = 1
	}
	if tc == 2 {
		tc = 13
	}
	// BT.709 primaries with a BT.709-family or sRGB transfer is what sRGB
	// content is tagged with in practice; leave it as it is.
	if p == 1 && (tc == 13 || tc == 1 || tc == 6 || tc == 14 || tc == 15) {
		return nil, nil
	}
	prim, ok := cicpPrimaries[p]
	if !ok {
		return nil, fmt.Errorf("colour primaries %d are not supported", p)
	}
	decode, ok := cicpTransfer(tc)
	if !ok {
		return nil, fmt.Errorf("transfer characteristics %d are not supported", tc)
	}
	key := [32]byte{'c', 'i', 'c', 'p', byte(p >> 8), byte(p), byte(tc >> 8), byte(tc)}
	return transforms.get(key, func() (*colourTransform, error) {
		return rgbTransform(fmt.Sprintf("CICP %d/%d", p, tc), prim, decode), nil
	})
}

// rgbTransform bakes the table of an RGB space given by its primaries and
// the decoding of its transfer function.
func rgbTransform(name string, prim chromaticities, decode func(float64) float64) *colourTransform {
	m := mulM(xyzToLinearSRGB, mulM(bradford(prim.wx, prim.wy, whiteD65[0], whiteD65[1]), rgbToXYZ(prim)))
	return bakeTransform(name, 3, 3, gridRGB, func(dev, srgb []float64) {
		l := [3]float64{decode(dev[0]), decode(dev[1]), decode(dev[2])}
		for i := range 3 {
			srgb[i] = srgbEncode(m[i][0]*l[0] + m[i][1]*l[1] + m[i][2]*l[2])
		}
	})
}

type mat3 [3][3]float64

// xyzToLinearSRGB is IEC 61966-2-1's matrix (D65).
var xyzToLinearSRGB = mat3{
	{3.2404542, -1.5371385, -0.4985314},
	{-0.9692660, 1.8760108, 0.0415560},
	{0.0556434, -0.2040259, 1.0572252},
}

func mulM(a, b mat3) mat3 {
	var r mat3
	for i := range 3 {
		for j := range 3 {
			for k := range 3 {
				r[i][j] += a[i][k] * b[k][j]
			}
		}
	}
	return r
}

func invM(m mat3) mat3 {
	a, b, c := m[0][0], m[0][1], m[0][2]
	d, e, f := m[1][0], m[1][1], m[1][2]
	g, h, i := m[2][0], m[2][1], m[2][2]
	det := a*(e*i-f*h) - b*(d*i-f*g) + c*(d*h-e*g)
	return mat3{
		{(e*i - f*h) / det, (c*h - b*i) / det, (b*f - c*e) / det},
		{(f*g - d*i) / det, (a*i - c*g) / det, (c*d - a*f) / det},
		{(d*h - e*g) / det, (b*g - a*h) / det, (a*e - b*d) / det},
	}
}

func xyOf(x, y float64) [3]float64 { return [3]float64{x / y, 1, (1 - x - y) / y} }

// rgbToXYZ is the matrix from linear RGB to XYZ for the given primaries,
// scaled so that RGB (1,1,1) is the white with Y = 1.
func rgbToXYZ(p chromaticities) mat3 {
	r, g, b, w := xyOf(p.rx, p.ry), xyOf(p.gx, p.gy), xyOf(p.bx, p.by), xyOf(p.wx, p.wy)
	m := mat3{{r[0], g[0], b[0]}, {r[1], g[1], b[1]}, {r[2], g[2], b[2]}}
	inv := invM(m)
	var s [3]float64
	for i := range 3 {
		s[i] = inv[i][0]*w[0] + inv[i][1]*w[1] + inv[i][2]*w[2]
	}
	for i := range 3 {
		for j := range 3 {
			m[i][j] *= s[j]
		}
	}
	return m
}

// bradford adapts XYZ from white (sx, sy) to white (dx, dy).
func bradford(sx, sy, dx, dy float64) mat3 {
	if math.Abs(sx-dx) < 1e-6 && math.Abs(sy-dy) < 1e-6 {
		return mat3{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
	}
	ma := mat3{{0.8951, 0.2664, -0.1614}, {-0.7502, 1.7135, 0.0367}, {0.0389, -0.0685, 1.0296}}
	s, d := xyOf(sx, sy), xyOf(dx, dy)
	var cs, cd [3]float64
	for i := range 3 {
		cs[i] = ma[i][0]*s[0] + ma[i][1]*s[1] + ma[i][2]*s[2]
		cd[i] = ma[i][0]*d[0] + ma[i][1]*d[1] + ma[i][2]*d[2]
	}
	scale := mat3{{cd[0] / cs[0], 0, 0}, {0, cd[1] / cs[1], 0}, {0, 0, cd[2] / cs[2]}}
	return mulM(invM(ma), mulM(scale, ma))
}

// pngColour is a PNG's gAMA (the file gamma, 1/2.2 for sRGB-like data) and
// cHRM (sRGB's primaries when absent).
type pngColour struct {
	gamma float64
	prim  chromaticities
	chrm  bool
}

// transform is the table for pixels of ch channels, or nil when the
// description is sRGB within what encoders write for it (gamma 0.45-0.46,
// primaries within 0.01).
func (c pngColour) transform(ch int) *colourTransform {
	prim := primSRGB
	if c.chrm {
		prim = c.prim
	}
	// cHRM values that cannot be primaries make the chunk unusable.
	for _, v := range []float64{prim.rx, prim.ry, prim.gx, prim.gy, prim.bx, prim.by, prim.wx, prim.wy} {
		if v <= 0 || v >= 1 {
			prim = primSRGB
		}
	}
	near := func(a, b float64, tol float64) bool { return math.Abs(a-b) <= tol }
	srgbPrim := near(prim.rx, 0.64, 0.01) && near(prim.ry, 0.33, 0.01) && near(prim.gx, 0.30, 0.01) && near(prim.gy, 0.60, 0.01) &&
		near(prim.bx, 0.15, 0.01) && near(prim.by, 0.06, 0.01) && near(prim.wx, 0.3127, 0.01) && near(prim.wy, 0.3290, 0.01)
	if c.gamma < 0.01 || c.gamma > 10 || (near(c.gamma, 1/2.2, 0.005) && (srgbPrim || ch == 1)) {
		return nil
	}
	exp := 1 / c.gamma
	decode := func(v float64) float64 { return math.Pow(v, exp) }
	key := sha256.Sum256([]byte(fmt.Sprintf("png %d %v %v", ch, c.gamma, prim)))
	t, _ := transforms.get(key, func() (*colourTransform, error) {
		name := fmt.Sprintf("PNG gAMA %.5f", c.gamma)
		if ch == 1 {
			return bakeTransform(name, 1, 1, gridGray, func(dev, srgb []float64) { srgb[0] = srgbEncode(decode(dev[0])) }), nil
		}
		return rgbTransform(name, prim, decode), nil
	})
	return t
}
