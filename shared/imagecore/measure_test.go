package imagecore

import (
	"bytes"
	"context"
	"testing"
)

// TestVariantImagesEncodeAsProcess checks what imagepipe bench relies on when
// it times each encoder alone: the pixels Engine.VariantImages hands over,
// encoded with VariantImage.Encode, are byte for byte what Process wrote, on
// the planar path (an opaque JPEG) and the RGBA one (a WebP with alpha).
func TestVariantImagesEncodeAsProcess(t *testing.T) {
	e := newEngine(t,
		Variant{Name: "thumb", Width: 64, Height: 64, Fit: FitCover, Formats: []Format{FormatWebP, FormatAVIF}},
		Variant{Name: "small", Width: 120, Formats: []Format{FormatAVIF}},
		Variant{Name: "plain", Width: 90})
	for _, file := range [][]string{{"images", "seeding.jpg"}, {"formats", "yellow_rose.lossy-with-alpha.webp"}} {
		t.Run(file[1], func(t *testing.T) {
			images, res, err := e.VariantImages(context.Background(), readTestdata(t, file...))
			if err != nil {
				t.Fatal(err)
			}
			if len(images) != len(res.Outputs) {
				t.Fatalf("%d variant images, Process made %d outputs", len(images), len(res.Outputs))
			}
			for i, o := range res.Outputs {
				vi := images[i]
				if f := vi.PrimaryFormat(); f != o.Format {
					t.Errorf("%s: primary format %s, Process wrote %s", o.Name, f, o.Format)
				}
				want := map[Format][]byte{o.Format: o.Data}
				for _, a := range o.Alternates {
					want[a.Format] = a.Data
				}
				for f, data := range want {
					for range 2 { // twice: Encode must leave the pixels as they were
						b, err := vi.Encode(f)
						if err != nil {
							t.Fatalf("%s %s: %v", o.Name, f, err)
						}
						if !bytes.Equal(b, data) {
							t.Errorf("%s %s: Encode wrote %d bytes unlike Process's %d", o.Name, f, len(b), len(data))
						}
					}
				}
			}
		})
	}
}
