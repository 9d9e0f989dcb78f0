package imagecore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// A JPEG decoder (ITU T.81, Huffman coding, 8-bit, baseline and progressive)
// that reconstructs each component at 1, 1/2, 1/4 or 1/8 of its size in the
// DCT domain: an NxN inverse DCT of each block's lowest NxN coefficients, as
// libjpeg's scaled decoding does. Shrinking this way skips most of the IDCT,
// the plane memory and the first box steps of the pyramid. It produces only
// Y/Cb/Cr or gray planes; anything else (CMYK, RGB, arithmetic coding, 12-bit,
// lossless, unusual sampling) is found in the headers before the first scan,
// and the engine then uses image/jpeg. An error once scans are being decoded
// is final: the file is refused, never decoded a second time by image/jpeg.
// Four-component (Adobe CMYK and YCCK) files are decoded to their four
// planes; the engine's colour conversion turns them into Y'CbCr at the
// reduced size.
//
// Work is bounded per file (docs/hostile.md): the engine's walk of the
// markers (jpegwalk.go) refuses files with too many scans first; here an
// end-of-band run costs one step however many blocks it covers, a refinement
// run visits only blocks with non-zero coefficients, and d.work counts every
// step against a budget proportional to the frame's blocks and the file's
// bytes. The context is checked before each scan and each row of blocks.

var (
	errJPEGUnsupported = errors.New("jpeg: not handled by the scaled decoder")
	errJPEGShort       = errors.New("jpeg: entropy-coded data is truncated")
	errJPEGHuffman     = errors.New("jpeg: bad Huffman code")
	errJPEGTooComplex  = errors.New("jpeg: decoding would take more work than the file's size justifies")
)

func jpegErr(format string, args ...any) error {
	return fmt.Errorf("jpeg: "+format, args...)
}

// zigzag[i] is the natural (row-major) index of the i-th coefficient in
// zigzag order, built by walking the anti-diagonals.
var zigzag = func() [64]uint8 {
	var z [64]uint8
	i := 0
	for s := 0; s < 15; s++ {
		for d := 0; d <= s; d++ {
			r := d
			if s%2 == 0 {
				r = s - d
			}
			c := s - r
			if r < 8 && c < 8 {
				z[i] = uint8(r*8 + c)
				i++
			}
		}
	}
	return z
}()

const huffLookBits = 9

// huffTable decodes one Huffman table: codes up to huffLookBits long through
// a lookup table, longer ones through the canonical code limits (T.81 F.2.2.3).
type huffTable struct {
	lut [1 << huffLookBits]uint16 // (length << 8) | value; 0 for none
	// fast decodes, as an AC table, a code and its value bits together when
	// both fit in huffLookBits: value << 16 | run << 4 | total length; 0 for none.
	fast    [1 << huffLookBits]int32
	maxcode [17]int32 // largest code of each length, -1 if none
	valptr  [17]int32
	mincode [17]int32
	vals    [256]uint8
	set     bool
}

func (t *huffTable) build(counts []byte, vals []byte) error {
	*t = huffTable{}
	code, k := int32(0), int32(0)
	for l := 1; l <= 16; l++ {
		n := int32(counts[l-1])
		t.valptr[l], t.mincode[l] = k, code
		code += n
		k += n
		if code > 1<<l {
			return jpegErr("bad Huffman table")
		}
		t.maxcode[l] = -1
		if n > 0 {
			t.maxcode[l] = code - 1
		}
		code <<= 1
	}
	copy(t.vals[:], vals)
	for l := 1; l <= huffLookBits; l++ {
		for c := t.mincode[l]; c <= t.maxcode[l]; c++ {
			v := uint16(l)<<8 | uint16(t.vals[t.valptr[l]+c-t.mincode[l]])
			lo := int(c) << (huffLookBits - l)
			for j := lo; j < lo+1<<(huffLookBits-l); j++ {
				t.lut[j] = v
			}
		}
	}
	for j, e := range t.lut {
		l, rs := uint(e>>8), uint8(e)
		r, sz := uint(rs>>4), uint(rs&15)
		if l == 0 || sz == 0 || l+sz > huffLookBits {
			continue
		}
		v := int32(j>>(huffLookBits-l-sz)) & (1<<sz - 1)
		if v < 1<<sz>>1 {
			v += -1<<sz + 1
		}
		t.fast[j] = v<<16 | int32(r<<4) | int32(l+sz)
	}
	t.set = true
	return nil
}

type jpegComp struct {
	id, h, v, tq int
	cw, ch       int // size in samples at full scale
	bw, bh       int // blocks across and down, padded to whole MCUs
	n            int // output samples per block side: 8, 4, 2 or 1
	pix          []byte
	stride       int
	coef         []int16  // progressive: per block, the kept coefficients only (n x n, row-major)
	kept         int      // progressive: coefficients kept per block, n*n
	slot         [64]int8 // progressive: zigzag index -> place in a block's kept coefficients, or -1
	keepMask     uint64   // progressive: bit k set if zigzag coefficient k is kept
	nz           []uint64 // progressive: per block, bit k set if zigzag coefficient k is non-zero
	any          []uint64 // progressive: bit per block (index row*bw+col), set if any AC coefficient is non-zero
	pred         int32
	td, ta       int
}

type jpegDecoder struct {
	data []byte
	pos  int
	// Bit reader: acc holds nbits unread bits at its top. pad counts zero
	// bytes fed in place of data at a marker or past the end.
	acc   uint64
	nbits uint
	pad   int

	w, h        int
	progressive bool
	sof         bool
	comps       []jpegComp
	hmax, vmax  int
	mcux, mcuy  int
	qt          [4][64]uint16
	qset        [4]bool
	dc, ac      [4]huffTable
	ri          int
	eobrun      int32
	adobe       bool
	transform   int
	err         error // a bad Huffman code in the current block

	ctx context.Context
	// work counts decoding steps (blocks decoded, runs skipped, bitset words
	// read); decode refuses the file once it passes budget.
	work, budget int64
}

