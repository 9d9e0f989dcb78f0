package imagecore

import (
	"bytes"
	"image"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/image/webp"
)

// Padding the lossless streams changes no pixel of a valid WebP, lossless,
// lossy or lossy with a lossless alpha plane, and leaves what is not a RIFF
// container alone.
func TestPadVP8LKeepsPixels(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "formats", "*.webp"))
	if len(files) < 3 {
		t.Fatalf("only %d WebP files in testdata/formats", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		padded := padVP8L(data)
		if len(padded) == len(data) && bytes.Contains(data, []byte("VP8L")) {
			t.Errorf("%s: a lossless stream was not padded", f)
		}
		want, err1 := webp.Decode(bytes.NewReader(data))
		got, err2 := webp.Decode(bytes.NewReader(padded))
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v / padded %v", f, err1, err2)
		}
		if !samePixels(want, got) {
			t.Errorf("%s: padding changed the pixels", f)
		}
	}
	for _, bad := range [][]byte{nil, []byte("RIFF"), []byte("RIFF\x10\x00\x00\x00WEBPVP8L\xff\xff\xff\x7f"), []byte("GIF89a")} {
		if got := padVP8L(bad); !bytes.Equal(got, bad) {
			t.Errorf("padVP8L(%q) = %q, want it unchanged", bad, got)
		}
	}
}

func samePixels(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if a.At(x, y) != b.At(x, y) {
				return false
			}
		}
	}
	return true
}
