package imagecore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func newEngine(t *testing.T, variants ...Variant) *Engine {
	t.Helper()
	e, err := NewEngine(DefaultLimits(), variants)
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	return e
}

func process(t *testing.T, e *Engine, data []byte) *Result {
	t.Helper()
	res, err := e.Process(context.Background(), data)
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	if len(res.Outputs) != len(e.variants) {
		t.Fatalf("got %d outputs, want %d", len(res.Outputs), len(e.variants))
	}
	return res
}

func wantCode(t *testing.T, err error, code Code) {
	t.Helper()
	var ie *Error
	if !errors.As(err, &ie) {
		t.Fatalf("error %v is not an *imagecore.Error, want code %s", err, code)
	}
	if ie.Code != code {
		t.Fatalf("code %s (%v), want %s", ie.Code, err, code)
	}
	if ie.Message == "" {
		t.Fatalf("error with code %s has no message", code)
	}
}

// decodeOutput decodes an output as a client sees it (DecodeOutput), checking
// that its bytes are in the format it claims.
func decodeOutput(t *testing.T, o Output) image.Image {
	t.Helper()
	m, err := DecodeOutput(o.Format, o.Data)
	if err != nil {
		t.Fatalf("output %s: %v", o.Name, err)
	}
	if b := m.Bounds(); b.Dx() != o.Width || b.Dy() != o.Height {
		t.Fatalf("output %s: encoded %dx%d, reported %dx%d", o.Name, b.Dx(), b.Dy(), o.Width, o.Height)
	}
	return m
}

func encodeJPEG(t *testing.T, m image.Image, quality int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatalf("encode jpeg: %v", err)
	}
	return buf.Bytes()
}

func encodePNG(t *testing.T, m image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		t.Fatalf("encode png: %v", err)
	}
	return buf.Bytes()
}

// exifSegment builds an APP1 Exif segment holding IFD0 with an orientation tag
// and, to check that metadata is dropped, a camera-model string.
func exifSegment(orientation int, bo binary.ByteOrder) []byte {
	var tiff bytes.Buffer
	if bo == binary.LittleEndian {
		tiff.WriteString("II*\x00")
	} else {
		tiff.WriteString("MM\x00*")
	}
	w := func(v any) { _ = binary.Write(&tiff, bo, v) }
	w(uint32(8)) // IFD0 right after the header
	w(uint16(2)) // two entries
	model := []byte("SecretCam GPS 51.5N\x00")
	// 0x0110 Model, ASCII, stored after the IFD
	w(uint16(0x0110))
	w(uint16(2))
	w(uint32(len(model)))
	w(uint32(8 + 2 + 2*12 + 4))
	// 0x0112 Orientation, SHORT, 1
	w(uint16(tagOrientation))
	w(uint16(3))
	w(uint32(1))
	w(uint16(orientation))
	w(uint16(0))
	w(uint32(0)) // no next IFD
	tiff.Write(model)
	payload := append([]byte("Exif\x00\x00"), tiff.Bytes()...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	return append(seg, payload...)
}

// withSegment inserts a marker segment right after a JPEG's SOI.
func withSegment(jpg, seg []byte) []byte {
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

func readTestdata(t *testing.T, parts ...string) []byte {
	t.Helper()
	p := filepath.Join(append([]string{"..", "..", "testdata"}, parts...)...)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return b
}

func filled(w, h int, c color.NRGBA) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(m.Pix); i += 4 {
		m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return m
}

// near reports whether two colours are within tol on every channel (8-bit).
func near(a, b color.Color, tol int) bool {
	n1 := color.NRGBAModel.Convert(a).(color.NRGBA)
	n2 := color.NRGBAModel.Convert(b).(color.NRGBA)
	d := func(x, y uint8) bool { return abs(int(x)-int(y)) <= tol }
	return d(n1.R, n2.R) && d(n1.G, n2.G) && d(n1.B, n2.B) && d(n1.A, n2.A)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

var (
	red   = color.NRGBA{220, 20, 20, 255}
	green = color.NRGBA{20, 200, 40, 255}
	blue  = color.NRGBA{30, 40, 210, 255}
	white = color.NRGBA{255, 255, 255, 255}
)
