package imagecore

import (
	"encoding/binary"
	"errors"
	"image"
	"math/bits"
	"slices"
)

// A baseline JPEG encoder for the planes the engine makes (Y, Cb, Cr at 4:2:0
// or 4:4:4, or gray). image/jpeg converts every 8x8 block from an image.Image
// back into YCbCr, divides every coefficient and emits bits one code at a
// time; here the planes go straight in, the AAN float DCT folds its scaling
// into the quantizer (one multiply per coefficient), each block is loaded,
// transformed and quantized in one pass (rows transformed as they are read,
// samples level-shifted by table lookup, columns quantized straight into
// zigzag order with their non-zero mask), zero runs are found from that mask,
// and bits leave through a 64-bit accumulator held in locals per block, into
// an output slice grown once per MCU. The tables and the
// quality scaling are the standard ones (ITU T.81 Annex K, libjpeg's
// quality formula), so sizes and quality match a libjpeg encoder at the same
// setting with its default Huffman tables.

// Annex K quantization tables, in natural (row-major) order.
var stdLumaQuant = [64]uint16{
	16, 11, 10, 16, 24, 40, 51, 61,
	12, 12, 14, 19, 26, 58, 60, 55,
	14, 13, 16, 24, 40, 57, 69, 56,
	14, 17, 22, 29, 51, 87, 80, 62,
	18, 22, 37, 56, 68, 109, 103, 77,
	24, 35, 55, 64, 81, 104, 113, 92,
	49, 64, 78, 87, 103, 121, 120, 101,
	72, 92, 95, 98, 112, 100, 103, 99,
}

var stdChromaQuant = [64]uint16{
	17, 18, 24, 47, 99, 99, 99, 99,
	18, 21, 26, 66, 99, 99, 99, 99,
	24, 26, 56, 99, 99, 99, 99, 99,
	47, 66, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99,
}

// Annex K Huffman tables: code counts per length 1-16, then the symbols.
var (
	dcLumaCounts   = [16]byte{0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0}
	dcLumaSyms     = []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	dcChromaCounts = [16]byte{0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0}
	dcChromaSyms   = []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	acLumaCounts   = [16]byte{0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d}
	acLumaSyms     = []byte{
		0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
		0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
		0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
		0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
		0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
		0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
		0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
		0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
		0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
		0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
		0xf9, 0xfa,
	}
	acChromaCounts = [16]byte{0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77}
	acChromaSyms   = []byte{
		0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
		0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
		0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
		0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
		0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
		0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
		0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
		0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
		0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
		0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
		0xf9, 0xfa,
	}
)

// huffCode is a symbol's code, right-aligned, and its length in bits.
type huffCode struct {
	code uint32
	n    uint8
}

type encHuff [256]huffCode

func buildEncHuff(counts [16]byte, syms []byte) *encHuff {
	var t encHuff
	code, k := uint32(0), 0
	for l := 1; l <= 16; l++ {
		for i := 0; i < int(counts[l-1]); i++ {
			t[syms[k]] = huffCode{code: code, n: uint8(l)}
			code++
			k++
		}
		code <<= 1
	}
	return &t
}

var (
	encDCLuma   = buildEncHuff(dcLumaCounts, dcLumaSyms)
	encDCChroma = buildEncHuff(dcChromaCounts, dcChromaSyms)
	encACLuma   = buildEncHuff(acLumaCounts, acLumaSyms)
	encACChroma = buildEncHuff(acChromaCounts, acChromaSyms)
)

// aanScale are the AAN DCT's output scale factors per frequency.
var aanScale = [8]float64{1, 1.387039845, 1.306562965, 1.175875602, 1, 0.785694958, 0.541196100, 0.275899379}

