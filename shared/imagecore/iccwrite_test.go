package imagecore

import (
	"bytes"
	"encoding/binary"
	"math"
	"unicode/utf16"
)

// A minimal ICC profile writer for test profiles whose every number is known
// (Display P3, ProPhoto, a gray gamma, the SWOP press table), so the tests do
// not depend on profiles with unclear licences.

type iccTag struct {
	sig  string
	data []byte
}

func s15(v float64) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(int32(math.Round(v*65536))))
}

func iccXYZ(x, y, z float64) []byte {
	b := append([]byte("XYZ \x00\x00\x00\x00"), s15(x)...)
	return append(append(b, s15(y)...), s15(z)...)
}

func iccGamma(g float64) []byte {
	b := append([]byte("curv\x00\x00\x00\x00"), 0, 0, 0, 1)
	return binary.BigEndian.AppendUint16(b, uint16(math.Round(g*256)))
}

func iccSampled(n int, f func(float64) float64) []byte {
	b := binary.BigEndian.AppendUint32([]byte("curv\x00\x00\x00\x00"), uint32(n))
	for i := range n {
		b = binary.BigEndian.AppendUint16(b, uint16(math.Round(min(max(f(float64(i)/float64(n-1)), 0), 1)*65535)))
	}
	return b
}

// iccPara writes a parametric curve of function type ft.
func iccPara(ft uint16, params ...float64) []byte {
	b := binary.BigEndian.AppendUint16([]byte("para\x00\x00\x00\x00"), ft)
	b = append(b, 0, 0)
	for _, p := range params {
		b = append(b, s15(p)...)
	}
	return b
}

func iccText(v4 bool, s string) []byte {
	if v4 {
		u := utf16.Encode([]rune(s))
		b := []byte("mluc\x00\x00\x00\x00")
		b = binary.BigEndian.AppendUint32(b, 1)
		b = binary.BigEndian.AppendUint32(b, 12)
		b = append(b, "enUS"...)
		b = binary.BigEndian.AppendUint32(b, uint32(2*len(u)))
		b = binary.BigEndian.AppendUint32(b, 28)
		for _, c := range u {
			b = binary.BigEndian.AppendUint16(b, c)
		}
		return b
	}
	b := []byte("desc\x00\x00\x00\x00")
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)+1))
	b = append(append(b, s...), 0)
	return append(b, make([]byte, 4+4+2+1+67)...)
}

func iccCopyright(v4 bool, s string) []byte {
	if v4 {
		return iccText(true, s)
	}
	return append(append([]byte("text\x00\x00\x00\x00"), s...), 0)
}

// writeICC lays out a profile: header, tag table, tag data on 4-byte bounds.
func writeICC(class, space, pcs string, v4 bool, tags []iccTag) []byte {
	var data bytes.Buffer
	offsets := make([]int, len(tags))
	base := 128 + 4 + 12*len(tags)
	for i, t := range tags {
		shared := false
		for j := range i { // identical tags share their data, as ICC allows
			if bytes.Equal(tags[j].data, t.data) {
				offsets[i], shared = offsets[j], true
				break
			}
		}
		if shared {
			continue
		}
		offsets[i] = base + data.Len()
		data.Write(t.data)
		for data.Len()%4 != 0 {
			data.WriteByte(0)
		}
	}
	h := make([]byte, 128)
	binary.BigEndian.PutUint32(h, uint32(base+data.Len()))
	if v4 {
		copy(h[8:], []byte{4, 0x30, 0, 0})
	} else {
		copy(h[8:], []byte{2, 0x10, 0, 0})
	}
	copy(h[12:], class)
	copy(h[16:], space)
	copy(h[20:], pcs)
	binary.BigEndian.PutUint16(h[24:], 2026)
	binary.BigEndian.PutUint16(h[26:], 1)
	binary.BigEndian.PutUint16(h[28:], 1)
	copy(h[36:], "acsp")
	copy(h[68:], iccXYZ(0.9642, 1, 0.8249)[8:])
	out := append(h, binary.BigEndian.AppendUint32(nil, uint32(len(tags)))...)
	for i, t := range tags {
		out = append(out, t.sig...)
		out = binary.BigEndian.AppendUint32(out, uint32(offsets[i]))
		out = binary.BigEndian.AppendUint32(out, uint32(len(t.data)))
	}
	return append(out, data.Bytes()...)
}

