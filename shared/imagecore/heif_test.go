package imagecore

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"

	"github.com/imagepipe/imagepipe/shared/hostile"
)

// transform applies HEIF transformative properties to a picture one by one,
// the plain way (independent of orient and orientRGBA): "r" turns 90 degrees
// anticlockwise (irot 1), "v" exchanges top and bottom (imir 0), "h" left and
// right (imir 1).
func transform(m image.Image, ops string) *image.NRGBA {
	cur := image.NewNRGBA(image.Rect(0, 0, m.Bounds().Dx(), m.Bounds().Dy()))
	for y := 0; y < cur.Rect.Dy(); y++ {
		for x := 0; x < cur.Rect.Dx(); x++ {
			cur.Set(x, y, m.At(m.Bounds().Min.X+x, m.Bounds().Min.Y+y))
		}
	}
	for _, op := range ops {
		w, h := cur.Rect.Dx(), cur.Rect.Dy()
		var next *image.NRGBA
		switch op {
		case 'r':
			next = image.NewNRGBA(image.Rect(0, 0, h, w))
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					next.Set(y, w-1-x, cur.At(x, y))
				}
			}
		case 'v', 'h':
			next = image.NewNRGBA(cur.Rect)
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					if op == 'v' {
						next.Set(x, h-1-y, cur.At(x, y))
					} else {
						next.Set(w-1-x, y, cur.At(x, y))
					}
				}
			}
		}
		cur = next
	}
	return cur
}

func readPNG(t *testing.T, parts ...string) image.Image {
	t.Helper()
	m, err := png.Decode(bytes.NewReader(readTestdata(t, parts...)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestHEIFInputs decodes every HEIC and AVIF sample at full size into a PNG
// and compares it with the picture it was encoded from, turned the way the
// file's irot and imir say. Every other orientation must compare worse, so a
// transform applied twice, or not at all, fails.
func TestHEIFInputs(t *testing.T) {
	cases := []struct {
		file, source string
		format       string
		ops          string // transforms, in ipma order
		minPSNR      float64
		alpha        bool
	}{
		{"heic-8bit.heic", "heif-source.png", SourceHEIC, "", 28, false},
		{"heic-12bit.heic", "heif-source.png", SourceHEIC, "", 28, false},
		{"heic-bt709-limited.heic", "heif-source.png", SourceHEIC, "", 28, false},
		{"heic-grid2x2.heic", "heif-source-grid.png", SourceHEIC, "", 28, false},
		{"heic-irot1.heic", "heif-source.png", SourceHEIC, "r", 28, false},
		{"heic-irot3-imir1.heic", "heif-source.png", SourceHEIC, "rrrh", 28, false},
		{"heic-alpha.heic", "heif-source-alpha.png", SourceHEIC, "", 26, true},
		{"avif-8bit.avif", "heif-source.png", SourceAVIF, "", 28, false},
		{"avif-10bit.avif", "heif-source.png", SourceAVIF, "", 28, false},
		{"avif-grid2x2.avif", "heif-source-grid.png", SourceAVIF, "", 28, false},
		{"avif-irot1-imir1.avif", "heif-source.png", SourceAVIF, "rh", 28, false},
		{"avif-irot3-imir0.avif", "heif-source.png", SourceAVIF, "rrrv", 28, false},
		{"avif-alpha.avif", "heif-source-alpha.png", SourceAVIF, "", 26, true},
	}
	all := []string{"", "r", "rr", "rrr", "h", "rh", "rrh", "rrrh"} // the 8 orientations
	e := newEngine(t, Variant{Name: "full", Width: 4096, Height: 4096, Format: FormatPNG})
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			data := readTestdata(t, "formats", c.file)
			res := process(t, e, data)
			if res.Source.Format != c.format {
				t.Errorf("format %q, want %q", res.Source.Format, c.format)
			}
			var got image.Image = decodeOutput(t, res.Outputs[0])
			src := readPNG(t, "formats", c.source)
			if strings.Contains(c.file, "grid") && strings.HasPrefix(c.file, "heic") {
				// The grid's output size crops the 128x128 of tiles.
				src = src.(interface {
					SubImage(image.Rectangle) image.Image
				}).SubImage(image.Rect(0, 0, 120, 110))
			}
			want := transform(src, c.ops)
			if got.Bounds().Size() != want.Bounds().Size() {
				t.Fatalf("output %v, want %v", got.Bounds().Size(), want.Bounds().Size())
			}
			if res.Source.Width != want.Rect.Dx() || res.Source.Height != want.Rect.Dy() {
				t.Errorf("source reported %dx%d, shown %v", res.Source.Width, res.Source.Height, want.Rect.Size())
			}
			if c.alpha { // colour under transparency is arbitrary: compare as shown
				got, want = overWhite(got), overWhite(want)
			}
			p := psnr(t, want, got)
			if p < c.minPSNR {
				t.Errorf("PSNR %.1f dB against the source, want >= %.1f", p, c.minPSNR)
			}
			wantOps := transform(src, c.ops)
			for _, o := range all {
				other := transform(src, o)
				if other.Rect.Size() != got.Bounds().Size() || equalPix(other, wantOps) {
					continue
				}
				if q := psnr(t, other, got); q >= p {
					t.Errorf("orientation %q compares as well (%.1f dB) as the right one %q (%.1f dB)", o, q, c.ops, p)
				}
			}
			got = decodeOutput(t, res.Outputs[0])
			want = transform(src, c.ops)
			_, _, _, a := got.At(0, 0).RGBA()
			_, _, _, wa := want.At(0, 0).RGBA()
			if c.alpha {
				if d := int(a>>8) - int(wa>>8); d < -24 || d > 24 {
					t.Errorf("alpha at (0,0) = %d, source %d", a>>8, wa>>8)
				}
				if opaqueImage(got) {
					t.Error("the alpha channel was lost")
				}
			} else if !opaqueImage(got) {
				t.Error("an opaque source came out with transparency")
			}
		})
	}
}