// quantTables scales the Annex K tables to quality 1-100 as libjpeg does.
func quantTables(quality int) (luma, chroma [64]uint16) {
	quality = min(max(quality, 1), 100)
	scale := 200 - 2*quality
	if quality < 50 {
		scale = 5000 / quality
	}
	for i := range luma {
		luma[i] = uint16(min(max((int(stdLumaQuant[i])*scale+50)/100, 1), 255))
		chroma[i] = uint16(min(max((int(stdChromaQuant[i])*scale+50)/100, 1), 255))
	}
	return luma, chroma
}

// divisors turns a quantization table into the multipliers that take the AAN
// DCT's scaled output straight to quantized values, in natural order.
func divisors(q *[64]uint16) (d [64]float32) {
	for i := range d {
		r, c := i/8, i%8
		d[i] = float32(1 / (float64(q[i]) * aanScale[r] * aanScale[c] * 8))
	}
	return d
}

// encZigzag[k] is the natural (row-major) index of the k-th coefficient in
// zigzag order (T.81 figure A.6); encUnzig is its inverse.
var encZigzag = [64]uint8{
	0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
}

var encUnzig = func() (u [64]uint8) {
	for k, i := range encZigzag {
		u[i] = uint8(k)
	}
	return u
}()

// levelShift[v] is sample v level-shifted as the DCT takes it: a table load
// instead of an int-to-float conversion per sample.
var levelShift = func() (t [256]float32) {
	for v := range t {
		t[v] = float32(int32(v) - 128)
	}
	return t
}()

// bitWriter packs codes into bytes with JPEG's 0xFF stuffing.
type bitWriter struct {
	out  []byte
	acc  uint64 // pending bits, right-aligned
	bits uint
}

// flush32 writes the oldest 32 of the nb pending bits of acc, stuffing a zero
// after every 0xFF byte. out must have room for 8 more bytes.
func flush32(out []byte, acc uint64, nb uint) ([]byte, uint) {
	nb -= 32
	v := uint32(acc >> nb)
	if hasFF(v) {
		return appendStuffed(out, v), nb
	}
	n := len(out)
	out = out[:n+4]
	binary.BigEndian.PutUint32(out[n:], v)
	return out, nb
}

func appendStuffed(out []byte, v uint32) []byte {
	for s := 24; s >= 0; s -= 8 {
		b := byte(v >> uint(s))
		out = append(out, b)
		if b == 0xFF {
			out = append(out, 0)
		}
	}
	return out
}

func hasFF(v uint32) bool {
	x := ^v // a 0xFF byte becomes 0x00
	return (x-0x01010101)&^x&0x80808080 != 0
}

// finish pads the last byte with ones, as T.81 asks.
func (w *bitWriter) finish() {
	for w.bits >= 8 {
		w.bits -= 8
		b := byte(w.acc >> w.bits)
		w.out = append(w.out, b)
		if b == 0xFF {
			w.out = append(w.out, 0)
		}
	}
	if w.bits > 0 {
		b := byte(w.acc<<(8-w.bits)) | byte(0xFF>>w.bits)
		w.out = append(w.out, b)
		if b == 0xFF {
			w.out = append(w.out, 0)
		}
		w.bits = 0
	}
}

type encComp struct {
	pix        []byte
	w, h       int
	stride     int
	hs, vs     int // sampling factors in the frame header
	div        *[64]float32
	dc, ac     *encHuff
	pred       int32
	tq, td, ta byte
}