// newJPEGDecoder reads the markers up to the first scan and checks that the
// file is one this decoder handles. It allocates nothing from header fields.
func newJPEGDecoder(data []byte) (*jpegDecoder, error) {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return nil, jpegErr("missing SOI")
	}
	d := &jpegDecoder{data: data, pos: 2}
	for {
		m, seg, err := d.marker()
		if err != nil {
			return nil, err
		}
		if m == 0xDA { // SOS: leave it for decode
			d.pos -= len(seg) + 4
			break
		}
		if err := d.segment(m, seg); err != nil {
			return nil, err
		}
	}
	if !d.sof {
		return nil, jpegErr("no frame header before the first scan")
	}
	if len(d.comps) == 3 && d.adobe && d.transform == 0 {
		return nil, errJPEGUnsupported // RGB
	}
	if len(d.comps) == 3 && d.comps[0].id == 'R' && d.comps[1].id == 'G' && d.comps[2].id == 'B' {
		return nil, errJPEGUnsupported
	}
	if len(d.comps) == 4 && !d.adobe {
		return nil, errJPEGUnsupported // CMYK or YCCK cannot be told apart; image/jpeg refuses it too
	}
	return d, nil
}

// marker reads the next marker and, for markers with a length, its segment.
func (d *jpegDecoder) marker() (byte, []byte, error) {
	data := d.data
	var m byte
	for {
		// Bytes before a marker, and 0xFF 0x00, are extraneous data that
		// image/jpeg and libjpeg skip; so does this decoder.
		i := bytes.IndexByte(data[min(d.pos, len(data)):], 0xFF)
		if i < 0 {
			return 0, nil, jpegErr("unexpected end of data")
		}
		d.pos += i
		for d.pos+1 < len(data) && data[d.pos+1] == 0xFF { // fill bytes
			d.pos++
		}
		if d.pos+2 > len(data) {
			return 0, nil, jpegErr("unexpected end of data")
		}
		m = data[d.pos+1]
		d.pos += 2
		if m != 0x00 {
			break
		}
	}
	if m == 0xD8 || m == 0xD9 || (m >= 0xD0 && m <= 0xD7) || m == 0x01 {
		return m, nil, nil
	}
	if d.pos+2 > len(data) {
		return 0, nil, jpegErr("unexpected end of data")
	}
	n := int(data[d.pos])<<8 | int(data[d.pos+1])
	if n < 2 || d.pos+n > len(data) {
		return 0, nil, jpegErr("bad segment length")
	}
	seg := data[d.pos+2 : d.pos+n]
	d.pos += n
	return m, seg, nil
}

// segment handles a marker outside a scan.
func (d *jpegDecoder) segment(m byte, seg []byte) error {
	switch {
	case m == 0xC0 || m == 0xC1 || m == 0xC2:
		return d.frame(m == 0xC2, seg)
	case m == 0xC4:
		return d.huffman(seg)
	case m == 0xDB:
		return d.quant(seg)
	case m == 0xDD:
		if len(seg) != 2 {
			return jpegErr("bad DRI")
		}
		d.ri = int(seg[0])<<8 | int(seg[1])
		return nil
	case m == 0xEE:
		if len(seg) >= 12 && string(seg[:5]) == "Adobe" {
			d.adobe, d.transform = true, int(seg[11])
		}
		return nil
	case m >= 0xE0 && m <= 0xEF, m == 0xFE:
		return nil
	case m >= 0xC3 && m <= 0xCF: // other frame types, DAC, JPG
		return errJPEGUnsupported
	case m == 0xD8:
		return jpegErr("unexpected SOI")
	case m >= 0xD0 && m <= 0xD7:
		return jpegErr("restart marker outside a scan")
	}
	return errJPEGUnsupported // DNL, DHP, EXP, reserved
}

func (d *jpegDecoder) frame(progressive bool, seg []byte) error {
	if d.sof {
		return jpegErr("more than one frame header")
	}
	if len(seg) < 6 {
		return jpegErr("short frame header")
	}
	if seg[0] != 8 {
		return errJPEGUnsupported
	}
	d.h = int(seg[1])<<8 | int(seg[2])
	d.w = int(seg[3])<<8 | int(seg[4])
	nf := int(seg[5])
	if d.w == 0 || d.h == 0 {
		return errJPEGUnsupported // height from DNL
	}
	if nf != 1 && nf != 3 && nf != 4 { // 4: Adobe CMYK or YCCK, colour-converted by the engine
		return errJPEGUnsupported
	}
	if len(seg) != 6+3*nf {
		return jpegErr("bad frame header length")
	}
	d.comps = make([]jpegComp, nf)
	for i := range d.comps {
		c := &d.comps[i]
		c.id, c.h, c.v, c.tq = int(seg[6+3*i]), int(seg[7+3*i]>>4), int(seg[7+3*i]&15), int(seg[8+3*i])
		if c.tq > 3 || c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 {
			return jpegErr("bad component")
		}
		for j := 0; j < i; j++ {
			if d.comps[j].id == c.id {
				return jpegErr("duplicate component id")
			}
		}
	}
	if nf == 1 {
		// A lone component is coded block by block whatever its factors.
		d.comps[0].h, d.comps[0].v = 1, 1
	} else {
		y := d.comps[0]
		if y.h > 2 || y.v > 2 {
			return errJPEGUnsupported
		}
		for _, c := range d.comps[1:] {
			if c.h != 1 || c.v != 1 {
				return errJPEGUnsupported
			}
		}
	}
	d.hmax, d.vmax = d.comps[0].h, d.comps[0].v
	d.mcux = (d.w + 8*d.hmax - 1) / (8 * d.hmax)
	d.mcuy = (d.h + 8*d.vmax - 1) / (8 * d.vmax)
	for i := range d.comps {
		c := &d.comps[i]
		c.cw = (d.w*c.h + d.hmax - 1) / d.hmax
		c.ch = (d.h*c.v + d.vmax - 1) / d.vmax
		c.bw, c.bh = d.mcux*c.h, d.mcuy*c.v
	}
	d.progressive, d.sof = progressive, true
	return nil
}

