package hostile

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/imagepipe/imagepipe/shared/imagecore"
)

// outcome is what the image core must make of one hostile or odd file.
type outcome struct {
	file string
	code imagecore.Code // refused with this code, or "" for ready
	// When ready: the source as people see it, and whether outputs keep alpha.
	format      string
	w, h        int
	transparent bool
	orientation int
	quadrants   bool // upright, the top-left quadrant is red and the rest blue
	// decoded: refused only once decoding has begun (damage found late, or
	// refused by a WASM codec, whose instance's linear memory is a Go
	// allocation), so the refusal may allocate what the decode needs.
	decoded bool
	// note is a phrase one of Result.Notes must contain; "" means no notes.
	note string
}

var outcomes = []outcome{
	{file: "bomb-png-60000x60000.png", code: imagecore.CodeTooManyPixels},
	{file: "bomb-jpeg-sof-65000x65000.jpg", code: imagecore.CodeTooManyPixels},
	{file: "bomb-gif-screen-65535x65535.gif", code: imagecore.CodeTooManyPixels},
	{file: "bomb-webp-vp8x-40000x40000.webp", code: imagecore.CodeTooManyPixels},
	{file: "webp-vp8x-16777216x16777216.webp", code: imagecore.CodeCorrupt}, // x/image/webp refuses over 2^31 pixels
	{file: "png-chunk-2gb.png", code: imagecore.CodeCorrupt},
	{file: "wide-png-20000x10.png", code: imagecore.CodeDimensionsTooLarge},
	{file: "zero-size.png", code: imagecore.CodeCorrupt},
	{file: "truncated.jpg", code: imagecore.CodeCorrupt},
	{file: "truncated.png", code: imagecore.CodeCorrupt},
	{file: "empty.jpg", code: imagecore.CodeEmpty},
	{file: "text.jpg", code: imagecore.CodeUnsupportedFormat},
	{file: "page.html", code: imagecore.CodeUnsupportedFormat},
	{file: "junk.webp", code: imagecore.CodeCorrupt},
	{file: "gray-1x1.tif", code: imagecore.CodeUnsupportedFormat},
	{file: "rgb-2x2.bmp", code: imagecore.CodeUnsupportedFormat},
	{file: "animated-40x30.gif", format: "gif", w: 40, h: 30},
	{file: "cmyk-16x16.jpg", format: "jpeg", w: 16, h: 16},
	{file: "ycck-64x64.jpg", format: "jpeg", w: 64, h: 64},
	{file: "rgba16-24x20.png", format: "png", w: 24, h: 20, transparent: true},
	{file: "palette-trns-24x20.png", format: "png", w: 24, h: 20, transparent: true},
	{file: "gray-40x30.png", format: "png", w: 40, h: 30},
	{file: "gray-40x30.jpg", format: "jpeg", w: 40, h: 30},
	{file: "gps-64x48.jpg", format: "jpeg", w: 64, h: 48, orientation: 1},
	{file: "tiny-8x8.png", format: "png", w: 8, h: 8},
	{file: "icc-tag-past-end.jpg", format: "jpeg", w: 64, h: 48, note: "lies outside the profile"},
	{file: "icc-tag-4gb.jpg", format: "jpeg", w: 64, h: 48, note: "lies outside the profile"},
	{file: "icc-many-tags.jpg", format: "jpeg", w: 64, h: 48, note: "1000000 tags"},
	{file: "icc-clut-huge-grid.jpg", format: "jpeg", w: 16, h: 16, note: "lut tag needs"},
	{file: "icc-curve-4g-points.jpg", format: "jpeg", w: 64, h: 48, note: "curve of 4294967295 points"},
	{file: "icc-chunk-missing.jpg", format: "jpeg", w: 64, h: 48, note: "chunk 2 of 3 is missing"},
	{file: "icc-chunks-out-of-order.jpg", format: "jpeg", w: 64, h: 48},
	{file: "icc-png-inflate-bomb.png", format: "png", w: 32, h: 32, note: "inflates to over"},
	{file: "icc-png-wide-gamut.png", format: "png", w: 32, h: 32},
	{file: "orientation-1.jpg", format: "jpeg", w: 48, h: 32, orientation: 1, quadrants: true},
	{file: "orientation-2.jpg", format: "jpeg", w: 48, h: 32, orientation: 2, quadrants: true},
	{file: "orientation-3.jpg", format: "jpeg", w: 48, h: 32, orientation: 3, quadrants: true},
	{file: "orientation-4.jpg", format: "jpeg", w: 48, h: 32, orientation: 4, quadrants: true},
	{file: "orientation-5.jpg", format: "jpeg", w: 48, h: 32, orientation: 5, quadrants: true},
	{file: "orientation-6.jpg", format: "jpeg", w: 48, h: 32, orientation: 6, quadrants: true},
	{file: "orientation-7.jpg", format: "jpeg", w: 48, h: 32, orientation: 7, quadrants: true},
	{file: "orientation-8.jpg", format: "jpeg", w: 48, h: 32, orientation: 8, quadrants: true},
	// Scan bombs (docs/hostile.md): refused from a walk of the markers, before
	// any decoder spends the work; jpegwork_test.go in imagecore counts it.
	{file: "bomb-jpeg-scans-7000x7000.jpg", code: imagecore.CodeTooComplex},
	{file: "bomb-jpeg-refine-7000x7000.jpg", code: imagecore.CodeTooComplex},
	{file: "bomb-jpeg-cmyk-scans-7000x7000.jpg", code: imagecore.CodeTooComplex},
	{file: "bomb-jpeg-scans-stray-marker-7000x7000.jpg", code: imagecore.CodeTooComplex},
	{file: "jpeg-eob-scans-16-512x512.jpg", format: "jpeg", w: 512, h: 512},
	{file: "jpeg-eob-scans-stray-marker-512x512.jpg", code: imagecore.CodeCorrupt, decoded: true},
	{file: "webp-lossless-flat-512x512.webp", format: "webp", w: 512, h: 512},
	{file: "heif-meta-4gb.heic", code: imagecore.CodeCorrupt},
	{file: "heif-largesize-2e62.heic", code: imagecore.CodeCorrupt},
	{file: "heif-box-size-4.heic", code: imagecore.CodeCorrupt},
	{file: "heif-iinf-100000-items.heic", code: imagecore.CodeCorrupt},
	{file: "heif-grid-100000-tiles.heic", code: imagecore.CodeCorrupt},
	{file: "heif-grid-count-mismatch.heic", code: imagecore.CodeCorrupt},
	{file: "heif-grid-huge-tiles.heic", code: imagecore.CodeTooComplex},
	{file: "heif-extent-past-end.heic", code: imagecore.CodeCorrupt},
	{file: "heif-missing-property.heic", code: imagecore.CodeCorrupt},
	{file: "heif-no-meta.heic", code: imagecore.CodeCorrupt},
	{file: "avif-truncated.avif", code: imagecore.CodeCorrupt},
	{file: "avif-ispe-60000x60000.avif", code: imagecore.CodeTooManyPixels},
	{file: "avif-ispe-4294967295x1.avif", code: imagecore.CodeTooManyPixels},
	{file: "heic-ispe-0x0.heic", code: imagecore.CodeCorrupt},
	{file: "heic-junk-hevc-64x64.heic", code: imagecore.CodeCorrupt, decoded: true},
	{file: "avif-junk-av1-64x64.avif", code: imagecore.CodeCorrupt, decoded: true},
}