// matrixProfile writes an RGB matrix/TRC display profile for primaries p
// (colorants adapted to D50 with Bradford, as ICC requires) and one TRC.
func matrixProfile(name string, v4 bool, p chromaticities, trc []byte) []byte {
	m := mulM(bradford(p.wx, p.wy, 0.3457, 0.3585), rgbToXYZ(p))
	tags := []iccTag{
		{"desc", iccText(v4, name)},
		{"cprt", iccCopyright(v4, "No copyright, use freely")},
		{"wtpt", iccXYZ(0.9642, 1, 0.8249)},
		{"rXYZ", iccXYZ(m[0][0], m[1][0], m[2][0])},
		{"gXYZ", iccXYZ(m[0][1], m[1][1], m[2][1])},
		{"bXYZ", iccXYZ(m[0][2], m[1][2], m[2][2])},
		{"rTRC", trc}, {"gTRC", trc}, {"bTRC", trc},
	}
	if p.wx != 0.3457 {
		c := bradford(p.wx, p.wy, 0.3457, 0.3585)
		chad := []byte("sf32\x00\x00\x00\x00")
		for i := range 3 {
			for j := range 3 {
				chad = append(chad, s15(c[i][j])...)
			}
		}
		tags = append(tags, iccTag{"chad", chad})
	}
	return writeICC("mntr", "RGB ", "XYZ ", v4, tags)
}

func grayProfile(name string, gamma float64) []byte {
	return writeICC("mntr", "GRAY", "XYZ ", false, []iccTag{
		{"desc", iccText(false, name)},
		{"cprt", iccCopyright(false, "No copyright, use freely")},
		{"wtpt", iccXYZ(0.9642, 1, 0.8249)},
		{"kTRC", iccSampled(256, func(v float64) float64 { return math.Pow(v, gamma) })},
	})
}

// lut16 writes an lut16Type (mft2) with identity input and output tables
// and a grid of the given size sampled from f (inputs and outputs in [0,1],
// outputs already in the PCS's 16-bit encoding).
func lut16(in, out, grid int, f func(dev, pcs []float64)) []byte {
	b := []byte("mft2\x00\x00\x00\x00")
	b = append(b, byte(in), byte(out), byte(grid), 0)
	for i := range 3 {
		for j := range 3 {
			v := 0.0
			if i == j {
				v = 1
			}
			b = append(b, s15(v)...)
		}
	}
	b = binary.BigEndian.AppendUint16(b, 2)
	b = binary.BigEndian.AppendUint16(b, 2)
	for range in {
		b = append(b, 0, 0, 0xFF, 0xFF)
	}
	n := 1
	for range in {
		n *= grid
	}
	dev := make([]float64, in)
	pcs := make([]float64, out)
	for p := range n {
		q := p
		for c := in - 1; c >= 0; c-- {
			dev[c] = float64(q%grid) / float64(grid-1)
			q /= grid
		}
		f(dev, pcs)
		for _, v := range pcs {
			b = binary.BigEndian.AppendUint16(b, uint16(math.Round(min(max(v, 0), 1)*65535)))
		}
	}
	for range out {
		b = append(b, 0, 0, 0xFF, 0xFF)
	}
	return b
}

// labV2 encodes Lab in the legacy 16-bit PCS encoding lut16Type uses.
func labV2(lab [3]float64) [3]float64 {
	return [3]float64{lab[0] * 652.80 / 65535, (lab[1] + 128) * 256 / 65535, (lab[2] + 128) * 256 / 65535}
}

