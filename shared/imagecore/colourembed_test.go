package imagecore

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"strings"
	"testing"
)

func app2(seq, count int, part []byte) []byte {
	seg := append([]byte("ICC_PROFILE\x00"), byte(seq), byte(count))
	seg = append(seg, part...)
	out := []byte{0xFF, 0xE2}
	out = binary.BigEndian.AppendUint16(out, uint16(len(seg)+2))
	return append(out, seg...)
}

func TestJPEGICCChunks(t *testing.T) {
	p := testProfiles()["prophoto-v2.icc"]
	a, b, c := p[:100], p[100:300], p[300:]
	jpg := encodeJPEG(t, filled(8, 8, color.NRGBA{200, 100, 50, 255}), 90)
	with := func(segs ...[]byte) []byte {
		out := append([]byte(nil), jpg[:2]...)
		for _, s := range segs {
			out = append(out, s...)
		}
		return append(out, jpg[2:]...)
	}
	tests := []struct {
		name string
		data []byte
		want []byte
		note string
	}{
		{"none", jpg, nil, ""},
		{"one chunk", with(app2(1, 1, p)), p, ""},
		{"in order", with(app2(1, 3, a), app2(2, 3, b), app2(3, 3, c)), p, ""},
		{"out of order", with(app2(3, 3, c), app2(1, 3, a), app2(2, 3, b)), p, ""},
		{"missing the last", with(app2(1, 3, a), app2(2, 3, b)), nil, "chunk 3 of 3 is missing"},
		{"missing the middle", with(app2(1, 3, a), app2(3, 3, c)), nil, "chunk 2 of 3 is missing"},
		{"repeated", with(app2(1, 2, a), app2(1, 2, a)), nil, "chunk 1 appears twice"},
		{"counts disagree", with(app2(1, 2, a), app2(2, 3, b)), nil, "disagree"},
		{"sequence zero", with(app2(0, 1, p)), nil, "out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, notes := jpegICC(tc.data)
			if !bytes.Equal(src.ICC, tc.want) {
				t.Errorf("profile of %d bytes, want %d", len(src.ICC), len(tc.want))
			}
			if got := strings.Join(notes, "; "); (tc.note == "") != (got == "") || !strings.Contains(got, tc.note) {
				t.Errorf("notes %q, want %q", got, tc.note)
			}
		})
	}
}