// refusalAllocCeiling bounds what refusing a file may allocate: the bombs claim
// gigabytes, and a refusal must cost no more than reading a header.
const refusalAllocCeiling = 4 << 20

// iccAllocCeiling bounds what processing a small image with a hostile
// profile may allocate (the press-default CMYK table is about 0.5 MB).
const iccAllocCeiling = 48 << 20

// decodedRefusalCeiling bounds a refusal by a WASM decoder of a 64x64 file:
// a fresh instance's memory, and the one-off compilation on first use.
const decodedRefusalCeiling = 160 << 20

// gpsLatitude is 48/1 51/1 as little-endian EXIF rationals, as gps-64x48.jpg stores them.
var gpsLatitude = []byte{48, 0, 0, 0, 1, 0, 0, 0, 51, 0, 0, 0, 1, 0, 0, 0}

func readHostile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newEngine(t testing.TB, limits imagecore.Limits) *imagecore.Engine {
	t.Helper()
	e, err := imagecore.NewEngine(limits, imagecore.DefaultVariants())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// process runs the engine and reports how many bytes it allocated.
func process(e *imagecore.Engine, data []byte) (res *imagecore.Result, allocated uint64, err error) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res, err = e.Process(context.Background(), data)
	runtime.ReadMemStats(&after)
	return res, after.TotalAlloc - before.TotalAlloc, err
}