// encodeJPEGPlanes writes a baseline JPEG of the gray m or the YCbCr m (4:4:4
// or 4:2:0) at quality 1-100.
func encodeJPEGPlanes(m image.Image, quality int, buf []byte) ([]byte, error) {
	lq, cq := quantTables(quality)
	ld, cd := divisors(&lq), divisors(&cq)
	var comps []*encComp
	var w, h int
	switch m := m.(type) {
	case *image.Gray:
		w, h = m.Rect.Dx(), m.Rect.Dy()
		comps = []*encComp{{pix: m.Pix[m.PixOffset(m.Rect.Min.X, m.Rect.Min.Y):], w: w, h: h, stride: m.Stride, hs: 1, vs: 1, div: &ld, dc: encDCLuma, ac: encACLuma}}
	case *image.YCbCr:
		w, h = m.Rect.Dx(), m.Rect.Dy()
		if m.Rect.Min != (image.Point{}) {
			return nil, errors.New("jpeg encoder: YCbCr image must start at the origin")
		}
		cw, ch := (w+1)/2, (h+1)/2
		cb, cr, cs := m.Cb, m.Cr, m.CStride
		switch m.SubsampleRatio {
		case image.YCbCrSubsampleRatio420:
		case image.YCbCrSubsampleRatio444:
			// Written 4:2:0 like every web JPEG (and image/jpeg): full-size
			// chroma is averaged 2x2 here (plane.halve), which is what small variants rely on.
			hb := plane{pix: m.Cb, w: w, h: h, stride: m.CStride}.halve()
			hr := plane{pix: m.Cr, w: w, h: h, stride: m.CStride}.halve()
			cb, cr, cs = hb.pix, hr.pix, hb.stride
		default:
			return nil, errors.New("jpeg encoder: only 4:4:4 and 4:2:0 YCbCr")
		}
		comps = []*encComp{
			{pix: m.Y, w: w, h: h, stride: m.YStride, hs: 2, vs: 2, div: &ld, dc: encDCLuma, ac: encACLuma},
			{pix: cb, w: cw, h: ch, stride: cs, hs: 1, vs: 1, div: &cd, dc: encDCChroma, ac: encACChroma, tq: 1, td: 1, ta: 1},
			{pix: cr, w: cw, h: ch, stride: cs, hs: 1, vs: 1, div: &cd, dc: encDCChroma, ac: encACChroma, tq: 1, td: 1, ta: 1},
		}
	default:
		return nil, errors.New("jpeg encoder: want *image.Gray or *image.YCbCr")
	}
	if w <= 0 || h <= 0 || w > 65535 || h > 65535 {
		return nil, errors.New("jpeg encoder: image size out of range")
	}
	out := buf[:0]
	out = append(out, 0xFF, 0xD8) // SOI
	out = appendDQT(out, 0, &lq)
	if len(comps) > 1 {
		out = appendDQT(out, 1, &cq)
	}
	// SOF0
	out = append(out, 0xFF, 0xC0, 0, byte(8+3*len(comps)), 8, byte(h>>8), byte(h), byte(w>>8), byte(w), byte(len(comps)))
	for i, c := range comps {
		out = append(out, byte(i+1), byte(c.hs<<4|c.vs), c.tq)
	}
	out = appendDHT(out, 0x00, &dcLumaCounts, dcLumaSyms)
	out = appendDHT(out, 0x10, &acLumaCounts, acLumaSyms)
	if len(comps) > 1 {
		out = appendDHT(out, 0x01, &dcChromaCounts, dcChromaSyms)
		out = appendDHT(out, 0x11, &acChromaCounts, acChromaSyms)
	}
	// SOS
	out = append(out, 0xFF, 0xDA, 0, byte(6+2*len(comps)), byte(len(comps)))
	for i, c := range comps {
		out = append(out, byte(i+1), c.td<<4|c.ta)
	}
	out = append(out, 0, 63, 0)

	bw := bitWriter{out: out}
	mcuW, mcuH := 8*comps[0].hs, 8*comps[0].vs
	var q [64]int32
	for my := 0; my < (h+mcuH-1)/mcuH; my++ {
		for mx := 0; mx < (w+mcuW-1)/mcuW; mx++ {
			// An MCU of 6 blocks writes at most 6*(2+64*27/8)*2 bytes with
			// stuffing: make room once, so flushes never grow the slice.
			bw.out = slices.Grow(bw.out, 4096)
			for _, c := range comps {
				for by := 0; by < c.vs; by++ {
					for bx := 0; bx < c.hs; bx++ {
						nz := transformBlock(&q, c, (mx*c.hs+bx)*8, (my*c.vs+by)*8)
						encodeBlock(&bw, &q, nz, c)
					}
				}
			}
		}
	}
	bw.finish()
	return append(bw.out, 0xFF, 0xD9), nil
}

