package imagecore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"runtime"
	"strings"
	"testing"
)

func TestNewEngineReportsEveryMistake(t *testing.T) {
	tests := []struct {
		name     string
		limits   Limits
		variants []Variant
		want     []string
	}{
		{"no variants", DefaultLimits(), nil, []string{"at least one variant"}},
		{"bad limits", Limits{MaxBytes: 0, MaxPixels: -1, MaxSide: 0}, DefaultVariants(),
			[]string{"maxBytes must be positive", "maxPixels must be positive", "maxSide must be positive"}},
		{"many mistakes", DefaultLimits(), []Variant{
			{Name: "Thumb!", Width: 10},
			{Name: "a", Fit: FitInside},
			{Name: "a", Width: 10, Height: 0, Fit: FitCover},
			{Name: "b", Width: -1, Height: 10},
			{Name: "c", Width: 10, Fit: "stretch"},
			{Name: "d", Width: 10, Format: "tiff"},
			{Name: "e", Width: 10, Quality: 101},
			{Name: "f", Width: 99999},
			{Name: "manifest", Width: 10},
			{Name: "g", Width: 10, Formats: []Format{FormatWebP, "heic", FormatWebP}},
			{Name: "h", Width: 10, Format: FormatJPEG, Formats: []Format{FormatJPEG}},
			{Name: "i", Width: 10, Format: FormatWebP},
		}, []string{
			`variant 0 ("Thumb!"): name must be`,
			`variant 1 ("a"): set width, height or both`,
			`variant 2 ("a"): name is used twice`,
			`variant 2 ("a"): fit "cover" needs both width and height`,
			`variant 3 ("b"): width and height must not be negative`,
			`variant 4 ("c"): fit must be`,
			`variant 5 ("d"): format must be`,
			`variant 6 ("e"): quality must be 1-100`,
			`variant 7 ("f"): width and height must be at most 8192`,
			`variant 8 ("manifest"): name "manifest" is reserved`,
			`variant 9 ("g"): formats may list "webp" and "avif", got "heic"`,
			`variant 9 ("g"): formats lists "webp" twice`,
			`variant 10 ("h"): formats may list "webp" and "avif", got "jpeg"`,
			`variant 11 ("i"): format must be`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := NewEngine(tt.limits, tt.variants)
			if err == nil {
				t.Fatalf("NewEngine accepted %+v", tt.variants)
			}
			if e != nil {
				t.Errorf("NewEngine returned an engine with an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
	if _, err := NewEngine(DefaultLimits(), DefaultVariants()); err != nil {
		t.Fatalf("default configuration refused: %v", err)
	}
}

// pngHeader is a valid PNG signature and IHDR claiming w x h, with no pixels.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	chunk := append([]byte("IHDR"), ihdr...)
	_ = binary.Write(&b, binary.BigEndian, uint32(13))
	b.Write(chunk)
	_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

// jpegSOF is SOI plus a baseline SOF0 claiming w x h, with no scan data.
func jpegSOF(w, h uint16) []byte {
	b := []byte{0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 3}
	for id := byte(1); id <= 3; id++ {
		b = append(b, id, 0x11, 0)
	}
	// Start of scan: a decoder knows the colour model here; the scan is missing.
	return append(b, 0xFF, 0xDA, 0, 12, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0)
}

// gifScreen is a GIF header with a w x h logical screen and no frames.
func gifScreen(w, h uint16) []byte {
	b := []byte("GIF89a")
	b = binary.LittleEndian.AppendUint16(b, w)
	b = binary.LittleEndian.AppendUint16(b, h)
	return append(b, 0, 0, 0, 0x3B)
}

func TestLimits(t *testing.T) {
	small := encodeJPEG(t, filled(64, 48, red), 90)
	tests := []struct {
		name   string
		limits Limits
		data   []byte
		want   Code
	}{
		{"empty file", DefaultLimits(), nil, CodeEmpty},
		{"over the byte limit", Limits{MaxBytes: int64(len(small) - 1), MaxPixels: 1e6, MaxSide: 1000}, small, CodeTooLarge},
		{"png header 60000x60000", DefaultLimits(), pngHeader(60000, 60000), CodeTooManyPixels},
		{"jpeg SOF 65000x65000", DefaultLimits(), jpegSOF(65000, 65000), CodeTooManyPixels},
		{"gif screen 65535x65535", DefaultLimits(), gifScreen(65535, 65535), CodeTooManyPixels},
		{"png 20000x10 side", DefaultLimits(), pngHeader(20000, 10), CodeDimensionsTooLarge},
		{"jpeg 10x30000 side", DefaultLimits(), jpegSOF(10, 30000), CodeDimensionsTooLarge},
		{"pixels over a small limit", Limits{MaxBytes: 1 << 20, MaxPixels: 64*48 - 1, MaxSide: 1000}, small, CodeTooManyPixels},
		{"side over a small limit", Limits{MaxBytes: 1 << 20, MaxPixels: 1e6, MaxSide: 63}, small, CodeDimensionsTooLarge},
		{"png header 0x0", DefaultLimits(), pngHeader(0, 0), CodeCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := NewEngine(tt.limits, DefaultVariants())
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.Process(context.Background(), tt.data)
			wantCode(t, err, tt.want)
		})
	}
	t.Run("exactly at the limits", func(t *testing.T) {
		e, err := NewEngine(Limits{MaxBytes: int64(len(small)), MaxPixels: 64 * 48, MaxSide: 64}, DefaultVariants())
		if err != nil {
			t.Fatal(err)
		}
		process(t, e, small)
	})
}

// A hostile header must be refused before any pixel buffer exists.
func TestHugeHeadersAllocateLittle(t *testing.T) {
	e := newEngine(t, DefaultVariants()...)
	for name, data := range map[string][]byte{
		"png":  pngHeader(60000, 60000),
		"jpeg": jpegSOF(65000, 65000),
		"gif":  gifScreen(65535, 65535),
	} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := e.Process(context.Background(), data)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("accepted")
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
				t.Fatalf("refusing a %s header allocated %d bytes, want at most 64 KiB", name, n)
			}
		})
	}
}

