package imagecore

import (
	"bytes"
	"fmt"
)

// A JPEG's cost is not in its bytes. Every scan of a progressive file may pass
// over every 8x8 block, and an AC scan that is one end-of-band run over all of
// them takes a few dozen bytes: image/jpeg (like libjpeg) visits each block of
// each scan, so 60 KB of such scans over a 49-megapixel frame cost it over ten
// seconds. Before any decoder sees the file, walkJPEG reads its markers,
// skipping the entropy-coded data (one pass over the bytes, no decoding), and
// the engine refuses files whose scans are more than any sane encoder writes.
// The limits are what bound image/jpeg, which visits every block of every scan;
// the package's own decoder also skips end-of-band runs at no cost per block
// and keeps a work budget of its own (jpegdec.go).

// maxJPEGScans is libjpeg-turbo's own scan limit: TurboJPEG 2.1's
// TJFLAG_LIMITSCANS refuses "Progressive JPEG image has more than 500 scans",
// to guard against the progressive-JPEG exploit of libjpeg-turbo's report "Two
// Issues with the JPEG Standard"; TurboJPEG 3 made the figure a parameter,
// TJPARAM_SCANLIMIT (djpeg -maxscans), which its fuzz targets set to 100 or
// 500. Encoders write about 10 (libjpeg's default progression: 10 for colour,
// 6 for gray); the pass limit below is the tighter bound on the work.
const maxJPEGScans = 500

// maxJPEGPasses is how many times the scans may pass over each block, on
// average over all the components' blocks. libjpeg's default progression
// passes over a luma block 6 times and a chroma block 4 times (a 4:2:0 file
// averages 5.3), a baseline file once; mozjpeg's and jpegtran's scripts stay
// near that. 16 leaves room for any encoder's script while holding the cost
// of a file's scans to a few times that of an ordinary progressive file of the
// same size, which the pixel limits already bound.
const maxJPEGPasses = 16

// jpegPassFloor is the number of block visits every file may have whatever
// its size (a few milliseconds of work), so tiny images with many scans, which
// cost nothing, are not refused.
const jpegPassFloor = 1 << 20

// jpegShape is what walkJPEG finds.
type jpegShape struct {
	scans  int
	blocks int64 // 8x8 blocks in the frame, over all components, as scans count them
	visits int64 // blocks visited by a decoder that walks every block of every scan
}

// walkJPEG reads the marker structure of a JPEG in one pass over its bytes,
// as leniently as image/jpeg (extraneous bytes between segments are skipped),
// and stops at EOI, at the end of the data or at a segment it cannot parse:
// judging damage is the decoders' job.
func walkJPEG(data []byte) jpegShape {
	var s jpegShape
	var comps []jpegComp
	interleaved := func(c jpegComp) int64 { return int64(c.bw) * int64(c.bh) }
	single := func(c jpegComp) int64 { return int64((c.cw+7)/8) * int64((c.ch+7)/8) }
	pos := 2
	for {
		i := bytes.IndexByte(data[pos:], 0xFF)
		if i < 0 {
			return s
		}
		pos += i
		for pos+1 < len(data) && data[pos+1] == 0xFF { // fill bytes
			pos++
		}
		if pos+1 >= len(data) {
			return s
		}
		m := data[pos+1]
		pos += 2
		switch {
		case m == 0xD9:
			return s
		case m == 0x00, m == 0x01, m >= 0xD0 && m <= 0xD8:
			continue // stuffed byte, TEM, stray RST or SOI: no length
		}
		if pos+2 > len(data) {
			return s
		}
		n := int(data[pos])<<8 | int(data[pos+1])
		if n < 2 || pos+n > len(data) {
			return s
		}
		seg := data[pos+2 : pos+n]
		pos += n
		switch {
		case m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC: // SOFn
			if comps != nil {
				continue // a second frame: the decoders refuse it
			}
			comps = frameGeometry(seg)
			for _, c := range comps {
				s.blocks += single(c)
			}
		case m == 0xDA:
			s.scans++
			if len(seg) >= 1 && len(seg) >= 1+2*int(seg[0]) { // else the decoders refuse the scan
				ns := int(seg[0])
				for k := 0; k < ns; k++ {
					id := int(seg[1+2*k])
					for _, c := range comps {
						if c.id != id {
							continue
						}
						if ns == 1 {
							s.visits += single(c)
						} else {
							s.visits += interleaved(c)
						}
					}
				}
			}
			pos = scanEnd(data, pos)
		}
	}
}

// scanEnd is the offset of the first marker after entropy-coded data starting
// at pos, other than a restart marker, or len(data).
func scanEnd(data []byte, pos int) int {
	for {
		i := bytes.IndexByte(data[pos:], 0xFF)
		if i < 0 || pos+i+1 >= len(data) {
			return len(data)
		}
		pos += i
		if m := data[pos+1]; m != 0x00 && m != 0xFF && (m < 0xD0 || m > 0xD7) {
			return pos
		}
		pos++
	}
}

// frameGeometry reads the component layout of a frame header the way the
// scans will use it (as jpegDecoder.frame does, for any component count and
// sampling), or nil if the header is malformed.
func frameGeometry(seg []byte) []jpegComp {
	if len(seg) < 6 {
		return nil
	}
	h, w, nf := int(seg[1])<<8|int(seg[2]), int(seg[3])<<8|int(seg[4]), int(seg[5])
	if w == 0 || h == 0 || nf == 0 || len(seg) < 6+3*nf {
		return nil
	}
	comps := make([]jpegComp, nf)
	hmax, vmax := 1, 1
	for i := range comps {
		c := &comps[i]
		c.id, c.h, c.v = int(seg[6+3*i]), int(seg[7+3*i]>>4), int(seg[7+3*i]&15)
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 {
			return nil
		}
		hmax, vmax = max(hmax, c.h), max(vmax, c.v)
	}
	if nf == 1 {
		comps[0].h, comps[0].v, hmax, vmax = 1, 1, 1, 1
	}
	mcux, mcuy := (w+8*hmax-1)/(8*hmax), (h+8*vmax-1)/(8*vmax)
	for i := range comps {
		c := &comps[i]
		c.cw = (w*c.h + hmax - 1) / hmax
		c.ch = (h*c.v + vmax - 1) / vmax
		c.bw, c.bh = mcux*c.h, mcuy*c.v
	}
	return comps
}

// checkJPEGScans refuses a JPEG whose scans would cost more than any sane
// encoder's, before a decoder spends that work.
func checkJPEGScans(data []byte) error {
	s := walkJPEG(data)
	if s.scans > maxJPEGScans {
		return &Error{Code: CodeTooComplex, Message: fmt.Sprintf("the JPEG has %s scans; at most %d are accepted (encoders write about 10)", thousands(int64(s.scans)), maxJPEGScans)}
	}
	if s.blocks > 0 && s.visits > jpegPassFloor && s.visits > maxJPEGPasses*s.blocks {
		passes := float64(s.visits) / float64(s.blocks)
		return &Error{Code: CodeTooComplex, Message: fmt.Sprintf("the JPEG's %d scans would pass over each 8x8 block %.0f times; at most %d passes are accepted (encoders make about 6)", s.scans, passes, maxJPEGPasses)}
	}
	return nil
}

// thousands formats n with commas, for messages people read.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