func TestPNGAndWebPICC(t *testing.T) {
	p := testProfiles()["displayp3-v4.icc"]
	plain := encodePNG(t, filled(4, 4, color.NRGBA{10, 20, 30, 255}))
	chunk := func(typ string, body []byte) []byte {
		c := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
		return append(append(append(c, typ...), body...), 0, 0, 0, 0) // the reader ignores CRCs
	}
	insert := func(c []byte) []byte {
		end := 8 + 25
		return append(append(append([]byte(nil), plain[:end]...), c...), plain[end:]...)
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(p)
	zw.Close()
	iccp := chunk("iCCP", append([]byte("P3\x00\x00"), z.Bytes()...))
	if src, notes := pngICC(insert(iccp)); !bytes.Equal(src.ICC, p) || len(notes) != 0 {
		t.Errorf("iCCP: %d bytes, notes %q", len(src.ICC), notes)
	}
	if src, _ := pngICC(insert(append(chunk("sRGB", []byte{0}), iccp...))); src.ICC != nil {
		t.Error("an sRGB chunk must win over iCCP")
	}
	if _, notes := pngICC(insert(chunk("iCCP", []byte("P3\x00\x00garbage")))); len(notes) != 1 {
		t.Errorf("damaged iCCP: notes %q", notes)
	}
	// WebP: RIFF, VP8X with the ICC flag, then ICCP.
	webp := func(flags byte, iccp []byte) []byte {
		body := []byte("WEBPVP8X")
		body = binary.LittleEndian.AppendUint32(body, 10)
		body = append(body, flags, 0, 0, 0, 3, 0, 0, 3, 0, 0)
		body = append(body, "ICCP"...)
		body = binary.LittleEndian.AppendUint32(body, uint32(len(iccp)))
		body = append(body, iccp...)
		if len(iccp)%2 == 1 {
			body = append(body, 0)
		}
		return append(binary.LittleEndian.AppendUint32([]byte("RIFF"), uint32(len(body))), body...)
	}
	if src, _ := webpICC(webp(0x20, p)); !bytes.Equal(src.ICC, p) {
		t.Errorf("webp ICCP: %d bytes", len(src.ICC))
	}
	if src, _ := webpICC(webp(0, p)); src.ICC != nil {
		t.Error("webp without the ICC flag: a profile was read")
	}
}

// CICP code points and the equivalent ICC profile give the same colours.
func TestCICPMatchesICC(t *testing.T) {
	viaCICP, err := cicpTransform(cicp{Primaries: 12, Transfer: 13, Matrix: 6, FullRange: true})
	if err != nil || viaCICP == nil {
		t.Fatalf("cicp 12/13: %v %v", viaCICP, err)
	}
	viaICC, err := buildICCTransform(testProfiles()["displayp3-v4.icc"])
	if err != nil || viaICC == nil {
		t.Fatalf("icc: %v %v", viaICC, err)
	}
	for _, c := range [][3]uint8{{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {128, 64, 32}, {10, 200, 90}, {250, 250, 250}} {
		r1, g1, b1 := viaCICP.rgb8(c[0], c[1], c[2])
		r2, g2, b2 := viaICC.rgb8(c[0], c[1], c[2])
		if abs(int(r1)-int(r2)) > 1 || abs(int(g1)-int(g2)) > 1 || abs(int(b1)-int(b2)) > 1 {
			t.Errorf("%v: CICP %d,%d,%d, ICC %d,%d,%d", c, r1, g1, b1, r2, g2, b2)
		}
	}
	for _, c := range []cicp{{Primaries: 1, Transfer: 13}, {Primaries: 2, Transfer: 2}, {Primaries: 1, Transfer: 1}} {
		if tr, err := cicpTransform(c); tr != nil || err != nil {
			t.Errorf("%+v is sRGB, got %v, %v", c, tr, err)
		}
	}
	if _, err := cicpTransform(cicp{Primaries: 99, Transfer: 13}); err == nil {
		t.Error("unknown primaries accepted")
	}
}

// toSRGB keeps each layout's shape: Y'CbCr stays Y'CbCr (4:4:4), alpha is
// kept, a palette image gets a converted palette; the sRGB profile is a no-op.
func TestToSRGBLayouts(t *testing.T) {
	wide := colourSource{ICC: testProfiles()["prophoto-v2.icc"]}
	ycc := image.NewYCbCr(image.Rect(0, 0, 4, 4), image.YCbCrSubsampleRatio420)
	for i := range ycc.Y {
		ycc.Y[i] = 120
	}
	for i := range ycc.Cb {
		ycc.Cb[i], ycc.Cr[i] = 100, 170
	}
	out, notes := toSRGB(ycc, wide)
	if y, ok := out.(*image.YCbCr); !ok || y.SubsampleRatio != image.YCbCrSubsampleRatio444 || len(notes) != 0 {
		t.Errorf("YCbCr became %T, notes %q", out, notes)
	}
	n := filled(2, 2, color.NRGBA{200, 100, 50, 128})
	out, _ = toSRGB(n, wide)
	if c := out.(*image.NRGBA).NRGBAAt(0, 0); c.A != 128 || c == (color.NRGBA{200, 100, 50, 128}) {
		t.Errorf("NRGBA pixel %v: alpha must stay, colour must change", c)
	}
	// 16-bit: converted with 16-bit precision, alpha kept; agrees with the
	// 8-bit conversion of the same colour.
	w16 := image.NewNRGBA64(image.Rect(0, 0, 2, 2))
	w16.SetNRGBA64(1, 1, color.NRGBA64{200 * 257, 100 * 257, 50 * 257, 0x8000})
	out, _ = toSRGB(w16, wide)
	n8 := filled(1, 1, color.NRGBA{200, 100, 50, 255})
	conv, _ := toSRGB(n8, wide)
	if c, want := out.(*image.NRGBA).NRGBAAt(1, 1), conv.(*image.NRGBA).NRGBAAt(0, 0); c.A != 0x80 || !near(color.NRGBA{c.R, c.G, c.B, 255}, want, 1) {
		t.Errorf("16-bit pixel %v, want %v with alpha 0x80", c, want)
	}
	pal := image.NewPaletted(image.Rect(0, 0, 2, 2), color.Palette{color.NRGBA{200, 100, 50, 255}})
	out, _ = toSRGB(pal, wide)
	if c := out.(*image.Paletted).Palette[0]; c == (color.NRGBA{200, 100, 50, 255}) {
		t.Error("palette not converted")
	}
	srgb := readColour(t, "small-adobergb.jpg") // any file: only its pixels are used
	m := decodeFile(t, srgb)
	if out, notes := toSRGB(m, colourSource{}); out != m || notes != nil {
		t.Error("no description must leave the image alone")
	}
	gray := image.NewGray(image.Rect(0, 0, 2, 2))
	if _, notes := toSRGB(gray, wide); len(notes) != 1 || !strings.Contains(notes[0], "3 channels and the image has 1") {
		t.Errorf("RGB profile on gray: notes %q", notes)
	}
}

// PNG gAMA/cHRM without iCCP or sRGB: a linear-light gray PNG (gAMA 1.0)
// comes out sRGB-encoded; the usual gAMA 1/2.2 with sRGB primaries is left
// alone, as is anything with an sRGB chunk.
func TestPNGGamma(t *testing.T) {
	ramp := image.NewGray(image.Rect(0, 0, 4, 1))
	copy(ramp.Pix, []byte{0, 10, 64, 255})
	plain := encodePNG(t, ramp)
	chunk := func(typ string, body []byte) []byte {
		c := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
		c = append(append(c, typ...), body...)
		return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
	}
	with := func(cs ...[]byte) []byte {
		out := append([]byte(nil), plain[:33]...)
		for _, c := range cs {
			out = append(out, c...)
		}
		return append(out, plain[33:]...)
	}
	gama := func(g uint32) []byte { return chunk("gAMA", binary.BigEndian.AppendUint32(nil, g)) }
	e := newEngine(t, Variant{Name: "full", Width: 100, Format: FormatPNG})
	pixels := func(data []byte) []uint8 {
		t.Helper()
		m := decodeOutput(t, process(t, e, data).Outputs[0])
		var px []uint8
		for x := range 4 {
			r, _, _, _ := m.At(x, 0).RGBA()
			px = append(px, uint8(r>>8))
		}
		return px
	}
	linear := pixels(with(gama(100000)))
	for i, v := range []byte{0, 10, 64, 255} {
		want := uint8(srgbEncode(float64(v)/255)*255 + 0.5)
		if abs(int(linear[i])-int(want)) > 1 {
			t.Errorf("gAMA 1.0: %d became %d, want %d", v, linear[i], want)
		}
	}
	for name, data := range map[string][]byte{
		"gAMA 1/2.2":       with(gama(45455)),
		"sRGB chunk wins":  with(chunk("sRGB", []byte{0}), gama(100000)),
		"no colour chunks": plain,
	} {
		if got := pixels(data); string(got) != string([]byte{0, 10, 64, 255}) {
			t.Errorf("%s: pixels %v changed", name, got)
		}
	}
}
