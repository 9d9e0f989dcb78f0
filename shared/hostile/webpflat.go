package hostile

import (
	"bytes"
	"encoding/binary"
)

// vp8lFlat is a lossless WebP (VP8L) of w x h opaque grey pixels in a few
// dozen bytes: each of its five prefix codes is a "simple" code with a single
// symbol, which takes no bits, so every pixel costs the decoder work and the
// file nothing. It is the most pixels per byte any of the formats allows: only
// the pixel limits bound what it costs.
func vp8lFlat(w, h int) []byte {
	var b lsbWriter
	b.write(0x2f, 8) // signature
	b.write(uint32(w-1), 14)
	b.write(uint32(h-1), 14)
	b.write(0, 1)                                             // alpha is not used
	b.write(0, 3)                                             // version 0
	b.write(0, 1)                                             // no transform
	b.write(0, 1)                                             // no colour cache
	b.write(0, 1)                                             // one set of prefix codes for the whole image
	for _, sym := range []uint32{0x80, 0x80, 0x80, 0xFF, 0} { // green, red, blue, alpha, distance
		b.write(1, 1) // simple code
		b.write(0, 1) // one symbol
		b.write(1, 1) // of 8 bits
		b.write(sym, 8)
	}
	data := b.bytes()
	var out bytes.Buffer
	le := binary.LittleEndian
	pad := len(data) & 1
	out.WriteString("RIFF")
	_ = binary.Write(&out, le, uint32(4+8+len(data)+pad))
	out.WriteString("WEBPVP8L")
	_ = binary.Write(&out, le, uint32(len(data)))
	out.Write(data)
	if pad == 1 {
		out.WriteByte(0)
	}
	return out.Bytes()
}

// lsbWriter packs bits least significant first, as VP8L reads them.
type lsbWriter struct {
	out   []byte
	acc   uint64
	nbits uint
}

func (w *lsbWriter) write(v uint32, n uint) {
	w.acc |= uint64(v) << w.nbits
	w.nbits += n
	for w.nbits >= 8 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
		w.nbits -= 8
	}
}

func (w *lsbWriter) bytes() []byte {
	if w.nbits > 0 {
		w.out = append(w.out, byte(w.acc))
		w.acc, w.nbits = 0, 0
	}
	return w.out
}
