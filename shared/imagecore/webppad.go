package imagecore

import (
	"bytes"
	"encoding/binary"
)

// x/image/webp's lossless (VP8L) decoder refills its bit buffer by trying to
// read a byte before every prefix code while fewer than 7 bits are buffered;
// at the end of the data each try fails and costs a trip through bufio and
// the RIFF reader. A code with a single symbol takes no bits, so a file whose
// last bits are such codes makes every remaining pixel take that trip: 34
// bytes of VP8L (testdata/hostile/webp-lossless-flat-512x512.webp, made
// 7000x7000) cost about 3.3 s of CPU for 49 megapixels, five times a normal
// decode of as many pixels, in a call the context cannot stop. Four zero bytes after each
// lossless stream keep the buffer full, and cost a valid file nothing:
// decoders read no further than the pixels need. A stream cut within its last
// four bytes may then decode with zero bits instead of failing; libwebp, too,
// decodes what it can of a truncated lossless image.
const vp8lPad = 4

// padVP8L returns data with vp8lPad zero bytes appended to every VP8L and
// ALPH chunk (an ALPH chunk's alpha plane is a VP8L stream), the chunk and
// RIFF sizes adjusted; data that is not a well-formed RIFF container is
// returned as it is, for the decoder to judge.
func padVP8L(data []byte) []byte {
	le := binary.LittleEndian
	if len(data) < 12 || !bytes.Equal(data[:4], []byte("RIFF")) || !bytes.Equal(data[8:12], []byte("WEBP")) {
		return data
	}
	end := min(len(data), 8+int(le.Uint32(data[4:8])))
	out := make([]byte, 12, len(data)+4*vp8lPad+8)
	copy(out, data[:12])
	padded := false
	for pos := 12; pos < end; {
		if pos+8 > end {
			return data
		}
		id, n := string(data[pos:pos+4]), int(le.Uint32(data[pos+4:pos+8]))
		if n < 0 || pos+8+n > end {
			return data
		}
		body := data[pos+8 : pos+8+n]
		pos += 8 + n + n&1
		if id == "VP8L" || id == "ALPH" {
			body = append(append([]byte(nil), body...), make([]byte, vp8lPad)...)
			padded = true
		}
		out = append(out, id...)
		out = le.AppendUint32(out, uint32(len(body)))
		out = append(out, body...)
		if len(body)&1 == 1 {
			out = append(out, 0)
		}
	}
	if !padded {
		return data
	}
	le.PutUint32(out[4:8], uint32(len(out)-8))
	return out
}
