package hostile

import (
	"bytes"
	"encoding/binary"
	"image/color"
)

// tiffGray1x1 is a minimal baseline TIFF: one uncompressed 8-bit gray pixel.
func tiffGray1x1() []byte {
	type entry struct {
		tag, typ uint16
		value    uint32
	}
	const short, long = 3, 4
	entries := []entry{
		{256, short, 1}, // ImageWidth
		{257, short, 1}, // ImageLength
		{258, short, 8}, // BitsPerSample
		{259, short, 1}, // Compression: none
		{262, short, 1}, // PhotometricInterpretation: BlackIsZero
		{273, long, 0},  // StripOffsets (patched below)
		{278, short, 1}, // RowsPerStrip
		{279, long, 1},  // StripByteCounts
	}
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("II*\x00")
	_ = binary.Write(&b, le, uint32(8))
	_ = binary.Write(&b, le, uint16(len(entries)))
	pixelAt := uint32(8 + 2 + 12*len(entries) + 4)
	for _, e := range entries {
		if e.tag == 273 {
			e.value = pixelAt
		}
		_ = binary.Write(&b, le, e.tag)
		_ = binary.Write(&b, le, e.typ)
		_ = binary.Write(&b, le, uint32(1))
		if e.typ == short {
			_ = binary.Write(&b, le, uint16(e.value))
			_ = binary.Write(&b, le, uint16(0))
		} else {
			_ = binary.Write(&b, le, e.value)
		}
	}
	_ = binary.Write(&b, le, uint32(0)) // no next IFD
	b.WriteByte(0x80)
	return b.Bytes()
}

// bmp2x2 is a 24-bit bottom-up BMP of four coloured pixels.
func bmp2x2() []byte {
	le := binary.LittleEndian
	rows := [][]byte{{0, 0, 255, 0, 255, 0, 0, 0}, {255, 0, 0, 255, 255, 255, 0, 0}} // BGR pairs, padded to 4 bytes
	var b bytes.Buffer
	size := uint32(14 + 40 + 16)
	b.WriteString("BM")
	_ = binary.Write(&b, le, size)
	_ = binary.Write(&b, le, uint32(0))
	_ = binary.Write(&b, le, uint32(54))
	for _, v := range []any{uint32(40), int32(2), int32(2), uint16(1), uint16(24), uint32(0), uint32(16), int32(2835), int32(2835), uint32(0), uint32(0)} {
		_ = binary.Write(&b, le, v)
	}
	for _, r := range rows {
		b.Write(r)
	}
	return b.Bytes()
}

// withExif inserts an APP1 Exif segment right after SOI, carrying an orientation
// and, if gps is set, a GPS IFD with a latitude and longitude.
func withExif(j []byte, orientation int, gps bool) []byte {
	le := binary.LittleEndian
	var t bytes.Buffer // the TIFF structure inside the Exif segment
	t.WriteString("II*\x00")
	_ = binary.Write(&t, le, uint32(8))
	n := uint16(1)
	if gps {
		n = 2
	}
	ifd0End := uint32(8 + 2 + 12*int(n) + 4)
	_ = binary.Write(&t, le, n)
	// Orientation: SHORT, count 1, value inline.
	for _, v := range []any{uint16(0x0112), uint16(3), uint32(1), uint16(orientation), uint16(0)} {
		_ = binary.Write(&t, le, v)
	}
	if gps {
		// GPSInfo IFD pointer: LONG, count 1, offset of the GPS IFD.
		for _, v := range []any{uint16(0x8825), uint16(4), uint32(1), ifd0End} {
			_ = binary.Write(&t, le, v)
		}
	}
	_ = binary.Write(&t, le, uint32(0))
	if gps {
		const entries = 4
		rationals := ifd0End + 2 + 12*entries + 4
		_ = binary.Write(&t, le, uint16(entries))
		// GPSLatitudeRef "N", GPSLatitude 3 RATIONALs, GPSLongitudeRef "E", GPSLongitude.
		for _, v := range []any{
			uint16(1), uint16(2), uint32(2), []byte("N\x00\x00\x00"),
			uint16(2), uint16(5), uint32(3), rationals,
			uint16(3), uint16(2), uint32(2), []byte("E\x00\x00\x00"),
			uint16(4), uint16(5), uint32(3), rationals + 24,
			uint32(0),
			// 48° 51' 29.6", 2° 17' 40.2": a recognisable place that must not leak.
			uint32(48), uint32(1), uint32(51), uint32(1), uint32(296), uint32(10),
			uint32(2), uint32(1), uint32(17), uint32(1), uint32(402), uint32(10),
		} {
			_ = binary.Write(&t, le, v)
		}
	}
	var seg bytes.Buffer
	seg.Write([]byte{0xFF, 0xE1})
	_ = binary.Write(&seg, binary.BigEndian, uint16(2+6+t.Len()))
	seg.WriteString("Exif\x00\x00")
	seg.Write(t.Bytes())
	out := append([]byte{}, j[:2]...)
	out = append(out, seg.Bytes()...)
	return append(out, j[2:]...)
}