func overWhite(m image.Image) *image.NRGBA {
	b := m.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			r, g, bl, a := m.At(b.Min.X+x, b.Min.Y+y).RGBA()
			k := 0xFFFF - a
			out.Set(x, y, color.NRGBA64{uint16(r + k), uint16(g + k), uint16(bl + k), 0xFFFF})
		}
	}
	return out
}

func equalPix(a, b *image.NRGBA) bool { return a.Rect == b.Rect && bytes.Equal(a.Pix, b.Pix) }

func opaqueImage(m image.Image) bool {
	b := m.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if _, _, _, a := m.At(x, y).RGBA(); a != 0xFFFF {
				return false
			}
		}
	}
	return true
}

func TestSniffHEIFBrands(t *testing.T) {
	ftyp := func(major string, compat ...string) []byte {
		b := []byte{0, 0, 0, byte(16 + 4*len(compat))}
		b = append(b, "ftyp"+major+"\x00\x00\x00\x00"...)
		for _, c := range compat {
			b = append(b, c...)
		}
		return append(b, make([]byte, 16)...)
	}
	cases := []struct {
		head []byte
		want string
	}{
		{ftyp("heic", "mif1", "heic"), SourceHEIC},
		{ftyp("heix", "mif1"), SourceHEIC},
		{ftyp("mif1", "heic"), SourceHEIC},
		{ftyp("mif1", "miaf"), SourceHEIC}, // generic: the item codec decides later
		{ftyp("avif", "mif1", "miaf"), SourceAVIF},
		{ftyp("mif1", "avif"), SourceAVIF},
		{ftyp("avis", "msf1"), SourceAVIF},
		{ftyp("isom", "mp41", "avc1"), ""},
		{ftyp("qt  "), ""},
	}
	for _, c := range cases {
		got, err := Sniff(c.head[:min(len(c.head), sniffLen)])
		if c.want == "" {
			wantCode(t, err, CodeUnsupportedFormat)
			if !strings.Contains(err.Error(), "ISO media") {
				t.Errorf("%q: message %q does not say what the file is", c.head[8:12], err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %q, %v; want %q", c.head[8:12], got, err, c.want)
		}
	}
}

// TestHEIFOrientationIgnoresExif: HEIF's transformative properties are the
// orientation (HEIF 6.5.10); an Exif item's orientation is not applied on top.
func TestHEIFOrientationIgnoresExif(t *testing.T) {
	typ, props, coded, err := hostile.ReadSimpleHEIF(readTestdata(t, "formats", "heic-8bit.heic"))
	if err != nil {
		t.Fatal(err)
	}
	var tiff bytes.Buffer
	tiff.Write([]byte{0, 0, 0, 0}) // exif_tiff_header_offset
	tiff.Write(exifSegment(6, binary.BigEndian)[10:])
	e := newEngine(t, Variant{Name: "full", Width: 4096, Height: 4096, Format: FormatPNG})
	for _, c := range []struct {
		irot         bool
		w, h, orient int
	}{{false, 128, 96, 1}, {true, 96, 128, 8}} {
		p := append([][]byte(nil), props...)
		if c.irot {
			p = append(p, hostile.Irot(1))
		}
		file := hostile.HEIF{Brand: "heic", Compat: []string{"mif1", "heic"}, Primary: 1,
			Items: []hostile.HEIFItem{{ID: 1, Type: typ, Data: coded, Props: p}, {ID: 2, Type: "Exif", Data: tiff.Bytes()}},
			Refs:  []hostile.HEIFRef{{Type: "cdsc", From: 2, To: []uint32{1}}}}.Build()
		res := process(t, e, file)
		info := res.Source
		if info.Width != c.w || info.Height != c.h || info.Orientation != c.orient {
			t.Errorf("irot %v: %+v, want %dx%d orientation %d (EXIF says 6)", c.irot, info, c.w, c.h, c.orient)
		}
		if o := res.Outputs[0]; o.Width != c.w || o.Height != c.h {
			t.Errorf("irot %v: output %dx%d", c.irot, o.Width, o.Height)
		}
	}
}

func TestHEIFAlternatesKeepAlpha(t *testing.T) {
	e := newEngine(t, Variant{Name: "v", Width: 64, Formats: []Format{FormatAVIF, FormatWebP}})
	for _, f := range []string{"heic-alpha.heic", "avif-alpha.avif"} {
		res := process(t, e, readTestdata(t, "formats", f))
		o := res.Outputs[0]
		if o.Format != FormatPNG || len(o.Alternates) != 2 {
			t.Fatalf("%s: %s with %d alternates", f, o.Format, len(o.Alternates))
		}
		for _, a := range o.Alternates {
			m := decodeOutput(t, Output{Name: o.Name, Format: a.Format, Data: a.Data, Width: o.Width, Height: o.Height})
			if opaqueImage(m) {
				t.Errorf("%s: the %s alternate lost the alpha channel", f, a.Format)
			}
			if _, _, _, a0 := m.At(0, 0).RGBA(); a0 > 0x2000 {
				t.Errorf("%s: %s corner alpha %d, want transparent", f, a.Format, a0>>8)
			}
		}
	}
}