func TestEngineOnHostileInput(t *testing.T) {
	covered := map[string]bool{}
	engine := newEngine(t, imagecore.DefaultLimits())
	for _, tc := range outcomes {
		covered[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			data := readHostile(t, tc.file)
			res, allocated, err := process(engine, data)
			if tc.code != "" {
				var refusal *imagecore.Error
				if !errors.As(err, &refusal) || refusal.Code != tc.code {
					t.Fatalf("Process = %v, want a refusal with code %s", err, tc.code)
				}
				t.Logf("refused (%s) after allocating %d bytes", refusal.Code, allocated)
				if refusal.Message == "" {
					t.Error("refusal has no message for a person")
				}
				ceiling := uint64(refusalAllocCeiling)
				if tc.decoded {
					ceiling = decodedRefusalCeiling
				}
				if allocated > ceiling {
					t.Errorf("refusing allocated %d bytes, over the ceiling of %d", allocated, ceiling)
				}
				return
			}
			if err != nil {
				t.Fatalf("Process: %v", err)
			}
			checkReady(t, tc, data, res)
			// A hostile profile costs no more than the image itself: the
			// tags claiming gigabytes are never read.
			if strings.HasPrefix(tc.file, "icc-") && allocated > iccAllocCeiling {
				t.Errorf("allocated %d bytes, over the ceiling of %d", allocated, iccAllocCeiling)
			}
		})
	}
	for _, f := range Files() {
		if !covered[f.Name] {
			t.Errorf("%s has no expected outcome", f.Name)
		}
	}
}