func (d *jpegDecoder) huffman(seg []byte) error {
	for len(seg) > 0 {
		if len(seg) < 17 {
			return jpegErr("short Huffman table")
		}
		tc, th := seg[0]>>4, seg[0]&15
		if tc > 1 || th > 3 {
			return jpegErr("bad Huffman table class or id")
		}
		total := 0
		for _, n := range seg[1:17] {
			total += int(n)
		}
		if total > 256 || len(seg) < 17+total {
			return jpegErr("bad Huffman table length")
		}
		t := &d.dc[th]
		if tc == 1 {
			t = &d.ac[th]
		}
		if err := t.build(seg[1:17], seg[17:17+total]); err != nil {
			return err
		}
		seg = seg[17+total:]
	}
	return nil
}

func (d *jpegDecoder) quant(seg []byte) error {
	for len(seg) > 0 {
		pq, tq := seg[0]>>4, seg[0]&15
		if pq > 1 || tq > 3 {
			return jpegErr("bad quantization table")
		}
		size := 64 * (1 + int(pq))
		if len(seg) < 1+size {
			return jpegErr("short quantization table")
		}
		for k := 0; k < 64; k++ {
			v := uint16(seg[1+k])
			if pq == 1 {
				v = uint16(seg[1+2*k])<<8 | uint16(seg[2+2*k])
			}
			d.qt[tq][zigzag[k]] = v
		}
		d.qset[tq] = true
		seg = seg[1+size:]
	}
	return nil
}

// sizeAt is component i's plane size when each block gives n x n samples.
func (d *jpegDecoder) sizeAt(i, n int) (int, int) {
	c := d.comps[i]
	return (c.cw*n + 7) / 8, (c.ch*n + 7) / 8
}

// decode reads every scan, reconstructing component i at scale n[i]/8, and
// returns the planes. It stops with ctx's error once ctx is done, and with
// errJPEGTooComplex once its work passes the budget.
func (d *jpegDecoder) decode(ctx context.Context, n []int) ([]plane, error) {
	d.ctx = ctx
	var blocks int64
	for i := range d.comps {
		c := &d.comps[i]
		switch n[i] {
		case 1, 2, 4, 8:
		default:
			return nil, jpegErr("bad scale")
		}
		c.n = n[i]
		c.stride = c.bw * c.n
		c.pix = make([]byte, c.stride*c.bh*c.n)
		c.setKept()
		if d.progressive {
			// Only the coefficients the n x n inverse DCT reads are stored; the
			// others are decoded, and their non-zero bits kept in nz (the
			// refinement scans need them), but their values are dropped.
			c.coef = make([]int16, c.bw*c.bh*c.kept)
			c.nz = make([]uint64, c.bw*c.bh)
			c.any = make([]uint64, (c.bw*c.bh+63)/64)
		}
		blocks += int64(c.bw) * int64(c.bh)
	}
	if d.budget == 0 { // (tests set their own)
		// Twice what the engine's walk lets any file's scans cost, plus a
		// step per bit of input: a sane file never comes near it.
		d.budget = 2*(maxJPEGPasses*blocks+jpegPassFloor) + 8*int64(len(d.data))
	}
	for {
		m, seg, err := d.marker()
		if err != nil {
			return nil, err
		}
		if m == 0xD9 {
			break
		}
		switch {
		case m == 0xDA:
			if err := d.checkpoint(); err != nil {
				return nil, err
			}
			if err := d.scan(seg); err != nil {
				return nil, err
			}
			continue
		case m >= 0xD0 && m <= 0xD7:
			continue // a restart marker after a scan's last interval, which image/jpeg also ignores
		case m == 0xC0 || m == 0xC1 || m == 0xC2:
			return nil, jpegErr("more than one frame header")
		}
		if err := d.segment(m, seg); err != nil {
			if errors.Is(err, errJPEGUnsupported) { // too late to hand the file over: it is damaged
				return nil, jpegErr("unexpected marker 0x%02X between scans", m)
			}
			return nil, err
		}
	}
	if d.progressive {
		if err := d.reconstruct(); err != nil {
			return nil, err
		}
	}
	planes := make([]plane, len(d.comps))
	for i, c := range d.comps {
		w, h := d.sizeAt(i, c.n)
		planes[i] = plane{pix: c.pix, w: w, h: h, stride: c.stride}
	}
	return planes, nil
}

// checkpoint stops the decode when its work passes the budget or its
// context is done; it runs before each scan and each row of blocks.
func (d *jpegDecoder) checkpoint() error {
	if d.work > d.budget {
		return errJPEGTooComplex
	}
	if d.ctx != nil {
		return d.ctx.Err()
	}
	return nil
}

type scanParams struct {
	comps          []int
	ss, se, ah, al int
}

func (d *jpegDecoder) scan(seg []byte) error {
	if len(seg) < 1 {
		return jpegErr("short scan header")
	}
	ns := int(seg[0])
	if ns < 1 || ns > len(d.comps) || len(seg) != 4+2*ns {
		return jpegErr("bad scan header")
	}
	sp := scanParams{comps: make([]int, ns)}
	for i := 0; i < ns; i++ {
		id, tables := int(seg[1+2*i]), seg[2+2*i]
		ci := -1
		for j, c := range d.comps {
			if c.id == id {
				ci = j
			}
		}
		if ci < 0 {
			return jpegErr("scan names an unknown component")
		}
		for _, prev := range sp.comps[:i] {
			if prev == ci {
				return jpegErr("scan names a component twice")
			}
		}
		sp.comps[i] = ci
		c := &d.comps[ci]
		c.td, c.ta = int(tables>>4), int(tables&15)
		if c.td > 3 || c.ta > 3 {
			return jpegErr("bad Huffman table id")
		}
	}
	p := seg[1+2*ns:]
	sp.ss, sp.se, sp.ah, sp.al = int(p[0]), int(p[1]), int(p[2]>>4), int(p[2]&15)
	needDC, needAC := true, true
	if d.progressive {
		switch {
		case sp.ss == 0 && sp.se != 0, sp.ss > sp.se, sp.se > 63, sp.ss > 0 && ns != 1, sp.al > 13, sp.ah > 13:
			return jpegErr("bad progressive scan parameters")
		}
		needDC = sp.ss == 0 && sp.ah == 0
		needAC = sp.ss > 0
	} else {
		if sp.ss != 0 || sp.se != 63 || sp.ah != 0 || sp.al != 0 {
			return jpegErr("bad sequential scan parameters")
		}
		for _, ci := range sp.comps {
			if !d.qset[d.comps[ci].tq] {
				return jpegErr("missing quantization table")
			}
		}
	}
	for _, ci := range sp.comps {
		c := &d.comps[ci]
		if (needDC && !d.dc[c.td].set) || (needAC && !d.ac[c.ta].set) {
			return jpegErr("missing Huffman table")
		}
		c.pred = 0
	}
	return d.entropy(&sp)
}