func labFromV2(v []float64) [3]float64 {
	return [3]float64{v[0] * 65535 / 652.80, v[1]*65535/256 - 128, v[2]*65535/256 - 128}
}

func xyzToLab(x [3]float64, white [3]float64) [3]float64 {
	f := func(t float64) float64 {
		if t > 216.0/24389 {
			return math.Cbrt(t)
		}
		return (24389.0/27*t + 16) / 116
	}
	fx, fy, fz := f(x[0]/white[0]), f(x[1]/white[1]), f(x[2]/white[2])
	return [3]float64{116*fy - 16, 500 * (fx - fy), 200 * (fy - fz)}
}

// swopRelativeLab is the SWOP model's media-relative Lab (paper white to
// D50), what a press profile's colorimetric table holds.
func swopRelativeLab(c, m, y, k float64) [3]float64 {
	paper := labToXYZ(swopLab(0, 0, 0, 0), whiteD50)
	x := labToXYZ(swopLab(c, m, y, k), whiteD50)
	for i := range 3 {
		x[i] *= whiteD50[i] / paper[i]
	}
	return xyzToLab(x, whiteD50)
}

// swopSeparate finds CMYK for a media-relative Lab colour: K from a simple
// grey-component rule on lightness, then C, M, Y by damped Gauss-Newton on
// the model, clipped to the press gamut (the closest colour it reaches).
func swopSeparate(lab [3]float64) [4]float64 {
	k := min(max((60-lab[0])/60, 0), 1)
	k = k * k * max(0, 1-math.Hypot(lab[1], lab[2])/80)
	x := [3]float64{0.3, 0.3, 0.3}
	for range 25 {
		f := swopRelativeLab(x[0], x[1], x[2], k)
		r := [3]float64{f[0] - lab[0], f[1] - lab[1], f[2] - lab[2]}
		var j mat3
		for c := range 3 {
			d := x
			d[c] = min(d[c]+1e-3, 1)
			if d[c] == x[c] {
				d[c] -= 2e-3
			}
			g := swopRelativeLab(d[0], d[1], d[2], k)
			for i := range 3 {
				j[i][c] = (g[i] - f[i]) / (d[c] - x[c])
			}
		}
		// Levenberg-Marquardt step: (JᵀJ + λI) dx = -Jᵀr
		var a mat3
		var g [3]float64
		for p := range 3 {
			for q := range 3 {
				for i := range 3 {
					a[p][q] += j[i][p] * j[i][q]
				}
			}
			a[p][p] += 1
			for i := range 3 {
				g[p] += j[i][p] * r[i]
			}
		}
		inv := invM(a)
		for p := range 3 {
			dx := -(inv[p][0]*g[0] + inv[p][1]*g[1] + inv[p][2]*g[2])
			x[p] = min(max(x[p]+dx, 0), 1)
		}
	}
	return [4]float64{x[0], x[1], x[2], k}
}

// swopProfile writes a CMYK output profile of the SWOP model: A2B0 on an
// 11-point grid, B2A0 on a 17-point Lab grid, the colorimetric A2B1 and
// B2A1 sharing their data, small enough to embed in test files.
func swopProfile() []byte {
	a2b := lut16(4, 3, 11, func(dev, pcs []float64) {
		l := labV2(swopRelativeLab(dev[0], dev[1], dev[2], dev[3]))
		copy(pcs, l[:])
	})
	b2a := lut16(3, 4, 17, func(pcs, dev []float64) {
		c := swopSeparate(labFromV2(pcs))
		copy(dev, c[:])
	})
	return writeICC("prtr", "CMYK", "Lab ", false, []iccTag{
		{"desc", iccText(false, "imagepipe test SWOP (TR 003 model)")},
		{"cprt", iccCopyright(false, "Characterization data: ANSI/CGATS/SWOP TR 003-2007")},
		{"wtpt", iccXYZ(0.9642, 1, 0.8249)},
		{"A2B0", a2b}, {"A2B1", a2b}, {"B2A0", b2a}, {"B2A1", b2a},
	})
}