func TestUnsupportedAndBrokenInputs(t *testing.T) {
	noisy := image.NewNRGBA(image.Rect(0, 0, 128, 128))
	for i := range noisy.Pix {
		noisy.Pix[i] = uint8(i * 7919 % 251)
	}
	jpg := encodeJPEG(t, noisy, 90) // mostly scan data, so half of it cuts the scan
	pngData := encodePNG(t, filled(64, 48, red))
	tests := []struct {
		name string
		data []byte
		want Code
		msg  string
	}{
		{"tiff little endian", []byte("II*\x00\x08\x00\x00\x00rest"), CodeUnsupportedFormat, "TIFF"},
		{"tiff big endian", []byte("MM\x00*\x00\x00\x00\x08rest"), CodeUnsupportedFormat, "TIFF"},
		{"bmp", []byte("BM\x36\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00"), CodeUnsupportedFormat, "BMP"},
		{"text", []byte("hello, this is not a picture\n"), CodeUnsupportedFormat, "text"},
		{"html", []byte("<!doctype html><html><body>hi</body></html>"), CodeUnsupportedFormat, "markup"},
		{"svg", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>`), CodeUnsupportedFormat, "markup"},
		{"avif with a cut-off ftyp", []byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00"), CodeCorrupt, "avif structure"},
		{"mp4 video", []byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"), CodeUnsupportedFormat, "video"},
		{"pdf", []byte("%PDF-1.7\n"), CodeUnsupportedFormat, "PDF"},
		{"binary noise", []byte{0x00, 0x13, 0x37, 0xFE, 0x01}, CodeUnsupportedFormat, "not a recognised image"},
		{"riff but not webp", []byte("RIFF\x10\x00\x00\x00WAVEfmt "), CodeUnsupportedFormat, "not a WebP"},
		{"single byte", []byte{0xFF}, CodeUnsupportedFormat, "recognised"},
		{"utf-8 text", []byte("naïve café ☕ text"), CodeUnsupportedFormat, "text"},
		{"jpeg magic then junk", append([]byte{0xFF, 0xD8, 0xFF}, bytes.Repeat([]byte{0x42}, 100)...), CodeCorrupt, "jpeg"},
		{"jpeg truncated in the scan", jpg[:len(jpg)/2], CodeCorrupt, "jpeg data is damaged"},
		{"jpeg with no scan", jpegSOF(64, 48), CodeCorrupt, "jpeg"},
		{"png truncated", pngData[:len(pngData)-30], CodeCorrupt, "png"},
		{"png magic only", []byte("\x89PNG\r\n\x1a\n"), CodeCorrupt, "png header"},
		{"gif with no frame", gifScreen(10, 10), CodeCorrupt, "gif"},
		{"webp truncated", readTestdata(t, "formats", "yellow_rose.lossy.webp")[:200], CodeCorrupt, "webp"},
	}
	e := newEngine(t, DefaultVariants()...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Process(context.Background(), tt.data)
			wantCode(t, err, tt.want)
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q does not mention %q", err, tt.msg)
			}
		})
	}
}

func TestFormats(t *testing.T) {
	// Colour-rich but simple pictures for the generated inputs.
	quadrants := func(w, h int) *image.NRGBA {
		m := filled(w, h, red)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				switch {
				case x >= w/2 && y < h/2:
					m.SetNRGBA(x, y, green)
				case x < w/2 && y >= h/2:
					m.SetNRGBA(x, y, blue)
				case x >= w/2 && y >= h/2:
					m.SetNRGBA(x, y, white)
				}
			}
		}
		return m
	}
	palette := color.Palette{red, green, blue, white, color.NRGBA{0, 0, 0, 0}}
	paletted := func(transparent bool) *image.Paletted {
		m := image.NewPaletted(image.Rect(0, 0, 40, 30), palette)
		for i := range m.Pix {
			m.Pix[i] = uint8(i % 40 / 10) // 10-pixel bands of each colour
		}
		if transparent {
			m.Pix[0] = 4
		}
		return m
	}
	png16 := image.NewNRGBA64(image.Rect(0, 0, 40, 30))
	for y := 0; y < 30; y++ {
		for x := 0; x < 40; x++ {
			png16.SetNRGBA64(x, y, color.NRGBA64{0xFFFF, 0x8000, uint16(x * 1000), 0xFFFF})
		}
	}
	png16alpha := image.NewNRGBA64(image.Rect(0, 0, 40, 30))
	for i := range png16alpha.Pix {
		png16alpha.Pix[i] = 0x80
	}
	gray := image.NewGray(image.Rect(0, 0, 40, 30))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i)
	}
	gifData := func(t *testing.T, g *gif.GIF) []byte {
		t.Helper()
		var buf bytes.Buffer
		if err := gif.EncodeAll(&buf, g); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	frame := func(c uint8) *image.Paletted {
		m := image.NewPaletted(image.Rect(0, 0, 20, 10), palette)
		for i := range m.Pix {
			m.Pix[i] = c
		}
		return m
	}
	offset := image.NewPaletted(image.Rect(10, 5, 20, 10), palette) // smaller than the screen
	tests := []struct {
		name       string
		data       []byte
		format     string
		w, h       int
		wantFormat Format
		// corner is the expected top-left colour of the output, if set.
		corner color.Color
	}{
		{"jpeg baseline", encodeJPEG(t, quadrants(40, 30), 95), SourceJPEG, 40, 30, FormatJPEG, red},
		{"jpeg grayscale", encodeJPEG(t, gray, 95), SourceJPEG, 40, 30, FormatJPEG, color.Gray{0}},
		{"jpeg progressive", readTestdata(t, "formats", "video-001.progressive.jpeg"), SourceJPEG, 150, 103, FormatJPEG, nil},
		{"jpeg cmyk", readTestdata(t, "formats", "video-001.cmyk.jpeg"), SourceJPEG, 150, 103, FormatJPEG, nil},
		{"png 8-bit rgb", encodePNG(t, quadrants(40, 30)), SourcePNG, 40, 30, FormatJPEG, red},
		{"png 16-bit opaque", encodePNG(t, png16), SourcePNG, 40, 30, FormatJPEG, color.NRGBA{255, 128, 0, 255}},
		{"png 16-bit alpha", encodePNG(t, png16alpha), SourcePNG, 40, 30, FormatPNG, color.NRGBA{0x80, 0x80, 0x80, 0x80}},
		{"png gray", encodePNG(t, gray), SourcePNG, 40, 30, FormatJPEG, color.Gray{0}},
		{"png palette", encodePNG(t, paletted(false)), SourcePNG, 40, 30, FormatJPEG, red},
		{"png palette with transparency", encodePNG(t, paletted(true)), SourcePNG, 40, 30, FormatPNG, color.NRGBA{}},
		{"png alpha", encodePNG(t, filled(40, 30, color.NRGBA{10, 20, 30, 100})), SourcePNG, 40, 30, FormatPNG, color.NRGBA{10, 20, 30, 100}},
		{"gif first frame of two", gifData(t, &gif.GIF{Image: []*image.Paletted{frame(0), frame(2)}, Delay: []int{10, 10}}), SourceGIF, 20, 10, FormatJPEG, red},
		{"gif transparent", gifData(t, &gif.GIF{Image: []*image.Paletted{frame(4)}, Delay: []int{0}}), SourceGIF, 20, 10, FormatPNG, color.NRGBA{}},
		{"gif frame smaller than the screen", gifData(t, &gif.GIF{Image: []*image.Paletted{offset}, Delay: []int{0},
			Config: image.Config{Width: 20, Height: 10, ColorModel: palette}}), SourceGIF, 20, 10, FormatPNG, color.NRGBA{}},
		{"webp lossy", readTestdata(t, "formats", "yellow_rose.lossy.webp"), SourceWebP, 400, 301, FormatJPEG, nil},
		{"webp lossy with alpha", readTestdata(t, "formats", "yellow_rose.lossy-with-alpha.webp"), SourceWebP, 400, 301, FormatPNG, nil},
		{"webp lossless", readTestdata(t, "formats", "blue-purple-pink.lossless.webp"), SourceWebP, 150, 100, FormatJPEG, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			format, err := Sniff(tt.data)
			if err != nil || format != tt.format {
				t.Fatalf("Sniff = %q, %v; want %q", format, err, tt.format)
			}
			e := newEngine(t, Variant{Name: "full", Width: 4000}, Variant{Name: "small", Width: 16})
			res := process(t, e, tt.data)
			if res.Source != (SourceInfo{Format: tt.format, Width: tt.w, Height: tt.h, Orientation: 1}) {
				t.Fatalf("source %+v, want %s %dx%d", res.Source, tt.format, tt.w, tt.h)
			}
			full := res.Outputs[0]
			if full.Width != tt.w || full.Height != tt.h || full.Format != tt.wantFormat {
				t.Fatalf("full output %s %dx%d, want %s %dx%d", full.Format, full.Width, full.Height, tt.wantFormat, tt.w, tt.h)
			}
			m := decodeOutput(t, full)
			if tt.corner != nil {
				if got := m.At(0, 0); !near(got, tt.corner, 12) {
					t.Errorf("top-left pixel %v, want about %v", color.NRGBAModel.Convert(got), color.NRGBAModel.Convert(tt.corner))
				}
			}
			small := res.Outputs[1]
			if small.Width != 16 || small.Format != tt.wantFormat {
				t.Fatalf("small output %s %dx%d, want %s 16 wide", small.Format, small.Width, small.Height, tt.wantFormat)
			}
			decodeOutput(t, small)
		})
	}
}

// meanAbsDiff is the mean absolute RGB difference of two same-size images.
func meanAbsDiff(t *testing.T, a, b image.Image) float64 {
	t.Helper()
	if a.Bounds().Size() != b.Bounds().Size() {
		t.Fatalf("sizes differ: %v vs %v", a.Bounds(), b.Bounds())
	}
	var sum, n float64
	ab, bb := a.Bounds(), b.Bounds()
	for y := 0; y < ab.Dy(); y++ {
		for x := 0; x < ab.Dx(); x++ {
			c1 := color.NRGBAModel.Convert(a.At(ab.Min.X+x, ab.Min.Y+y)).(color.NRGBA)
			c2 := color.NRGBAModel.Convert(b.At(bb.Min.X+x, bb.Min.Y+y)).(color.NRGBA)
			sum += float64(abs(int(c1.R)-int(c2.R)) + abs(int(c1.G)-int(c2.G)) + abs(int(c1.B)-int(c2.B)))
			n += 3
		}
	}
	return sum / n
}

// CMYK and Adobe-inverted YCCK JPEGs must come out as the right RGB picture, not
// inverted or tinted, and colour-managed: the file has no profile, so it is
// read as press CMYK (the SWOP default), not by libjpeg's naive inversion.
func TestCMYKBecomesRGB(t *testing.T) {
	e := newEngine(t, Variant{Name: "full", Width: 4000, Format: FormatPNG})
	res := process(t, e, readTestdata(t, "formats", "video-001.cmyk.jpeg"))
	got := decodeOutput(t, res.Outputs[0])
	decodePNG := func(name string) image.Image {
		t.Helper()
		m, err := png.Decode(bytes.NewReader(readTestdata(t, "formats", name)))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	// libvips' conversion with its own default CMYK profile: another press
	// default, so close but not equal.
	if d := meanAbsDiff(t, got, decodePNG("video-001.cmyk.vips.png")); d > 12 {
		t.Errorf("CMYK decode differs from libvips' by %.1f per channel on average, want <= 12", d)
	}
	// The RGB original it was made from: at least as close as libjpeg's naive
	// conversion (video-001.cmyk.png) is; an inverted or channel-swapped
	// decode is far off.
	orig := decodePNG("video-001.png")
	naive := meanAbsDiff(t, decodePNG("video-001.cmyk.png"), orig)
	if d := meanAbsDiff(t, got, orig); d > naive {
		t.Errorf("CMYK decode differs from the RGB original by %.1f per channel on average, more than the naive conversion's %.1f", d, naive)
	}
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name          string
		fit           Fit
		bw, bh, w, h  int
		wantW, wantH  int
		wantCropW, cH int
	}{
		{"inside width landscape", FitInside, 480, 0, 4000, 3000, 480, 360, 4000, 3000},
		{"inside width portrait", FitInside, 480, 0, 3000, 4000, 480, 640, 3000, 4000},
		{"inside height only", FitInside, 0, 300, 4000, 3000, 400, 300, 4000, 3000},
		{"inside box, width binds", FitInside, 200, 200, 4000, 3000, 200, 150, 4000, 3000},
		{"inside box, height binds", FitInside, 200, 200, 3000, 4000, 150, 200, 3000, 4000},
		{"inside never upscales", FitInside, 480, 0, 8, 8, 8, 8, 8, 8},
		{"inside box larger than source", FitInside, 1000, 1000, 640, 480, 640, 480, 640, 480},
		{"inside thin strip keeps a pixel", FitInside, 100, 0, 10000, 3, 100, 1, 10000, 3},
		{"cover square from landscape", FitCover, 200, 200, 4000, 3000, 200, 200, 3000, 3000},
		{"cover square from portrait", FitCover, 200, 200, 3000, 4000, 200, 200, 3000, 3000},
		{"cover wide box", FitCover, 300, 100, 400, 400, 300, 100, 400, 133},
		{"cover on tiny source", FitCover, 200, 200, 8, 8, 8, 8, 8, 8},
		{"cover keeps box aspect without enlarging", FitCover, 200, 100, 8, 8, 8, 4, 8, 4},
		{"cover small portrait source", FitCover, 200, 200, 100, 300, 100, 100, 100, 100},
		{"cover exact", FitCover, 200, 200, 200, 200, 200, 200, 200, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			crop, ow, oh := plan(tt.fit, tt.bw, tt.bh, tt.w, tt.h)
			if ow != tt.wantW || oh != tt.wantH {
				t.Errorf("output %dx%d, want %dx%d", ow, oh, tt.wantW, tt.wantH)
			}
			if crop.Dx() != tt.wantCropW || crop.Dy() != tt.cH {
				t.Errorf("crop %v, want %dx%d", crop, tt.wantCropW, tt.cH)
			}
			// Centred: equal margins, to within a pixel.
			if l, r := crop.Min.X, tt.w-crop.Max.X; abs(l-r) > 1 {
				t.Errorf("crop %v not centred horizontally in %d", crop, tt.w)
			}
			if top, b := crop.Min.Y, tt.h-crop.Max.Y; abs(top-b) > 1 {
				t.Errorf("crop %v not centred vertically in %d", crop, tt.h)
			}
		})
	}
}

func TestFitsThroughProcess(t *testing.T) {
	// Three vertical bands: a centred cover crop of a wide image is all green.
	bands := filled(300, 100, green)
	for y := 0; y < 100; y++ {
		for x := 0; x < 100; x++ {
			bands.SetNRGBA(x, y, red)
			bands.SetNRGBA(x+200, y, blue)
		}
	}
	e := newEngine(t,
		Variant{Name: "thumb", Width: 50, Height: 50, Fit: FitCover},
		Variant{Name: "wide", Width: 150},
		Variant{Name: "tall", Height: 20},
		Variant{Name: "box", Width: 60, Height: 60},
		Variant{Name: "huge", Width: 3000, Height: 3000, Fit: FitCover},
	)
	res := process(t, e, encodePNG(t, bands))
	want := map[string][2]int{"thumb": {50, 50}, "wide": {150, 50}, "tall": {60, 20}, "box": {60, 20}, "huge": {100, 100}}
	for _, o := range res.Outputs {
		m := decodeOutput(t, o)
		if d := want[o.Name]; o.Width != d[0] || o.Height != d[1] {
			t.Errorf("%s: %dx%d, want %dx%d", o.Name, o.Width, o.Height, d[0], d[1])
		}
		if o.Name == "thumb" || o.Name == "huge" {
			for _, p := range []image.Point{{0, 0}, {o.Width - 1, 0}, {o.Width / 2, o.Height / 2}, {o.Width - 1, o.Height - 1}} {
				if c := m.At(p.X, p.Y); !near(c, green, 40) {
					t.Errorf("%s: pixel %v is %v, want green (centred crop)", o.Name, p, color.NRGBAModel.Convert(c))
				}
			}
		}
	}
}

func TestNeverUpscales(t *testing.T) {
	for _, data := range [][]byte{encodeJPEG(t, filled(8, 8, red), 90), encodePNG(t, filled(8, 8, color.NRGBA{1, 2, 3, 4}))} {
		res := process(t, newEngine(t, DefaultVariants()...), data)
		for _, o := range res.Outputs {
			if o.Width > 8 || o.Height > 8 {
				t.Errorf("%s: %dx%d from an 8x8 source", o.Name, o.Width, o.Height)
			}
			decodeOutput(t, o)
		}
	}
}

func TestTransparency(t *testing.T) {
	// Left half transparent, right half opaque blue.
	m := filled(64, 32, color.NRGBA{255, 0, 0, 0})
	for y := 0; y < 32; y++ {
		for x := 32; x < 64; x++ {
			m.SetNRGBA(x, y, blue)
		}
	}
	e := newEngine(t,
		Variant{Name: "auto", Width: 32},
		Variant{Name: "jpeg", Width: 32, Format: FormatJPEG},
	)
	res := process(t, e, encodePNG(t, m))
	auto := res.Outputs[0]
	if auto.Format != FormatPNG {
		t.Fatalf("transparent source gave %s, want png", auto.Format)
	}
	am := decodeOutput(t, auto)
	if _, _, _, a := am.At(0, 8).RGBA(); a != 0 {
		t.Errorf("transparent corner has alpha %d, want 0", a>>8)
	}
	if c := am.At(31, 8); !near(c, blue, 8) {
		t.Errorf("opaque side is %v, want blue", c)
	}
	jm := decodeOutput(t, res.Outputs[1])
	if c := jm.At(1, 8); !near(c, white, 10) {
		t.Errorf("transparent area forced to JPEG is %v, want white (never black)", color.NRGBAModel.Convert(c))
	}
}

func TestQualityAndFormatChoice(t *testing.T) {
	noisy := image.NewNRGBA(image.Rect(0, 0, 128, 128))
	for i := range noisy.Pix {
		noisy.Pix[i] = uint8(i * 7919 % 251)
		if i%4 == 3 {
			noisy.Pix[i] = 255
		}
	}
	e := newEngine(t,
		Variant{Name: "low", Width: 128, Quality: 30},
		Variant{Name: "default", Width: 128},
		Variant{Name: "high", Width: 128, Quality: 95},
		Variant{Name: "png", Width: 128, Format: FormatPNG},
	)
	res := process(t, e, encodePNG(t, noisy))
	low, def, high, p := res.Outputs[0], res.Outputs[1], res.Outputs[2], res.Outputs[3]
	if !(len(low.Data) < len(def.Data) && len(def.Data) < len(high.Data)) {
		t.Errorf("sizes low %d, default %d, high %d: quality is not applied", len(low.Data), len(def.Data), len(high.Data))
	}
	for _, o := range res.Outputs[:3] {
		if o.Format != FormatJPEG {
			t.Errorf("%s: opaque source gave %s, want jpeg", o.Name, o.Format)
		}
	}
	if p.Format != FormatPNG {
		t.Errorf("png variant gave %s", p.Format)
	}
	decodeOutput(t, p)
}

func TestOutputsCarryNoMetadata(t *testing.T) {
	src := withSegment(encodeJPEG(t, filled(40, 30, red), 90), exifSegment(6, binary.BigEndian))
	e := newEngine(t, Variant{Name: "j", Width: 20}, Variant{Name: "p", Width: 20, Format: FormatPNG})
	res := process(t, e, src)
	if res.Source.Orientation != 6 {
		t.Fatalf("orientation %d, want 6 (the test input is wrong)", res.Source.Orientation)
	}
	for _, o := range res.Outputs {
		for _, leak := range []string{"Exif", "SecretCam", "GPS"} {
			if bytes.Contains(o.Data, []byte(leak)) {
				t.Errorf("%s output contains %q", o.Name, leak)
			}
		}
		if o.Format == FormatJPEG && jpegExif(o.Data) != nil {
			t.Errorf("%s output has an APP1 Exif segment", o.Name)
		}
		if o.Format == FormatPNG {
			for _, chunk := range []string{"eXIf", "tEXt", "iTXt", "zTXt"} {
				if bytes.Contains(o.Data, []byte(chunk)) {
					t.Errorf("%s output has a %s chunk", o.Name, chunk)
				}
			}
		}
	}
}

// Golden dimensions of the default variant set on real photographs
// (testdata/images/README.md says where they come from).
func TestRealPhotos(t *testing.T) {
	type dims struct{ w, h int }
	tests := []struct {
		file        string
		orientation int // inserted as an Exif segment when not zero
		source      dims
		want        map[string]dims
	}{
		{"friends.jpg", 0, dims{1065, 1600}, map[string]dims{"thumb": {200, 200}, "small": {480, 721}, "medium": {1024, 1538}, "large": {1065, 1600}}},
		{"seeding.jpg", 0, dims{1600, 900}, map[string]dims{"thumb": {200, 200}, "small": {480, 270}, "medium": {1024, 576}, "large": {1600, 900}}},
		{"wine.jpg", 0, dims{1067, 1600}, map[string]dims{"thumb": {200, 200}, "small": {480, 720}, "medium": {1024, 1536}, "large": {1067, 1600}}},
		{"friends.jpg", 6, dims{1600, 1065}, map[string]dims{"thumb": {200, 200}, "small": {480, 320}, "medium": {1024, 682}, "large": {1600, 1065}}},
	}
	e := newEngine(t, DefaultVariants()...)
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.file, tt.orientation), func(t *testing.T) {
			data := readTestdata(t, "images", tt.file)
			if tt.orientation != 0 {
				data = withSegment(data, exifSegment(tt.orientation, binary.LittleEndian))
			}
			res := process(t, e, data)
			if res.Source.Width != tt.source.w || res.Source.Height != tt.source.h {
				t.Errorf("source %dx%d, want %dx%d", res.Source.Width, res.Source.Height, tt.source.w, tt.source.h)
			}
			for _, o := range res.Outputs {
				decodeOutput(t, o)
				if d := tt.want[o.Name]; o.Width != d.w || o.Height != d.h || o.Format != FormatJPEG {
					t.Errorf("%s: %s %dx%d, want jpeg %dx%d", o.Name, o.Format, o.Width, o.Height, d.w, d.h)
				}
			}
		})
	}
}