// Bit reader. Bytes 0xFF 0x00 stand for 0xFF; at any other marker (or the
// end of the data) the reader feeds zero bytes and counts them, so a scan
// that reads into them is reported as truncated.
func (d *jpegDecoder) fill() {
	data := d.data
	// Fast path: eight bytes with no 0xFF among them (no marker, no stuffed
	// zero) go in at once, as many as fit.
	if d.pos+8 <= len(data) {
		w := binary.BigEndian.Uint64(data[d.pos:])
		if x := ^w; (x-0x0101010101010101)&^x&0x8080808080808080 == 0 {
			k := (64 - d.nbits) / 8
			d.acc |= (w >> (64 - 8*k)) << (64 - d.nbits - 8*k)
			d.pos += int(k)
			d.nbits += 8 * k
			return
		}
	}
	for d.nbits <= 56 {
		var b byte
		if d.pos < len(data) {
			b = data[d.pos]
			if b != 0xFF {
				d.pos++
			} else if d.pos+1 < len(data) && data[d.pos+1] == 0 {
				d.pos += 2
			} else {
				b = 0
				d.pad++
			}
		} else {
			d.pad++
		}
		d.acc |= uint64(b) << (56 - d.nbits)
		d.nbits += 8
	}
}

// overran reports whether the scan has used bits that were not in the data.
func (d *jpegDecoder) overran() bool { return uint(d.pad)*8 > d.nbits }

func (d *jpegDecoder) resetBits() { d.acc, d.nbits, d.pad = 0, 0, 0 }

// bits reads s <= 16 bits (s = 0 gives 0: a shift by 64 is 0 in Go).
func (d *jpegDecoder) bits(s int) int32 {
	if d.nbits < uint(s) {
		d.fill()
	}
	v := int32(d.acc >> (64 - uint(s)))
	d.acc <<= uint(s)
	d.nbits -= uint(s)
	return v
}

// receive reads s bits and extends them to a signed value (T.81 F.2.2.1).
func (d *jpegDecoder) receive(s int) int32 {
	v := d.bits(s)
	if v < 1<<uint(s)>>1 {
		v += -1<<uint(s) + 1
	}
	return v
}

// decodeHuff is the inlinable fast path: a code of up to huffLookBits
// bits with enough bits buffered.
// A bad code sets d.err and decodes as 0, which ends the block; callers
// check d.err after each block.
func (d *jpegDecoder) decodeHuff(t *huffTable) uint8 {
	e := t.lut[d.acc>>(64-huffLookBits)]
	if n := uint(e >> 8); n != 0 && n <= d.nbits { // the code is all in buffered bits
		d.acc <<= n
		d.nbits -= n
		return uint8(e)
	}
	return d.decodeHuffSlow(t)
}

func (d *jpegDecoder) decodeHuffSlow(t *huffTable) uint8 {
	if d.nbits < 16 {
		d.fill()
	}
	if e := t.lut[d.acc>>(64-huffLookBits)]; e != 0 {
		l := uint(e >> 8)
		d.acc <<= l
		d.nbits -= l
		return uint8(e)
	}
	for l := huffLookBits + 1; l <= 16; l++ {
		c := int32(d.acc >> (64 - uint(l)))
		if c <= t.maxcode[l] {
			d.acc <<= uint(l)
			d.nbits -= uint(l)
			return t.vals[(t.valptr[l]+c-t.mincode[l])&0xFF]
		}
	}
	d.err = errJPEGHuffman
	return 0
}

// restart expects RSTn after the bits of the previous interval.
func (d *jpegDecoder) restart(n int) error {
	if d.overran() {
		return errJPEGShort
	}
	d.resetBits()
	d.skipToMarker()
	if d.pos+2 > len(d.data) || d.data[d.pos+1] != byte(0xD0+n%8) {
		return jpegErr("missing restart marker")
	}
	d.pos += 2
	for i := range d.comps {
		d.comps[i].pred = 0
	}
	d.eobrun = 0
	return nil
}

// skipToMarker moves past any bytes left in the entropy-coded segment.
func (d *jpegDecoder) skipToMarker() {
	for d.pos+1 < len(d.data) && !(d.data[d.pos] == 0xFF && d.data[d.pos+1] != 0) {
		d.pos++
	}
	if d.pos+1 >= len(d.data) {
		d.pos = len(d.data)
	}
}