// transformBlock loads the 8x8 block at (x0, y0) of c (past the edge the last
// row and column repeat, which costs the fewest bits), runs the row DCTs as
// the rows arrive, then each column DCT straight into quantization (both
// are the tests' fdct8, written out: Go does not inline it). q gets the
// quantized coefficients in zigzag order, and the result has bit k set when
// q[k] is not zero. The arithmetic is exactly fdctAAN's followed by one
// multiply and a round per coefficient (TestTransformBlockMatchesSteps).
func transformBlock(q *[64]int32, c *encComp, x0, y0 int) (nz uint64) {
	var b [64]float32
	lut := &levelShift
	for y := 0; y < 8; y++ {
		sy := min(y0+y, c.h-1)
		row := c.pix[sy*c.stride : sy*c.stride+c.w]
		var r *[8]byte
		if x0+8 <= len(row) {
			r = (*[8]byte)(row[x0:])
		} else {
			var edge [8]byte
			for x := range edge {
				edge[x] = row[min(x0+x, len(row)-1)]
			}
			r = &edge
		}
		p := (*[8]float32)(b[y*8:])
		d0, d1, d2, d3, d4, d5, d6, d7 := lut[r[0]], lut[r[1]], lut[r[2]], lut[r[3]], lut[r[4]], lut[r[5]], lut[r[6]], lut[r[7]]
		tmp0, tmp7 := d0+d7, d0-d7
		tmp1, tmp6 := d1+d6, d1-d6
		tmp2, tmp5 := d2+d5, d2-d5
		tmp3, tmp4 := d3+d4, d3-d4
		tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
		tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2
		o0 := tmp10 + tmp11
		o4 := tmp10 - tmp11
		z1 := (tmp12 + tmp13) * 0.707106781
		o2 := tmp13 + z1
		o6 := tmp13 - z1
		tmp10 = tmp4 + tmp5
		tmp11 = tmp5 + tmp6
		tmp12 = tmp6 + tmp7
		z5 := (tmp10 - tmp12) * 0.382683433
		z2 := float32(0.541196100*tmp10) + z5 // float32(): no fused multiply-add on arm64, so both builds agree
		z4 := float32(1.306562965*tmp12) + z5
		z3 := tmp11 * 0.707106781
		z11, z13 := tmp7+z3, tmp7-z3
		o5 := z13 + z2
		o3 := z13 - z2
		o1 := z11 + z4
		o7 := z11 - z4
		p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7] = o0, o1, o2, o3, o4, o5, o6, o7
	}
	div := c.div
	for x := 0; x < 8; x++ {
		p := (*[57]float32)(b[x:])
		d := (*[57]float32)(div[x:])
		u := (*[57]uint8)(encUnzig[x:])
		d0, d1, d2, d3, d4, d5, d6, d7 := p[0], p[8], p[16], p[24], p[32], p[40], p[48], p[56]
		tmp0, tmp7 := d0+d7, d0-d7
		tmp1, tmp6 := d1+d6, d1-d6
		tmp2, tmp5 := d2+d5, d2-d5
		tmp3, tmp4 := d3+d4, d3-d4
		tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
		tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2
		o0 := tmp10 + tmp11
		o4 := tmp10 - tmp11
		z1 := (tmp12 + tmp13) * 0.707106781
		o2 := tmp13 + z1
		o6 := tmp13 - z1
		tmp10 = tmp4 + tmp5
		tmp11 = tmp5 + tmp6
		tmp12 = tmp6 + tmp7
		z5 := (tmp10 - tmp12) * 0.382683433
		z2 := float32(0.541196100*tmp10) + z5 // float32(): no fused multiply-add on arm64, so both builds agree
		z4 := float32(1.306562965*tmp12) + z5
		z3 := tmp11 * 0.707106781
		z11, z13 := tmp7+z3, tmp7-z3
		o5 := z13 + z2
		o3 := z13 - z2
		o1 := z11 + z4
		o7 := z11 - z4
		nz |= quantize(q, o0, d[0], u[0]) | quantize(q, o1, d[8], u[8]) |
			quantize(q, o2, d[16], u[16]) | quantize(q, o3, d[24], u[24]) |
			quantize(q, o4, d[32], u[32]) | quantize(q, o5, d[40], u[40]) |
			quantize(q, o6, d[48], u[48]) | quantize(q, o7, d[56], u[56])
	}
	return nz
}

