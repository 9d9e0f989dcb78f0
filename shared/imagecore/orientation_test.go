package imagecore

import (
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"testing"

	"github.com/imagepipe/imagepipe/shared/hostile"
)

func TestOrientation(t *testing.T) {
	const w, h = 80, 40 // stored, landscape
	stored := filled(w, h, white)
	quad := map[image.Point]color.NRGBA{{w / 4, h / 4}: red, {3 * w / 4, h / 4}: green, {w / 4, 3 * h / 4}: blue}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			switch {
			case x < w/2 && y < h/2:
				stored.SetNRGBA(x, y, red)
			case y < h/2:
				stored.SetNRGBA(x, y, green)
			case x < w/2:
				stored.SetNRGBA(x, y, blue)
			}
		}
	}
	plain := encodeJPEG(t, stored, 95)
	for o := 1; o <= 8; o++ {
		for _, bo := range []binary.ByteOrder{binary.BigEndian, binary.LittleEndian} {
			t.Run(fmt.Sprintf("%d/%v", o, bo), func(t *testing.T) {
				data := withSegment(plain, exifSegment(o, bo))
				e := newEngine(t,
					Variant{Name: "full", Width: 1000, Height: 1000},
					Variant{Name: "half", Width: 40, Height: 40},
					Variant{Name: "thumb", Width: 10, Height: 10, Fit: FitCover},
				)
				res := process(t, e, data)
				dw, dh := w, h
				if o >= 5 {
					dw, dh = h, w
				}
				if res.Source.Orientation != o || res.Source.Width != dw || res.Source.Height != dh {
					t.Fatalf("source %+v, want orientation %d, %dx%d", res.Source, o, dw, dh)
				}
				scale := map[string]int{"full": 1, "half": 2}
				for _, out := range res.Outputs[:2] {
					s := scale[out.Name]
					if out.Width != dw/s || out.Height != dh/s {
						t.Fatalf("%s: %dx%d, want %dx%d", out.Name, out.Width, out.Height, dw/s, dh/s)
					}
					m := decodeOutput(t, out)
					for p, c := range quad {
						x, y := hostile.Displayed(o, p.X, p.Y, w, h)
						if got := m.At(x/s, y/s); !near(got, c, 60) {
							t.Errorf("%s: stored %v should show at %d,%d as %v, got %v", out.Name, p, x/s, y/s, c, color.NRGBAModel.Convert(got))
						}
					}
				}
				if th := res.Outputs[2]; th.Width != 10 || th.Height != 10 {
					t.Errorf("thumb %dx%d, want 10x10", th.Width, th.Height)
				}
			})
		}
	}
}

func TestOrientationParsingIsDefensive(t *testing.T) {
	valid := exifSegment(6, binary.BigEndian)
	base := []byte{0xFF, 0xD8}
	tests := []struct {
		name string
		data []byte
		want int
	}{
		{"valid", append(append([]byte{}, base...), valid...), 6},
		{"no exif", []byte{0xFF, 0xD8, 0xFF, 0xDA, 0, 2}, 1},
		{"length past the end", []byte{0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF, 'E', 'x'}, 1},
		{"length below two", []byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x01}, 1},
		{"exif header only", []byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x08, 'E', 'x', 'i', 'f', 0, 0}, 1},
		{"ifd offset huge", append([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x10}, []byte("Exif\x00\x00MM\x00*\xff\xff\xff\xff")...), 1},
		{"ifd count past the end", append([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x12}, []byte("Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff")...), 1},
		{"bad byte order", append([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x10}, []byte("Exif\x00\x00XX\x00*\x00\x00\x00\x08")...), 1},
		{"fill bytes before the marker", append([]byte{0xFF, 0xD8, 0xFF, 0xFF}, valid[1:]...), 6},
	}
	// Every truncation of a valid segment must be survivable.
	for n := 0; n < len(valid); n++ {
		tests = append(tests, struct {
			name string
			data []byte
			want int
		}{fmt.Sprintf("truncated at %d", n), append(append([]byte{}, base...), valid[:n]...), 1})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := orientationOf(SourceJPEG, tt.data); got != tt.want {
				t.Errorf("orientation %d, want %d", got, tt.want)
			}
		})
	}
	// Out-of-range values are ignored.
	for _, v := range []int{0, 9, 255} {
		data := append(append([]byte{}, base...), exifSegment(v, binary.LittleEndian)...)
		if got := orientationOf(SourceJPEG, data); got != 1 {
			t.Errorf("orientation value %d gave %d, want 1", v, got)
		}
	}
}

func FuzzOrientation(f *testing.F) {
	f.Add(append([]byte{0xFF, 0xD8}, exifSegment(3, binary.LittleEndian)...))
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPEXIF\x08\x00\x00\x00II*\x00\x08\x00\x00\x00"))
	f.Add([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x08eXIfMM\x00*\x00\x00\x00\x08\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, format := range []string{SourceJPEG, SourceWebP, SourcePNG} {
			if o := orientationOf(format, b); o < 1 || o > 8 {
				t.Fatalf("orientation %d", o)
			}
		}
	})
}

func TestOrientationInWebPAndPNG(t *testing.T) {
	tiff := exifSegment(8, binary.LittleEndian)[4+6:] // drop marker, length and "Exif\0\0"
	webp := []byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00EXIF")
	webp = binary.LittleEndian.AppendUint32(webp, uint32(len(tiff)))
	webp = append(webp, tiff...)
	if got := orientationOf(SourceWebP, webp); got != 8 {
		t.Errorf("webp orientation %d, want 8", got)
	}
	pngData := []byte("\x89PNG\r\n\x1a\n")
	pngData = binary.BigEndian.AppendUint32(pngData, uint32(len(tiff)))
	pngData = append(pngData, "eXIf"...)
	pngData = append(pngData, tiff...)
	pngData = append(pngData, 0, 0, 0, 0)
	if got := orientationOf(SourcePNG, pngData); got != 8 {
		t.Errorf("png orientation %d, want 8", got)
	}
}