func (d *jpegDecoder) entropy(sp *scanParams) error {
	d.resetBits()
	d.eobrun = 0
	if d.progressive && sp.ss > 0 {
		return d.entropyAC(sp)
	}
	single := len(sp.comps) == 1
	mx, my := d.mcux, d.mcuy
	if single {
		c := d.comps[sp.comps[0]]
		mx, my = (c.cw+7)/8, (c.ch+7)/8
	}
	var blk [64]int32
	mcu, rst := 0, 0
	for y := 0; y < my; y++ {
		if err := d.checkpoint(); err != nil {
			return err
		}
		for x := 0; x < mx; x++ {
			if d.ri > 0 && mcu > 0 && mcu%d.ri == 0 {
				if err := d.restart(rst); err != nil {
					return err
				}
				rst++
			}
			mcu++
			for _, ci := range sp.comps {
				c := &d.comps[ci]
				bh, bv := c.h, c.v
				if single {
					bh, bv = 1, 1
				}
				d.work += int64(bh * bv)
				for by := 0; by < bv; by++ {
					for bx := 0; bx < bh; bx++ {
						col, row := x*bh+bx, y*bv+by
						var err error
						if !d.progressive {
							kb := blk[:c.kept]
							clear(kb)
							var ac bool
							if ac, err = d.baselineBlock(c, kb); err == nil {
								dst := c.pix[row*c.n*c.stride+col*c.n:]
								if ac {
									idct(kb, &d.qt[c.tq], c.n, dst, c.stride)
								} else {
									fillDC(kb[0], &d.qt[c.tq], c.n, dst, c.stride)
								}
							}
						} else {
							b := c.coef[(row*c.bw+col)*c.kept:]
							if sp.ah == 0 {
								err = d.dcFirst(c, b, sp.al)
							} else {
								b[0] |= int16(d.bits(1) << sp.al)
							}
						}
						if err == nil {
							err = d.err
						}
						if err != nil {
							return err
						}
					}
				}
			}
		}
		if d.overran() {
			return errJPEGShort
		}
	}
	d.skipToMarker()
	return nil
}

// entropyAC decodes a progressive AC scan: one component, its blocks in
// raster order. A block inside an end-of-band run is not visited one by one:
// the rest of an AC-first run is skipped in one step, and a refinement run
// visits only the blocks that have a non-zero coefficient (found 64 at a time
// in c.any), which are the blocks the run has correction bits for. A scan so
// costs what its bits and its non-zero blocks cost, not what it covers.
func (d *jpegDecoder) entropyAC(sp *scanParams) error {
	c := &d.comps[sp.comps[0]]
	mx := (c.cw + 7) / 8
	total := mx * ((c.ch + 7) / 8)
	refine := sp.ah != 0
	rst, rowEnd := 0, 0
	for i := 0; i < total; {
		if i >= rowEnd { // a new row of blocks
			if d.overran() {
				return errJPEGShort
			}
			if err := d.checkpoint(); err != nil {
				return err
			}
			rowEnd = (i/mx + 1) * mx
		}
		if d.ri > 0 && i > 0 && i%d.ri == 0 && rst < i/d.ri {
			if err := d.restart(rst); err != nil {
				return err
			}
			rst++
		}
		d.work++
		if d.eobrun > 0 {
			k := min(int(d.eobrun), total-i)
			if d.ri > 0 {
				k = min(k, d.ri-i%d.ri) // a run never crosses a restart
			}
			if refine {
				d.refineRun(c, sp, i, k, mx)
			}
			d.eobrun -= int32(k)
			i += k
			continue
		}
		bi := (i/mx)*c.bw + i%mx
		b := c.coef[bi*c.kept : (bi+1)*c.kept]
		var err error
		if refine {
			err = d.acRefine(c, b, &c.nz[bi], sp)
		} else {
			err = d.acFirst(c, b, &c.nz[bi], sp)
		}
		if err == nil {
			err = d.err
		}
		if err != nil {
			return err
		}
		if c.nz[bi] != 0 {
			c.any[bi>>6] |= 1 << uint(bi&63)
		}
		i++
	}
	if d.overran() {
		return errJPEGShort
	}
	d.skipToMarker()
	return nil
}

// refineRun applies an end-of-band run of a refinement scan to the k blocks
// from raster position i: each non-zero coefficient in the band takes a
// correction bit; blocks with none take nothing and are not visited.
func (d *jpegDecoder) refineRun(c *jpegComp, sp *scanParams, i, k, mx int) {
	for k > 0 {
		col := i % mx
		n := min(k, mx-col)
		lo := (i/mx)*c.bw + col
		hi := lo + n // exclusive
		for w := lo >> 6; w <= (hi-1)>>6; w++ {
			m := c.any[w]
			if w == lo>>6 {
				m &= ^uint64(0) << uint(lo&63)
			}
			if w == (hi-1)>>6 && hi&63 != 0 {
				m &= 1<<uint(hi&63) - 1
			}
			d.work++
			for ; m != 0; m &= m - 1 {
				bi := w<<6 + bits.TrailingZeros64(m)
				d.refineNonZero(c, c.coef[bi*c.kept:(bi+1)*c.kept], c.nz[bi], sp.ss, sp.se+1, sp)
				d.work++
			}
		}
		i += n
		k -= n
	}
}