// cmykJPEG writes a baseline JPEG with four components (C, M, Y, K), no
// subsampling and an Adobe APP14 marker, as Photoshop does; the standard
// library can decode such files but not make them. Every block is flat, so each
// carries only a DC coefficient, which keeps the encoder small.
func cmykJPEG(w, h int, ink [4]byte) []byte { return adobeJPEG(w, h, ink, false) }

// ycckJPEG is cmykJPEG stored as YCCK (Adobe transform 2), as libjpeg makes
// it from Adobe's inverted CMYK: R, G, B = 255 - (255 - ink), so the ink of
// C, M, Y is coded as if it were R, G, B in Y'CbCr; K stays inverted.
func ycckJPEG(w, h int, ink [4]byte) []byte { return adobeJPEG(w, h, ink, true) }

func adobeJPEG(w, h int, ink [4]byte, ycck bool) []byte {
	be := binary.BigEndian
	stored := [4]byte{255 - ink[0], 255 - ink[1], 255 - ink[2], 255 - ink[3]}
	transform := byte(0)
	if ycck {
		stored[0], stored[1], stored[2] = color.RGBToYCbCr(ink[0], ink[1], ink[2])
		transform = 2
	}
	var b bytes.Buffer
	seg := func(marker byte, body []byte) {
		b.Write([]byte{0xFF, marker})
		_ = binary.Write(&b, be, uint16(len(body)+2))
		b.Write(body)
	}
	b.Write([]byte{0xFF, 0xD8})
	// Adobe APP14: version 100, flags 0, 0, transform 0 (CMYK, stored
	// inverted) or 2 (YCCK).
	seg(0xEE, []byte{'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, transform})
	// One quantisation table of ones, so a DC coefficient is stored as is.
	dqt := append([]byte{0}, bytes.Repeat([]byte{1}, 64)...)
	seg(0xDB, dqt)
	sof := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 4}
	for c := byte(1); c <= 4; c++ {
		sof = append(sof, c, 0x11, 0)
	}
	seg(0xC0, sof)
	// DC table: categories 0-11, all with 4-bit codes 0000..1011.
	dht := []byte{0x00, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	for c := byte(0); c < 12; c++ {
		dht = append(dht, c)
	}
	// AC table: only end-of-block (symbol 0x00), plus a spare symbol so no
	// code is all ones: codes 0 and 10... lengths 1 and 2.
	dht = append(dht, 0x10, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x01)
	seg(0xC4, dht)
	sos := []byte{4}
	for c := byte(1); c <= 4; c++ {
		sos = append(sos, c, 0x00)
	}
	sos = append(sos, 0, 63, 0)
	seg(0xDA, sos)

	var bw bitWriter
	prev := [4]int{}
	for mcu := 0; mcu < ((w+7)/8)*((h+7)/8); mcu++ {
		for c := 0; c < 4; c++ {
			// The level shift makes the DC 8*(v-128).
			dc := 8 * (int(stored[c]) - 128)
			diff := dc - prev[c]
			prev[c] = dc
			cat, bits := magnitude(diff)
			bw.write(uint32(cat), 4)
			bw.write(bits, cat)
			bw.write(0, 1) // EOB
		}
	}
	b.Write(bw.flush())
	b.Write([]byte{0xFF, 0xD9})
	return b.Bytes()
}

// magnitude returns the JPEG size category of v and its additional bits.
func magnitude(v int) (int, uint32) {
	a := v
	if a < 0 {
		a = -a
	}
	cat := 0
	for a > 0 {
		cat++
		a >>= 1
	}
	if v < 0 {
		v += (1 << cat) - 1
	}
	return cat, uint32(v)
}

type bitWriter struct {
	out   []byte
	acc   uint32
	nbits int
}

func (w *bitWriter) write(v uint32, n int) {
	for i := n - 1; i >= 0; i-- {
		w.acc = w.acc<<1 | (v>>i)&1
		w.nbits++
		if w.nbits == 8 {
			w.emit(byte(w.acc))
			w.acc, w.nbits = 0, 0
		}
	}
}

func (w *bitWriter) emit(c byte) {
	w.out = append(w.out, c)
	if c == 0xFF {
		w.out = append(w.out, 0) // byte stuffing
	}
}

// flush pads the last byte with ones, as the standard asks.
func (w *bitWriter) flush() []byte {
	for w.nbits != 0 {
		w.write(1, 1)
	}
	return w.out
}
