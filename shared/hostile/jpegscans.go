package hostile

import (
	"bytes"
	"encoding/binary"
)

// Progressive JPEGs whose cost is in the number of scans, not in their bytes.
// An AC scan that is one end-of-band run over every block takes about two
// bytes per 32767 blocks (one EOB14 code and its 14 extra bits), but a decoder
// that walks every block of every scan pays for all the blocks: a few tens of
// kilobytes of such scans cost a naive decoder tens of seconds.
//
// No file here has a DC scan (a DC scan costs at least a bit per block, which
// would make the files large): every coefficient a scan does not set is zero,
// which decoders accept, so the pictures are flat mid-grey.

// scanJPEG describes one progressive file to write.
type scanJPEG struct {
	w, h  int
	comps int // 1 (gray) or 4 (Adobe CMYK, transform 0)
	scans []acScan
	// stray, if set, is a marker segment written after the last scan, before EOI.
	stray []byte
}

// acScan is one AC scan of a single component: a successive-approximation
// first scan (ah 0) or refinement (ah al+1) over coefficients ss..se, coded
// as end-of-band runs over every block of the component.
type acScan struct {
	comp           int // index of the component, 0-based
	ss, se, ah, al byte
}

// scanFiles are the scan bombs and their relatives. The bombs are 7000x7000
// (49 megapixels, under the default limit of 50) and a few dozen kilobytes;
// the files that are accepted, or refused only once decoded, are smaller, so
// that every hostile file stays quick to process end to end (the engine's
// benchmark makes the 49-megapixel cases).
func scanFiles() []File {
	const side, small = 7000, 512
	stray := []byte{0xFF, 0x4F, 0x00, 0x04, 0xA5, 0xA5} // a reserved marker with a segment
	refine := append([]acScan{{ss: 1, se: 63, al: 1}}, repeatScan(acScan{ss: 1, se: 63, ah: 1, al: 0}, 400)...)
	var cmyk []acScan
	for range 120 {
		for c := range 4 {
			cmyk = append(cmyk, acScan{comp: c, ss: 1, se: 63})
		}
	}
	return []File{
		{"bomb-jpeg-scans-7000x7000.jpg", "progressive 7000x7000 gray, 1100 AC scans, each one end-of-band run over every block: the scan bomb",
			scanJPEG{w: side, h: side, comps: 1, scans: eobScans(1100, 0)}.bytes()},
		{"bomb-jpeg-refine-7000x7000.jpg", "progressive 7000x7000 gray, an AC first scan and 400 AC refinement scans, each one run over every block",
			scanJPEG{w: side, h: side, comps: 1, scans: refine}.bytes()},
		{"bomb-jpeg-cmyk-scans-7000x7000.jpg", "progressive 7000x7000 Adobe CMYK (4 components), 120 AC scans of each component, each one run over every block",
			scanJPEG{w: side, h: side, comps: 4, scans: cmyk}.bytes()},
		{"bomb-jpeg-scans-stray-marker-7000x7000.jpg", "the scan bomb with a stray reserved marker (0xFF4F) after its last scan",
			scanJPEG{w: side, h: side, comps: 1, scans: eobScans(1100, 0), stray: stray}.bytes()},
		{"jpeg-eob-scans-16-512x512.jpg", "progressive 512x512 gray, 16 AC scans that are each one run over every block: as many passes as accepted",
			scanJPEG{w: small, h: small, comps: 1, scans: eobScans(16, 0)}.bytes()},
		{"webp-lossless-flat-512x512.webp", "a 512x512 lossless WebP whose prefix codes have one symbol each: no bits per pixel, the most pixels per byte",
			vp8lFlat(small, small)},
		{"jpeg-eob-scans-stray-marker-512x512.jpg", "progressive 512x512 gray, 12 AC scans of runs, then a stray reserved marker (0xFF4F): damaged after the scans",
			scanJPEG{w: small, h: small, comps: 1, scans: eobScans(12, 0), stray: stray}.bytes()},
	}
}

func repeatScan(s acScan, n int) []acScan {
	out := make([]acScan, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// eobScans returns n AC-first scans over every coefficient of component comp.
func eobScans(n, comp int) []acScan { return repeatScan(acScan{comp: comp, ss: 1, se: 63}, n) }

// The AC table: EOB14 (symbol 0xE0) has the 1-bit code 0, so the longest run
// costs 15 bits; the other EOB runs (0x00..0xD0) have 5-bit codes.
var eobSymbols = func() []byte {
	s := []byte{0xE0}
	for r := byte(0); r < 14; r++ {
		s = append(s, r<<4)
	}
	return s
}()

func (j scanJPEG) bytes() []byte {
	be := binary.BigEndian
	var b bytes.Buffer
	seg := func(marker byte, body []byte) {
		b.Write([]byte{0xFF, marker})
		_ = binary.Write(&b, be, uint16(len(body)+2))
		b.Write(body)
	}
	b.Write([]byte{0xFF, 0xD8})
	if j.comps == 4 {
		seg(0xEE, []byte{'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, 0})
	}
	seg(0xDB, append([]byte{0}, bytes.Repeat([]byte{1}, 64)...))
	sof := []byte{8, byte(j.h >> 8), byte(j.h), byte(j.w >> 8), byte(j.w), byte(j.comps)}
	for c := 1; c <= j.comps; c++ {
		sof = append(sof, byte(c), 0x11, 0)
	}
	seg(0xC2, sof)
	dht := []byte{0x10, 1, 0, 0, 0, byte(len(eobSymbols) - 1), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	seg(0xC4, append(dht, eobSymbols...))
	blocks := ((j.w + 7) / 8) * ((j.h + 7) / 8)
	for _, s := range j.scans {
		seg(0xDA, []byte{1, byte(s.comp + 1), 0x00, s.ss, s.se, s.ah<<4 | s.al})
		b.Write(eobRuns(blocks))
	}
	b.Write(j.stray)
	b.Write([]byte{0xFF, 0xD9})
	return b.Bytes()
}

// maxRun is the longest run eobRuns codes: EOB14 with extra bits 11111110111111.
// The longest possible run (32767, fourteen 1 bits) would put an 0xFF in about
// every other byte, each to be stuffed with a zero; no byte of these is 0xFF.
const maxRun = 1<<14 + 0b11111110111111

// eobRuns codes n blocks as end-of-band runs of at most maxRun blocks each.
func eobRuns(n int) []byte {
	var w bitWriter
	for n > 0 {
		run := min(n, maxRun)
		r := 0
		for 1<<(r+1) <= run {
			r++
		}
		if r == 14 {
			w.write(0, 1)
		} else {
			w.write(uint32(0x10+r), 5) // codes 10000.. in the order of eobSymbols[1:]
		}
		w.write(uint32(run-1<<r), r)
		n -= run
	}
	return w.flush()
}
