package hostile

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"math"
)

// Hostile and odd embedded ICC profiles. Every one is in an image that is
// itself fine: the engine must make the variants, treat the pixels as sRGB
// and say so in a note, with bounded work and memory, or (for the valid ones)
// convert the colours.

func iccFiles() []File {
	photo := jpegOf(noise(64, 48, 1), 90)
	wide := wideGamutProfile()
	return []File{
		{"icc-tag-past-end.jpg", "a JPEG whose ICC profile has a tag running past the profile's end", withICC(photo, iccTagPastEnd(), 1)},
		{"icc-tag-4gb.jpg", "a JPEG whose ICC profile has a tag claiming 4 GB", withICC(photo, iccTagSize(wide, 0xFFFFFFF0), 1)},
		{"icc-many-tags.jpg", "a JPEG whose ICC profile claims 1,000,000 tags", withICC(photo, iccTagCount(wide, 1_000_000), 1)},
		{"icc-clut-huge-grid.jpg", "a JPEG whose CMYK profile's A2B0 lut16 claims a 255-point 4D grid (12 GB of samples) in 200 bytes", withICC(cmykJPEG(16, 16, [4]byte{0, 200, 200, 0}), iccHugeGrid(), 1)},
		{"icc-curve-4g-points.jpg", "a JPEG whose ICC profile has a TRC claiming 4 billion points", withICC(photo, iccCurvePoints(0xFFFFFFFF), 1)},
		{"icc-chunk-missing.jpg", "a JPEG whose ICC profile is split in 3 APP2 chunks, the second missing", dropChunk(withICC(photo, wide, 3), 2)},
		{"icc-chunks-out-of-order.jpg", "a JPEG with a valid wide-gamut ICC profile split in 3 APP2 chunks stored 3, 1, 2", reorderChunks(withICC(photo, wide, 3))},
		{"icc-png-inflate-bomb.png", "a PNG whose iCCP chunk inflates to 32 MB", withICCP(pngOf(noise(32, 32, 2)), bytes.Repeat([]byte{0}, 32<<20))},
		{"icc-png-wide-gamut.png", "a PNG with a valid wide-gamut iCCP profile", withICCP(pngOf(noise(32, 32, 2)), wide)},
	}
}

func s15f16(v float64) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(int32(math.Round(v*65536))))
}

func xyzTag(x, y, z float64) []byte {
	return append(append(append([]byte("XYZ \x00\x00\x00\x00"), s15f16(x)...), s15f16(y)...), s15f16(z)...)
}

// icc lays out a profile of the given colour space with tags in order.
func icc(space string, tags [][2][]byte) []byte {
	base := 132 + 12*len(tags)
	var data []byte
	var table []byte
	for _, t := range tags {
		table = append(table, t[0]...)
		table = binary.BigEndian.AppendUint32(table, uint32(base+len(data)))
		table = binary.BigEndian.AppendUint32(table, uint32(len(t[1])))
		data = append(data, t[1]...)
		for len(data)%4 != 0 {
			data = append(data, 0)
		}
	}
	h := make([]byte, 128)
	binary.BigEndian.PutUint32(h, uint32(base+len(data)))
	copy(h[8:], []byte{2, 0x10, 0, 0})
	copy(h[12:], "mntr")
	copy(h[16:], space)
	copy(h[20:], "XYZ ")
	copy(h[36:], "acsp")
	copy(h[68:], xyzTag(0.9642, 1, 0.8249)[8:])
	out := binary.BigEndian.AppendUint32(h, uint32(len(tags)))
	return append(append(out, table...), data...)
}

// wideGamutProfile is a valid matrix/TRC profile with ProPhoto (ROMM)
// primaries and gamma 1.8, so a converted image visibly differs.
func wideGamutProfile() []byte {
	gamma := []byte("curv\x00\x00\x00\x00\x00\x00\x00\x01\x01\xCD") // 1.8 as u8Fixed8
	return icc("RGB ", [][2][]byte{
		{[]byte("wtpt"), xyzTag(0.9642, 1, 0.8249)},
		{[]byte("rXYZ"), xyzTag(0.7977, 0.2880, 0)},
		{[]byte("gXYZ"), xyzTag(0.1352, 0.7119, 0)},
		{[]byte("bXYZ"), xyzTag(0.0313, 0.0001, 0.8249)},
		{[]byte("rTRC"), gamma}, {[]byte("gTRC"), gamma}, {[]byte("bTRC"), gamma},
	})
}