func (d *jpegDecoder) baselineBlock(c *jpegComp, blk []int32) (ac bool, err error) {
	// The bit buffer lives in locals for the whole block (registers, not
	// loads and stores through d); it goes back to d around every call out.
	acc, nbits := d.acc, d.nbits
	if nbits < 32 {
		d.fill()
		acc, nbits = d.acc, d.nbits
	}
	dc := &d.dc[c.td]
	var s uint
	if e := dc.lut[acc>>(64-huffLookBits)]; e>>8 != 0 {
		n := uint(e >> 8)
		acc <<= n
		nbits -= n
		s = uint(uint8(e))
	} else {
		d.acc, d.nbits = acc, nbits
		s = uint(d.decodeHuffSlow(dc))
		acc, nbits = d.acc, d.nbits
	}
	if s > 16 {
		d.acc, d.nbits = acc, nbits
		return false, jpegErr("bad DC size")
	}
	if s > 0 {
		if nbits < s {
			d.acc, d.nbits = acc, nbits
			d.fill()
			acc, nbits = d.acc, d.nbits
		}
		v := int32(acc >> (64 - s))
		acc <<= s
		nbits -= s
		if v < 1<<s>>1 {
			v += -1<<s + 1
		}
		c.pred += v
	}
	blk[0] = c.pred
	t := &d.ac[c.ta]
	for k := 1; k < 64; {
		if nbits < 32 { // room for the longest code and its value bits
			d.acc, d.nbits = acc, nbits
			d.fill()
			acc, nbits = d.acc, d.nbits
		}
		if f := t.fast[acc>>(64-huffLookBits)]; f != 0 { // a short code and its value
			n := uint(f & 15)
			acc <<= n
			nbits -= n
			k += int(f >> 4 & 15)
			if k > 63 {
				d.acc, d.nbits = acc, nbits
				return false, jpegErr("too many coefficients")
			}
			if i := c.slot[k]; i >= 0 {
				blk[i] = f >> 16
				ac = true
			}
			k++
			continue
		}
		var rs uint8
		if e := t.lut[acc>>(64-huffLookBits)]; e>>8 != 0 {
			n := uint(e >> 8)
			acc <<= n
			nbits -= n
			rs = uint8(e)
		} else {
			d.acc, d.nbits = acc, nbits
			rs = d.decodeHuffSlow(t)
			acc, nbits = d.acc, d.nbits
		}
		r, s := int(rs>>4), uint(rs&15)
		if s == 0 {
			if r != 15 {
				break
			}
			k += 16
			continue
		}
		k += r
		if k > 63 {
			d.acc, d.nbits = acc, nbits
			return false, jpegErr("too many coefficients")
		}
		v := int32(acc >> (64 - s)) // at least 16 bits remain after a code
		acc <<= s
		nbits -= s
		if v < 1<<s>>1 {
			v += -1<<s + 1
		}
		if i := c.slot[k]; i >= 0 { // the others are never read
			blk[i] = v
			ac = true
		}
		k++
	}
	d.acc, d.nbits = acc, nbits
	return ac, nil
}

func (d *jpegDecoder) dcFirst(c *jpegComp, b []int16, al int) error {
	s := d.decodeHuff(&d.dc[c.td])
	if s > 16 {
		return jpegErr("bad DC size")
	}
	c.pred += d.receive(int(s))
	b[0] = int16(c.pred << al)
	return nil
}

// setKept chooses which coefficients of each block a progressive decode
// stores: the n x n at the top left, the only ones the scaled inverse DCT
// reads (at half scale 16 of 64, a quarter of the memory).
func (c *jpegComp) setKept() {
	c.kept = c.n * c.n
	c.keepMask = 0
	for k := range 64 {
		z := int(zigzag[k])
		u, v := z%8, z/8
		c.slot[k] = -1
		if u < c.n && v < c.n {
			c.slot[k] = int8(v*c.n + u)
			c.keepMask |= 1 << uint(k)
		}
	}
}

// bandMask has bits lo..hi set (0 <= lo <= hi <= 63).
func bandMask(lo, hi int) uint64 {
	return ^uint64(0) >> uint(63-hi) >> uint(lo) << uint(lo)
}

// acFirst decodes a block of an AC first scan; it is entered outside a run.
// An end-of-band ends the block and starts a run of d.eobrun more blocks.
// Every coefficient is decoded; only the kept ones are stored.
func (d *jpegDecoder) acFirst(c *jpegComp, b []int16, nz *uint64, sp *scanParams) error {
	t := &d.ac[c.ta]
	al := uint(sp.al)
	mask := *nz
	acc, nbits := d.acc, d.nbits
	var err error
	for k := sp.ss; k <= sp.se; {
		if nbits < 32 { // room for a code and its value or run bits
			d.acc, d.nbits = acc, nbits
			d.fill()
			acc, nbits = d.acc, d.nbits
		}
		var v int32
		if f := t.fast[acc>>(64-huffLookBits)]; f != 0 { // a short code and its value
			n := uint(f & 15)
			acc <<= n
			nbits -= n
			k += int(f >> 4 & 15)
			v = f >> 16
		} else {
			var rs uint8
			if e := t.lut[acc>>(64-huffLookBits)]; e>>8 != 0 {
				n := uint(e >> 8)
				acc <<= n
				nbits -= n
				rs = uint8(e)
			} else {
				d.acc, d.nbits = acc, nbits
				rs = d.decodeHuffSlow(t)
				acc, nbits = d.acc, d.nbits
			}
			r, s := uint(rs>>4), uint(rs&15)
			if s == 0 {
				if r < 15 { // end of band: a run of this block and 2^r-1+bits more
					d.eobrun = 1<<r - 1
					if r > 0 {
						d.eobrun += int32(acc >> (64 - r))
						acc <<= r
						nbits -= r
					}
					break
				}
				k += 16
				continue
			}
			k += int(r)
			v = int32(acc >> (64 - s)) // at least 16 bits remain after a code
			acc <<= s
			nbits -= s
			if v < 1<<s>>1 {
				v += -1<<s + 1
			}
		}
		if k > sp.se {
			err = jpegErr("too many coefficients")
			break
		}
		if i := c.slot[k]; i >= 0 {
			b[i] = int16(v << al)
		}
		mask |= 1 << uint(k)
		k++
	}
	d.acc, d.nbits = acc, nbits
	*nz = mask
	return err
}