// quantize stores coefficient v times its divisor d, rounded, as zigzag
// coefficient k of q, and returns k's bit if the result is not zero.
func quantize(q *[64]int32, v, d float32, k uint8) uint64 {
	// Rounds to nearest without a branch: coefficients are far above -rndBias.
	qv := int32(float32(v*d)+(rndBias+0.5)) - rndBias // float32(): never fused (arm64 would round differently)
	k &= 63
	q[k] = qv
	return uint64((uint32(qv)|uint32(-qv))>>31) << k
}

// encodeBlock writes the Huffman codes of a quantized block (zigzag order,
// nz its non-zero mask).
func encodeBlock(w *bitWriter, q *[64]int32, nz uint64, c *encComp) {
	diff := q[0] - c.pred
	c.pred = q[0]
	acc, nb := w.acc, w.bits
	out := w.out
	code, n := valueCode(c.dc, 0, diff)
	acc, nb = acc<<n|uint64(code), nb+n
	nz &^= 1
	k := 1
	ac := c.ac
	for nz != 0 {
		next := bits.TrailingZeros64(nz)
		run := next - k
		for run > 15 {
			hc := ac[0xF0]
			acc, nb = acc<<hc.n|uint64(hc.code), nb+uint(hc.n)
			run -= 16
			if nb >= 32 {
				out, nb = flush32(out, acc, nb)
			}
		}
		if nb >= 32 {
			out, nb = flush32(out, acc, nb)
		}
		code, n := valueCode(ac, byte(run<<4), q[next&63])
		acc, nb = acc<<n|uint64(code), nb+n
		nz &= nz - 1
		k = next + 1
	}
	if nb >= 32 {
		out, nb = flush32(out, acc, nb)
	}
	if k < 64 {
		hc := ac[0x00] // EOB
		acc, nb = acc<<hc.n|uint64(hc.code), nb+uint(hc.n)
		if nb >= 32 {
			out, nb = flush32(out, acc, nb)
		}
	}
	w.out, w.acc, w.bits = out, acc, nb
}

// rndBias shifts quantized values positive so float-to-int truncation rounds.
const rndBias = 1 << 15

// valueCode is the code for (run<<4 | size) followed by the value's size
// bits, and its length (at most 16+11 bits).
func valueCode(t *encHuff, run byte, v int32) (uint32, uint) {
	m := v >> 31 // -1 for negative values
	a := (v ^ m) - m
	s := uint(bits.Len32(uint32(a)))
	hc := t[run|byte(s)]
	return hc.code<<s | uint32(v+m)&(1<<s-1), uint(hc.n) + s
}

func appendDQT(out []byte, id byte, q *[64]uint16) []byte {
	out = append(out, 0xFF, 0xDB, 0, 67, id)
	for k := 0; k < 64; k++ {
		out = append(out, byte(q[zigzag[k]]))
	}
	return out
}

func appendDHT(out []byte, class byte, counts *[16]byte, syms []byte) []byte {
	n := 2 + 1 + 16 + len(syms)
	out = append(out, 0xFF, 0xC4, byte(n>>8), byte(n), class)
	out = append(out, counts[:]...)
	return append(out, syms...)
}