func iccTagPastEnd() []byte {
	p := wideGamutProfile()
	// The first tag (wtpt) now starts 8 bytes before the end and claims 20.
	binary.BigEndian.PutUint32(p[132+4:], uint32(len(p)-8))
	return p
}

func iccTagSize(p []byte, size uint32) []byte {
	p = bytes.Clone(p)
	binary.BigEndian.PutUint32(p[132+8:], size)
	return p
}

func iccTagCount(p []byte, n uint32) []byte {
	p = bytes.Clone(p)
	binary.BigEndian.PutUint32(p[128:], n)
	return p
}

func iccCurvePoints(n uint32) []byte {
	curve := binary.BigEndian.AppendUint32([]byte("curv\x00\x00\x00\x00"), n)
	curve = append(curve, 0, 0, 0xFF, 0xFF) // two points where n are claimed
	return icc("RGB ", [][2][]byte{
		{[]byte("wtpt"), xyzTag(0.9642, 1, 0.8249)},
		{[]byte("rXYZ"), xyzTag(0.7977, 0.2880, 0)},
		{[]byte("gXYZ"), xyzTag(0.1352, 0.7119, 0)},
		{[]byte("bXYZ"), xyzTag(0.0313, 0.0001, 0.8249)},
		{[]byte("rTRC"), curve}, {[]byte("gTRC"), curve}, {[]byte("bTRC"), curve},
	})
}

func iccHugeGrid() []byte {
	lut := []byte("mft2\x00\x00\x00\x00")
	lut = append(lut, 4, 3, 255, 0) // 4 inputs, 3 outputs, 255 grid points
	for i := range 9 {
		v := 0.0
		if i%4 == 0 {
			v = 1
		}
		lut = append(lut, s15f16(v)...)
	}
	lut = append(lut, 0, 2, 0, 2) // 2-entry tables
	lut = append(lut, make([]byte, 200)...)
	p := icc("CMYK", [][2][]byte{{[]byte("wtpt"), xyzTag(0.9642, 1, 0.8249)}, {[]byte("A2B0"), lut}})
	copy(p[12:], "prtr")
	copy(p[20:], "Lab ")
	return p
}

// withICC inserts profile p after a JPEG's SOI as n APP2 ICC_PROFILE chunks.
func withICC(jpg, p []byte, n int) []byte {
	out := append([]byte(nil), jpg[:2]...)
	size := (len(p) + n - 1) / n
	for i := range n {
		part := p[min(i*size, len(p)):min((i+1)*size, len(p))]
		seg := append([]byte("ICC_PROFILE\x00"), byte(i+1), byte(n))
		seg = append(seg, part...)
		out = append(out, 0xFF, 0xE2)
		out = binary.BigEndian.AppendUint16(out, uint16(len(seg)+2))
		out = append(out, seg...)
	}
	return append(out, jpg[2:]...)
}

// app2Segments splits a JPEG made by withICC into SOI, its APP2 segments
// and the rest.
func app2Segments(jpg []byte) (segs [][]byte, rest []byte) {
	pos := 2
	for pos+4 <= len(jpg) && jpg[pos] == 0xFF && jpg[pos+1] == 0xE2 {
		n := int(binary.BigEndian.Uint16(jpg[pos+2:]))
		segs = append(segs, jpg[pos:pos+2+n])
		pos += 2 + n
	}
	return segs, jpg[pos:]
}

func dropChunk(jpg []byte, seq int) []byte {
	segs, rest := app2Segments(jpg)
	out := append([]byte(nil), jpg[:2]...)
	for i, s := range segs {
		if i+1 != seq {
			out = append(out, s...)
		}
	}
	return append(out, rest...)
}

func reorderChunks(jpg []byte) []byte {
	segs, rest := app2Segments(jpg)
	out := append([]byte(nil), jpg[:2]...)
	for _, i := range []int{2, 0, 1} {
		out = append(out, segs[i]...)
	}
	return append(out, rest...)
}

// withICCP inserts an iCCP chunk holding the zlib-compressed profile p
// after a PNG's IHDR.
func withICCP(pngData, p []byte) []byte {
	var z bytes.Buffer
	w, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	w.Write(p)
	w.Close()
	body := append([]byte("icc\x00\x00"), z.Bytes()...)
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	chunk = append(chunk, "iCCP"...)
	chunk = append(chunk, body...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	ihdrEnd := 8 + 8 + 13 + 4
	return append(append(append([]byte(nil), pngData[:ihdrEnd]...), chunk...), pngData[ihdrEnd:]...)
}