// acRefine is a successive-approximation AC scan (T.81 G.1.2.3): new
// coefficients of magnitude 1<<al, and one correction bit for each
// coefficient that is already non-zero. It is entered outside a run; an
// end-of-band it decodes starts one (the rest of this block, then d.eobrun
// more blocks). Which coefficients are non-zero comes from the mask nz, not
// the values, so a coefficient whose value is not kept is refined (its bit
// read) all the same, and a run of zeros is found with bit operations. As in
// baselineBlock the bit buffer lives in locals, back in d around calls out.
func (d *jpegDecoder) acRefine(c *jpegComp, b []int16, nz *uint64, sp *scanParams) error {
	p1, m1 := int16(1)<<sp.al, int16(-1)<<sp.al
	band := bandMask(sp.ss, sp.se)
	t := &d.ac[c.ta]
	mask := *nz
	acc, nbits := d.acc, d.nbits
	var err error
	for k := sp.ss; k <= sp.se; {
		if nbits < 32 { // room for a code, its sign bit or run bits
			d.acc, d.nbits = acc, nbits
			d.fill()
			acc, nbits = d.acc, d.nbits
		}
		var rs uint8
		if e := t.lut[acc>>(64-huffLookBits)]; e>>8 != 0 {
			n := uint(e >> 8)
			acc <<= n
			nbits -= n
			rs = uint8(e)
		} else {
			d.acc, d.nbits = acc, nbits
			rs = d.decodeHuffSlow(t)
			acc, nbits = d.acc, d.nbits
		}
		r, s := uint(rs>>4), rs&15
		var val int16
		if s != 0 {
			if s != 1 {
				err = jpegErr("bad refinement size")
				break
			}
			val = m1
			if acc>>63 != 0 {
				val = p1
			}
			acc <<= 1
			nbits--
		} else if r != 15 { // end of band: the rest of this block starts the run
			eob := int32(1) << r
			if r > 0 {
				eob += int32(acc >> (64 - r))
				acc <<= r
				nbits -= r
			}
			d.eobrun = eob - 1
			d.acc, d.nbits = acc, nbits
			d.refineNonZero(c, b, mask, k, sp.se+1, sp)
			*nz = mask
			return nil
		}
		// The new coefficient (or, for ZRL, the end of the 16 zeros) is at
		// the (r+1)-th zero from k; the non-zero ones passed take a bit each.
		zeros := ^mask & band >> uint(k) << uint(k)
		for ; r > 0 && zeros != 0; r-- {
			zeros &= zeros - 1
		}
		p := sp.se + 1
		if zeros != 0 {
			p = bits.TrailingZeros64(zeros)
		}
		if m := mask >> uint(k) << uint(k) & (1<<uint(p) - 1); m != 0 { // the non-zero ones in k..p-1 (p may be 64)
			n := uint(bits.OnesCount64(m))
			if nbits < n {
				d.acc, d.nbits = acc, nbits
				d.fill()
				acc, nbits = d.acc, d.nbits
			}
			if n <= nbits {
				refineWord(c, b, m, acc, p1, m1)
				acc <<= n
				nbits -= n
			} else { // more non-zero coefficients passed than bits buffered
				d.acc, d.nbits = acc, nbits
				d.refineNonZero(c, b, mask, k, p, sp)
				acc, nbits = d.acc, d.nbits
			}
		}
		if zeros == 0 {
			if val != 0 {
				err = jpegErr("too many coefficients")
			}
			break
		}
		if val != 0 {
			if i := c.slot[p]; i >= 0 {
				b[i] = val
			}
			mask |= 1 << uint(p)
		}
		k = p + 1
	}
	d.acc, d.nbits = acc, nbits
	*nz = mask
	return err
}

// refineWord applies correction bits to the kept coefficients among the
// non-zero ones m: the i-th set bit of m (from the lowest) has its bit at
// the i-th place of w from the top.
func refineWord(c *jpegComp, b []int16, m, w uint64, p1, m1 int16) {
	for mk := m & c.keepMask; mk != 0; mk &= mk - 1 {
		q := bits.TrailingZeros64(mk)
		if w<<uint(bits.OnesCount64(m&(1<<uint(q)-1)))>>63 == 0 {
			continue
		}
		if i := c.slot[q]; b[i]&p1 == 0 {
			if b[i] >= 0 {
				b[i] += p1
			} else {
				b[i] += m1
			}
		}
	}
}

// refineNonZero reads a correction bit for each non-zero coefficient of a
// block in zigzag positions lo..hi-1 (the block's non-zero mask nz says
// which), in order: at once when the bit buffer holds them all, else the
// kept ones one by one, the others skipped between them.
func (d *jpegDecoder) refineNonZero(c *jpegComp, b []int16, nz uint64, lo, hi int, sp *scanParams) {
	if lo >= hi {
		return
	}
	m := nz & bandMask(lo, hi-1)
	if m == 0 {
		return
	}
	p1, m1 := int16(1)<<sp.al, int16(-1)<<sp.al
	n := uint(bits.OnesCount64(m))
	if d.nbits < n {
		d.fill()
	}
	if n <= d.nbits {
		refineWord(c, b, m, d.acc, p1, m1)
		d.acc <<= n
		d.nbits -= n
		return
	}
	for mk := m & c.keepMask; mk != 0; mk &= mk - 1 {
		p := bits.TrailingZeros64(mk)
		d.skipBits(bits.OnesCount64(m & (1<<uint(p) - 1))) // the dropped ones before it
		m &= ^uint64(0) << uint(p) << 1
		if d.nbits == 0 {
			d.fill()
		}
		w := d.acc
		d.acc <<= 1
		d.nbits--
		refineWord(c, b, 1<<uint(p), w, p1, m1)
	}
	d.skipBits(bits.OnesCount64(m))
}

// skipBits drops n <= 64 bits of the scan.
func (d *jpegDecoder) skipBits(n int) {
	for n > 0 {
		if d.nbits == 0 {
			d.fill()
		}
		s := min(uint(n), d.nbits)
		d.acc <<= s
		d.nbits -= s
		n -= int(s)
	}
}

// reconstruct runs the inverse DCT of every block of a progressive image.
func (d *jpegDecoder) reconstruct() error {
	var blk [64]int32
	for i := range d.comps {
		c := &d.comps[i]
		if !d.qset[c.tq] {
			return jpegErr("missing quantization table")
		}
		n := c.n
		for row := 0; row < c.bh; row++ {
			if d.ctx != nil {
				if err := d.ctx.Err(); err != nil {
					return err
				}
			}
			for col := 0; col < c.bw; col++ {
				bi := row*c.bw + col
				src := c.coef[bi*c.kept:][:c.kept]
				if c.nz[bi]&c.keepMask == 0 { // a flat block: no copy, no transform
					fillDC(src[0], &d.qt[c.tq], n, c.pix[row*n*c.stride+col*n:], c.stride)
					continue
				}
				kb := blk[:c.kept]
				for i, v := range src {
					kb[i] = int32(v)
				}
				idct(kb, &d.qt[c.tq], n, c.pix[row*n*c.stride+col*n:], c.stride)
			}
		}
		c.coef, c.nz, c.any = nil, nil, nil
	}
	return nil
}

