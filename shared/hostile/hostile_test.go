package hostile

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

const dir = "../../testdata/hostile"

// TestTestdataUpToDate keeps the committed files identical to what this package
// builds, so the description of each file is the code that made it.
func TestTestdataUpToDate(t *testing.T) {
	made := map[string]bool{"README.md": true}
	for _, f := range Files() {
		made[f.Name] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !made[e.Name()] {
			t.Errorf("%s is in %s but the generator does not make it", e.Name(), dir)
		}
	}
	for _, f := range Files() {
		got, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Errorf("%v (run go generate ./shared/hostile)", err)
			continue
		}
		if !bytes.Equal(got, f.Data) {
			t.Errorf("%s differs from what the generator makes (run go generate ./shared/hostile)", f.Name)
		}
		if len(f.Data) > 64<<10 {
			t.Errorf("%s is %d bytes; hostile files stay tiny", f.Name, len(f.Data))
		}
	}
}

func file(t *testing.T, name string) []byte {
	t.Helper()
	for _, f := range Files() {
		if f.Name == name {
			return f.Data
		}
	}
	t.Fatalf("no file %s", name)
	return nil
}

// TestFilesAreWhatTheySay checks each generated file with the standard library's
// decoders, independently of the image core under test.
func TestFilesAreWhatTheySay(t *testing.T) {
	configs := []struct {
		name   string
		decode func([]byte) (image.Config, error)
		w, h   int
	}{
		{"bomb-png-60000x60000.png", pngConfig, 60000, 60000},
		{"bomb-jpeg-sof-65000x65000.jpg", jpegConfig, 65000, 65000},
		{"bomb-gif-screen-65535x65535.gif", gifConfig, 65535, 65535},
		{"wide-png-20000x10.png", pngConfig, 20000, 10},
		{"truncated.jpg", jpegConfig, 64, 48},
		{"truncated.png", pngConfig, 32, 32},
		{"animated-40x30.gif", gifConfig, 40, 30},
		{"cmyk-16x16.jpg", jpegConfig, 16, 16},
		{"rgba16-24x20.png", pngConfig, 24, 20},
		{"palette-trns-24x20.png", pngConfig, 24, 20},
		{"gps-64x48.jpg", jpegConfig, 64, 48},
		{"tiny-8x8.png", pngConfig, 8, 8},
		{"orientation-1.jpg", jpegConfig, 48, 32},
		{"orientation-6.jpg", jpegConfig, 32, 48},
	}
	for _, c := range configs {
		cfg, err := c.decode(file(t, c.name))
		if err != nil || cfg.Width != c.w || cfg.Height != c.h {
			t.Errorf("%s: config %dx%d, %v; want %dx%d", c.name, cfg.Width, cfg.Height, err, c.w, c.h)
		}
	}
	if _, err := png.DecodeConfig(bytes.NewReader(file(t, "zero-size.png"))); err == nil {
		t.Error("zero-size.png: the PNG decoder accepts a 0x0 header")
	}
	for _, name := range []string{"truncated.jpg", "truncated.png"} {
		if _, _, err := image.Decode(bytes.NewReader(file(t, name))); err == nil {
			t.Errorf("%s decodes fully", name)
		}
	}

	m, err := jpeg.Decode(bytes.NewReader(file(t, "cmyk-16x16.jpg")))
	if err != nil {
		t.Fatalf("cmyk-16x16.jpg: %v", err)
	}
	cmyk, ok := m.(*image.CMYK)
	if !ok {
		t.Fatalf("cmyk-16x16.jpg decodes as %T, want *image.CMYK", m)
	}
	if got, want := cmyk.CMYKAt(9, 9), (color.CMYK{0, 200, 200, 0}); got != want {
		t.Errorf("cmyk-16x16.jpg pixel = %v, want %v", got, want)
	}
	m, err = jpeg.Decode(bytes.NewReader(file(t, "ycck-64x64.jpg")))
	if err != nil {
		t.Fatalf("ycck-64x64.jpg: %v", err)
	}
	if c, ok := m.(*image.CMYK); !ok {
		t.Errorf("ycck-64x64.jpg decodes as %T, want *image.CMYK", m)
	} else if got := c.CMYKAt(9, 9); got.C > 2 || got.M < 198 || got.M > 202 || got.Y < 198 || got.Y > 202 || got.K != 0 {
		t.Errorf("ycck-64x64.jpg pixel = %v, want about {0 200 200 0}", got)
	}

	g, err := gif.DecodeAll(bytes.NewReader(file(t, "animated-40x30.gif")))
	if err != nil || len(g.Image) != 3 {
		t.Errorf("animated-40x30.gif: %v, want 3 frames", err)
	}

	p, err := png.Decode(bytes.NewReader(file(t, "rgba16-24x20.png")))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.(*image.NRGBA64); !ok {
		t.Errorf("rgba16-24x20.png decodes as %T, want 16-bit NRGBA64", p)
	}
	if _, _, _, a := p.At(23, 0).RGBA(); a != 0 {
		t.Errorf("rgba16-24x20.png right half alpha = %d, want 0", a)
	}
	pal, err := png.Decode(bytes.NewReader(file(t, "palette-trns-24x20.png")))
	if err != nil {
		t.Fatal(err)
	}
	if pm, ok := pal.(*image.Paletted); !ok {
		t.Errorf("palette-trns-24x20.png decodes as %T, want paletted", pal)
	} else if _, _, _, a := pm.Palette[0].RGBA(); a != 0 {
		t.Errorf("palette entry 0 alpha = %d, want 0 (tRNS)", a)
	}
	if gps := file(t, "gps-64x48.jpg"); !bytes.Contains(gps, []byte("Exif\x00\x00")) || !bytes.Contains(gps, []byte{0x25, 0x88}) {
		t.Error("gps-64x48.jpg carries no Exif GPS pointer")
	}

	// Each orientation file, turned upright as a viewer would, shows red top-left.
	for o := 1; o <= 8; o++ {
		name := "orientation-" + string(rune('0'+o)) + ".jpg"
		m, err := jpeg.Decode(bytes.NewReader(file(t, name)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b := m.Bounds()
		for _, probe := range []struct {
			ux, uy int
			red    bool
		}{{4, 4, true}, {44, 4, false}, {4, 28, false}, {44, 28, false}} {
			found := false
			for sy := 0; sy < b.Dy() && !found; sy++ {
				for sx := 0; sx < b.Dx(); sx++ {
					if ux, uy := Displayed(o, sx, sy, b.Dx(), b.Dy()); ux == probe.ux && uy == probe.uy {
						r, _, bl, _ := m.At(sx, sy).RGBA()
						if (r > bl) != probe.red {
							t.Errorf("%s: upright (%d,%d) red=%v, want %v", name, probe.ux, probe.uy, r > bl, probe.red)
						}
						found = true
						break
					}
				}
			}
		}
	}
}

func pngConfig(b []byte) (image.Config, error)  { return png.DecodeConfig(bytes.NewReader(b)) }
func jpegConfig(b []byte) (image.Config, error) { return jpeg.DecodeConfig(bytes.NewReader(b)) }
func gifConfig(b []byte) (image.Config, error)  { return gif.DecodeConfig(bytes.NewReader(b)) }

// TestScanFilesAreWhatTheySay checks the scan bombs' frames with image/jpeg
// and counts their scans (SOS markers: entropy-coded data never holds 0xFFDA).
func TestScanFilesAreWhatTheySay(t *testing.T) {
	for _, c := range []struct {
		name  string
		side  int
		comps int
		scans int
		stray bool
	}{
		{"bomb-jpeg-scans-7000x7000.jpg", 7000, 1, 1100, false},
		{"bomb-jpeg-refine-7000x7000.jpg", 7000, 1, 401, false},
		{"bomb-jpeg-cmyk-scans-7000x7000.jpg", 7000, 4, 480, false},
		{"bomb-jpeg-scans-stray-marker-7000x7000.jpg", 7000, 1, 1100, true},
		{"jpeg-eob-scans-16-512x512.jpg", 512, 1, 16, false},
		{"jpeg-eob-scans-stray-marker-512x512.jpg", 512, 1, 12, true},
	} {
		data := file(t, c.name)
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
		if err != nil || cfg.Width != c.side || cfg.Height != c.side {
			t.Errorf("%s: config %dx%d, %v; want %dx%d", c.name, cfg.Width, cfg.Height, err, c.side, c.side)
		}
		if c.comps == 4 && cfg.ColorModel != color.CMYKModel {
			t.Errorf("%s: colour model %v, want CMYK", c.name, cfg.ColorModel)
		}
		if n := bytes.Count(data, []byte{0xFF, 0xDA}); n != c.scans {
			t.Errorf("%s: %d scans, want %d", c.name, n, c.scans)
		}
		if got := bytes.Contains(data, []byte{0xFF, 0x4F}); got != c.stray {
			t.Errorf("%s: stray marker %v, want %v", c.name, got, c.stray)
		}
	}
}