func checkReady(t *testing.T, tc outcome, input []byte, res *imagecore.Result) {
	t.Helper()
	notes := strings.Join(res.Notes, "\n")
	if tc.note == "" && notes != "" {
		t.Errorf("notes %q, want none", res.Notes)
	}
	if tc.note != "" && !strings.Contains(notes, tc.note) {
		t.Errorf("notes %q, want one saying %q", res.Notes, tc.note)
	}
	src := res.Source
	if src.Format != tc.format || src.Width != tc.w || src.Height != tc.h {
		t.Errorf("source = %s %dx%d, want %s %dx%d", src.Format, src.Width, src.Height, tc.format, tc.w, tc.h)
	}
	if tc.orientation != 0 && src.Orientation != tc.orientation {
		t.Errorf("orientation = %d, want %d", src.Orientation, tc.orientation)
	}
	if len(res.Outputs) != len(imagecore.DefaultVariants()) {
		t.Fatalf("%d outputs, want one per variant", len(res.Outputs))
	}
	for _, out := range res.Outputs {
		wantFormat := imagecore.FormatJPEG
		if tc.transparent {
			wantFormat = imagecore.FormatPNG
		}
		if out.Format != wantFormat {
			t.Errorf("%s: format %s, want %s", out.Name, out.Format, wantFormat)
		}
		if out.Width > src.Width || out.Height > src.Height || out.Width < 1 || out.Height < 1 {
			t.Errorf("%s: %dx%d from a %dx%d source (never upscaled, never empty)", out.Name, out.Width, out.Height, src.Width, src.Height)
		}
		m, kind, err := image.Decode(bytes.NewReader(out.Data))
		if err != nil || kind != string(out.Format) || m.Bounds().Dx() != out.Width || m.Bounds().Dy() != out.Height {
			t.Errorf("%s: decodes as %s %v, %v; want %s %dx%d", out.Name, kind, m.Bounds(), err, out.Format, out.Width, out.Height)
			continue
		}
		// No metadata survives: no Exif block, and none of the GPS bytes.
		if bytes.Contains(out.Data, []byte("Exif\x00\x00")) {
			t.Errorf("%s: output carries an EXIF block", out.Name)
		}
		if bytes.Contains(input, gpsLatitude) && bytes.Contains(out.Data, gpsLatitude) {
			t.Errorf("%s: output carries the input's GPS latitude", out.Name)
		}
		if tc.quadrants && out.Name != "thumb" {
			// Upright, the top-left quadrant is red and the rest blue.
			w, h := m.Bounds().Dx(), m.Bounds().Dy()
			for _, p := range []struct {
				x, y int
				red  bool
			}{{w / 8, h / 8, true}, {w - 1 - w/8, h / 8, false}, {w / 8, h - 1 - h/8, false}, {w - 1 - w/8, h - 1 - h/8, false}} {
				r, _, b, _ := m.At(p.x, p.y).RGBA()
				if (r > b) != p.red {
					t.Errorf("%s: pixel (%d,%d) red=%v, want %v: orientation applied wrongly", out.Name, p.x, p.y, r > b, p.red)
				}
			}
		}
		if tc.transparent {
			if _, _, _, a := m.At(out.Width-1, 0).RGBA(); a == 0xFFFF {
				t.Errorf("%s: transparency lost", out.Name)
			}
		}
	}
}

// TestJustOverTheByteLimit: a valid image one byte over the limit is refused
// before it is decoded, and one at the limit is processed.
func TestJustOverTheByteLimit(t *testing.T) {
	data := readHostile(t, "tiny-8x8.png")
	limits := imagecore.DefaultLimits()
	limits.MaxBytes = int64(len(data)) - 1
	_, allocated, err := process(newEngine(t, limits), data)
	var refusal *imagecore.Error
	if !errors.As(err, &refusal) || refusal.Code != imagecore.CodeTooLarge {
		t.Fatalf("one byte over: %v, want %s", err, imagecore.CodeTooLarge)
	}
	if allocated > refusalAllocCeiling {
		t.Errorf("refusing allocated %d bytes", allocated)
	}
	limits.MaxBytes = int64(len(data))
	if _, err := newEngine(t, limits).Process(context.Background(), data); err != nil {
		t.Errorf("at the limit: %v", err)
	}
}

// TestStdlibDecodersSeeTheBombs makes sure the ceiling above is meaningful: the
// standard decoders, asked to decode a bomb outright, would try to allocate far
// more than it (they fail on the token data only after sizing the image).
func TestStdlibDecodersSeeTheBombs(t *testing.T) {
	for _, name := range []string{"bomb-png-60000x60000.png", "bomb-jpeg-sof-65000x65000.jpg"} {
		data := readHostile(t, name)
		var cfg image.Config
		var err error
		if filepath.Ext(name) == ".png" {
			cfg, err = png.DecodeConfig(bytes.NewReader(data))
		} else {
			cfg, err = jpeg.DecodeConfig(bytes.NewReader(data))
		}
		if err != nil {
			t.Fatal(err)
		}
		if need := int64(cfg.Width) * int64(cfg.Height) * 3; need < 1000*refusalAllocCeiling {
			t.Errorf("%s would decode to only %d bytes; not a bomb", name, need)
		}
	}
}