// idctBasis[n] holds, for an n-point inverse DCT of the first n coefficients
// of an 8-point DCT, the weight of coefficient u in sample x at [x*8+u]:
// C(u)/2 cos((2x+1)u pi / 2n). It samples the block's continuous
// reconstruction at the centres of n equal cells, at the 8-point amplitude,
// so each output is (nearly) the mean of the 8/n x 8/n pixels it replaces.
var idctBasis = func() (b [9][64]float32) {
	for _, n := range []int{2, 4, 8} {
		for x := 0; x < n; x++ {
			for u := 0; u < n; u++ {
				c := 1.0
				if u == 0 {
					c = 1 / math.Sqrt2
				}
				b[n][x*8+u] = float32(c / 2 * math.Cos(float64((2*x+1)*u)*math.Pi/float64(2*n)))
			}
		}
	}
	return b
}()

// idct writes the n x n reconstruction of a block at dst. blk holds the
// block's quantized coefficients (u, v < n) at v*n+u; q is the table in
// natural order. Callers send flat blocks (DC only) to fillDC instead.
func idct(blk []int32, q *[64]uint16, n int, dst []byte, stride int) {
	if n == 1 {
		fillDC(blk[0], q, 1, dst, stride)
		return
	}
	if n == 4 {
		idct4((*[16]int32)(blk), q, dst, stride)
		return
	}
	basis := &idctBasis[n]
	var tmp [64]float32 // tmp[v*8+x]: rows of coefficients transformed across
	var in [8]float32
	rows := 0
	for v := 0; v < n; v++ {
		last := -1
		for u := 0; u < n; u++ {
			if blk[v*n+u] != 0 {
				last = u
			}
			in[u] = float32(blk[v*n+u]) * float32(q[v*8+u])
		}
		if last < 0 {
			continue
		}
		rows = v + 1
		for x := 0; x < n; x++ {
			bx := basis[x*8 : x*8+8 : x*8+8]
			var s float32
			for u := 0; u <= last; u++ {
				s += float32(in[u] * bx[u]) // float32(): no fused multiply-add, as on amd64
			}
			tmp[v*8+x] = s
		}
	}
	for y := 0; y < n; y++ {
		by := basis[y*8 : y*8+8 : y*8+8]
		out := dst[y*stride : y*stride+n]
		for x := range out {
			var s float32
			for v := 0; v < rows; v++ {
				s += float32(tmp[v*8+x] * by[v])
			}
			out[x] = clampf(s + 128)
		}
	}
}

// idct4 is the 4-point case of idct with the basis folded into an
// even/odd butterfly (per row and column, 4 multiplications instead of 16),
// in 13-bit fixed point: no conversions to and from float, and the same
// result as the basis matrix within one level (TestIDCT4MatchesBasis).
func idct4(blk *[16]int32, q *[64]uint16, dst []byte, stride int) {
	const (
		k0 = 2896 // cos(pi/4)/2 << 13
		k1 = 3784 // cos(pi/8)/2 << 13
		k3 = 1567 // cos(3pi/8)/2 << 13
		// Rows keep 2 fraction bits; the columns' 13 + 2 come off at the end.
		rowShift = 11
		colShift = 15
	)
	var t [16]int32
	for v := 0; v < 4; v++ {
		r := blk[v*4 : v*4+4 : v*4+4]
		if r[0]|r[1]|r[2]|r[3] == 0 {
			continue
		}
		qr := q[v*8 : v*8+4 : v*8+4]
		i0, i1 := r[0]*int32(qr[0]), r[1]*int32(qr[1])
		i2, i3 := r[2]*int32(qr[2]), r[3]*int32(qr[3])
		a, b := k0*(i0+i2), k0*(i0-i2)
		o1, o2 := k1*i1+k3*i3, k3*i1-k1*i3
		const round = 1 << (rowShift - 1)
		t[v*4] = (a + o1 + round) >> rowShift
		t[v*4+1] = (b + o2 + round) >> rowShift
		t[v*4+2] = (b - o2 + round) >> rowShift
		t[v*4+3] = (a - o1 + round) >> rowShift
	}
	_ = dst[3*stride+3]
	for x := 0; x < 4; x++ {
		i0, i1, i2, i3 := t[x], t[4+x], t[8+x], t[12+x]
		const bias = 128<<colShift + 1<<(colShift-1) // the level shift and the rounding
		a, b := k0*(i0+i2)+bias, k0*(i0-i2)+bias
		o1, o2 := k1*i1+k3*i3, k3*i1-k1*i3
		dst[x] = clampShift(a+o1, colShift)
		dst[stride+x] = clampShift(b+o2, colShift)
		dst[2*stride+x] = clampShift(b-o2, colShift)
		dst[3*stride+x] = clampShift(a-o1, colShift)
	}
}

// clampShift is v >> s limited to 0..255.
func clampShift(v int32, s uint) uint8 {
	v >>= s
	if uint32(v) > 255 {
		return uint8(^(v >> 31)) // 0 below, 255 above
	}
	return uint8(v)
}

func clampf(f float32) uint8 {
	f += 0.5
	if f <= 0 {
		return 0
	}
	if f >= 255 {
		return 255
	}
	return uint8(f)
}

// fillDC writes the n x n reconstruction of a block whose only non-zero
// coefficient is its (quantized) DC: one value.
func fillDC[T int16 | int32](dc T, q *[64]uint16, n int, dst []byte, stride int) {
	f := clampf(float32(dc)*float32(q[0])/8 + 128)
	for y := 0; y < n; y++ {
		row := dst[y*stride : y*stride+n]
		for x := range row {
			row[x] = f
		}
	}
}
