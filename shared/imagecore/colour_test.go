package imagecore

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/disintegration/imaging"
)

// The colour tests compare the engine with colour-managed references made by
// ImageMagick (LittleCMS) and libvips from the committed inputs under
// testdata/colour. `go test ./shared/imagecore -run TestColourTestdata
// -update-colour` remakes those inputs and references (it needs
// /usr/bin/convert, vips and vipsthumbnail, and icc-profiles-free); without the
// flag the test checks that the committed test profiles are what the profile
// writer makes.
var updateColour = flag.Bool("update-colour", false, "regenerate testdata/colour with ImageMagick and libvips")

func colourDir() string { return filepath.Join("..", "..", "testdata", "colour") }

func readColour(t *testing.T, name string) []byte {
	t.Helper()
	return readTestdata(t, "colour", name)
}

// testProfiles are the profiles the tests write themselves.
func testProfiles() map[string][]byte {
	return map[string][]byte{
		"displayp3-v4.icc": matrixProfile("imagepipe test Display P3", true, cicpPrimaries[12], iccPara(3, 2.4, 1/1.055, 0.055/1.055, 1/12.92, 0.04045)),
		"prophoto-v2.icc":  matrixProfile("imagepipe test ProPhoto", false, chromaticities{0.7347, 0.2653, 0.1596, 0.8404, 0.0366, 0.0001, 0.3457, 0.3585}, iccGamma(1.8)),
		"gray-gamma22.icc": grayProfile("imagepipe test gray gamma 2.2", 2.2),
		"swop-tr003.icc":   swopProfile(),
	}
}

// colourCases are the converted photos: name, profile to convert to, and
// whether the JPEG keeps the profile.
var colourCases = []struct {
	name, profile string
	keep          bool
}{
	{"adobergb", "compatibleWithAdobeRGB1998.icc", true},
	{"prophoto", "prophoto-v2.icc", true},
	{"displayp3", "displayp3-v4.icc", true},
	{"gray", "gray-gamma22.icc", true},
	{"cmyk-swop", "swop-tr003.icc", true},
	{"cmyk-noprofile", "swop-tr003.icc", false},
}

func TestColourTestdata(t *testing.T) {
	if !*updateColour {
		for name, want := range testProfiles() {
			if got := readColour(t, name); !bytes.Equal(got, want) {
				t.Errorf("%s differs from what the profile writer makes; run with -update-colour", name)
			}
		}
		return
	}
	dir := colourDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range testProfiles() {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	adobe, err := os.ReadFile("/usr/share/color/icc/compatibleWithAdobeRGB1998.icc")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "compatibleWithAdobeRGB1998.icc"), adobe, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	srgb := "/usr/share/color/icc/sRGB.icc"
	photo := filepath.Join("..", "..", "testdata", "images", "seeding.jpg")
	small := filepath.Join(t.TempDir(), "small.png")
	run("/usr/bin/convert", photo, "-resize", "320x", small)
	for _, c := range colourCases {
		prof := filepath.Join(dir, c.profile)
		for _, v := range []struct{ src, out string }{{photo, "seeding-" + c.name + ".jpg"}, {small, "small-" + c.name + ".jpg"}} {
			args := []string{v.src, "-profile", srgb, "-profile", prof}
			if !c.keep {
				args = append(args, "+profile", "*")
			}
			out := filepath.Join(dir, v.out)
			run("/usr/bin/convert", append(args, "-quality", "92", out)...)
		}
		// ImageMagick's (LittleCMS, perceptual) sRGB rendering of the small
		// file, through its profile or, without one, through the SWOP profile
		// the file was made with, as the engine's default reads untagged
		// CMYK: relative colorimetric with black-point compensation.
		in := filepath.Join(dir, "small-"+c.name+".jpg")
		args := []string{in}
		if !c.keep {
			args = append(args, "-profile", prof, "-intent", "Relative", "-black-point-compensation")
		}
		run("/usr/bin/convert", append(args, "-profile", srgb, "-type", "TrueColor", filepath.Join(dir, "small-"+c.name+".magick.png"))...)
	}
	// The ProPhoto case in the other containers that carry profiles: a 16-bit
	// PNG (iCCP) of the same pixels, and a lossy WebP (ICCP) with its own
	// reference.
	pp := filepath.Join(dir, "small-prophoto.jpg")
	run("/usr/bin/convert", pp, "-depth", "16", filepath.Join(dir, "small-prophoto-16bit.png"))
	run("cwebp", "-quiet", "-metadata", "icc", "-q", "95", pp, "-o", filepath.Join(dir, "small-prophoto.webp"))
	run("/usr/bin/convert", filepath.Join(dir, "small-prophoto.webp"), "-profile", srgb, "-type", "TrueColor", filepath.Join(dir, "small-prophoto-webp.magick.png"))
	// libvips' medium variants of the CMYK files, the figures the engine's
	// CMYK error is held to: its colour transform (the embedded profile, or
	// its default CMYK profile) then Lanczos-3 to 1024 wide, as sharp does.
	// (vipsthumbnail 8.14 refuses the embedded profile after its
	// shrink-on-load and falls back to the default.)
	tmp := filepath.Join(t.TempDir(), "srgb.v")
	for _, name := range []string{"cmyk-swop", "cmyk-noprofile"} {
		args := []string{"icc_transform", filepath.Join(dir, "seeding-"+name+".jpg"), tmp, "srgb"}
		if name == "cmyk-swop" {
			args = append(args, "--embedded")
		}
		run("vips", args...)
		run("vips", "resize", tmp, filepath.Join(dir, "seeding-"+name+".vips.png"), "0.64", "--kernel", "lanczos3")
	}
}

// rmse is the root-mean-square error of b against a over RGB, in per cent
// of full scale.
func rmse(t *testing.T, a, b image.Image) float64 {
	t.Helper()
	return 100 * math.Sqrt(meanSquaredRGB(t, a, b)) / 255
}

func decodeFile(t *testing.T, b []byte) image.Image {
	t.Helper()
	m, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Every colour case, rendered without resizing, matches ImageMagick's
// colour-managed conversion of the same file.
func TestColourMatchesImageMagick(t *testing.T) {
	e := newEngine(t, Variant{Name: "full", Width: 4000, Format: FormatPNG})
	for _, c := range colourCases {
		t.Run(c.name, func(t *testing.T) {
			res := process(t, e, readColour(t, "small-"+c.name+".jpg"))
			got := decodeOutput(t, res.Outputs[0])
			want := decodeFile(t, readColour(t, "small-"+c.name+".magick.png"))
			limit := 0.8 // per cent RMSE: LUT interpolation and JPEG decoder rounding
			if c.name == "cmyk-noprofile" {
				limit = 1.6 // the press default is the SWOP model itself, without the profile's 16-bit grids
			}
			if d := rmse(t, got, want); d > limit {
				t.Errorf("RMSE against ImageMagick %.2f%%, want <= %.2f%%", d, limit)
			} else {
				t.Logf("RMSE against ImageMagick %.2f%%", d)
			}
			if len(res.Notes) != 0 {
				t.Errorf("notes %q, want none", res.Notes)
			}
		})
	}
}

// PNG iCCP (16-bit) and WebP ICCP profiles are applied like JPEG ones.
func TestColourOtherContainers(t *testing.T) {
	e := newEngine(t, Variant{Name: "full", Width: 4000, Format: FormatPNG})
	for _, c := range []struct {
		file, ref string
		limit     float64
	}{
		{"small-prophoto-16bit.png", "small-prophoto.magick.png", 0.8},
		{"small-prophoto.webp", "small-prophoto-webp.magick.png", 1.5}, // libwebp upsamples chroma differently
	} {
		t.Run(c.file, func(t *testing.T) {
			res := process(t, e, readColour(t, c.file))
			if len(res.Notes) != 0 {
				t.Errorf("notes %q", res.Notes)
			}
			got := decodeOutput(t, res.Outputs[0])
			if d := rmse(t, got, decodeFile(t, readColour(t, c.ref))); d > c.limit {
				t.Errorf("RMSE against ImageMagick %.2f%%, want <= %.2f%%", d, c.limit)
			} else {
				t.Logf("RMSE against ImageMagick %.2f%%", d)
			}
		})
	}
}

// The scaled JPEG decoder converts at its reduced size: a 200-wide variant of
// each 1600-wide photo (decoded at 1/2) is close to ImageMagick's conversion
// of the photo resized to 320 first, resized to 200.
func TestColourScaledDecode(t *testing.T) {
	e := newEngine(t, Variant{Name: "small", Width: 200, Format: FormatPNG})
	for _, c := range colourCases {
		t.Run(c.name, func(t *testing.T) {
			data := readColour(t, "seeding-"+c.name+".jpg")
			if d, err := newJPEGDecoder(data); err != nil || jpegScales(SourceInfo{}, d, e.variants)[0] == 0 {
				t.Fatalf("the scaled decoder does not take %s (%v)", c.name, err)
			}
			got := decodeOutput(t, process(t, e, data).Outputs[0])
			want := imaging.Resize(decodeFile(t, readColour(t, "small-"+c.name+".magick.png")), 200, 113, imaging.Lanczos)
			limit := 1.5 // per cent: two different resizes and JPEG generations
			if c.name == "cmyk-noprofile" {
				limit = 2
			}
			if d := rmse(t, got, want); d > limit {
				t.Errorf("RMSE against ImageMagick %.2f%%, want <= %.2f%%", d, limit)
			} else {
				t.Logf("RMSE against ImageMagick %.2f%%", d)
			}
		})
	}
}

// Four-component JPEGs decoded at a reduced size match image/jpeg's full
// decode resized: Adobe CMYK (inverted) and YCCK.
func TestScaledCMYKMatchesStd(t *testing.T) {
	e := newEngine(t, Variant{Name: "small", Width: 200, Format: FormatPNG})
	std := *e
	std.stdJPEG = true
	for _, name := range []string{"seeding-cmyk-swop.jpg", "seeding-cmyk-noprofile.jpg"} {
		data := readColour(t, name)
		got := decodeOutput(t, process(t, e, data).Outputs[0])
		res, err := std.Process(context.Background(), data)
		if err != nil {
			t.Fatal(err)
		}
		if d := rmse(t, got, decodeOutput(t, res.Outputs[0])); d > 1 {
			t.Errorf("%s: scaled and full decodes differ by %.2f%% RMSE, want <= 1%%", name, d)
		}
	}
	// YCCK (Adobe transform 2): a flat colour, decoded at 1/8.
	ycck := readTestdata(t, "hostile", "ycck-64x64.jpg")
	small := newEngine(t, Variant{Name: "s", Width: 8, Format: FormatPNG})
	std = *small
	std.stdJPEG = true
	if d, err := newJPEGDecoder(ycck); err != nil || d.transform != 2 || jpegScales(SourceInfo{}, d, small.variants)[0] == 0 {
		t.Fatalf("ycck-64x64.jpg is not a YCCK file the scaled decoder reduces (%v)", err)
	}
	got := decodeOutput(t, process(t, small, ycck).Outputs[0])
	res, err := std.Process(context.Background(), ycck)
	if err != nil {
		t.Fatal(err)
	}
	want := decodeOutput(t, res.Outputs[0])
	if !near(got.At(4, 4), want.At(4, 4), 2) {
		t.Errorf("YCCK: scaled decode %v, image/jpeg %v", got.At(4, 4), want.At(4, 4))
	}
}

// The measure: the medium variant of a photo converted to another
// colour space, against a Lanczos resize of the sRGB original, comes within
// 35% of the sRGB file's own error (CMYK: within 15% of libvips' error).
func TestColourMediumRMSE(t *testing.T) {
	var medium Variant
	for _, v := range DefaultVariants() {
		if v.Name == "medium" {
			medium = v
		}
	}
	e := newEngine(t, medium)
	orig := decodeFile(t, readTestdata(t, "images", "seeding.jpg"))
	ref := imaging.Resize(orig, 1024, 576, imaging.Lanczos)
	errOf := func(data []byte) float64 {
		t.Helper()
		res := process(t, e, data)
		return rmse(t, ref, decodeOutput(t, res.Outputs[0]))
	}
	base := errOf(readTestdata(t, "images", "seeding.jpg"))
	t.Logf("sRGB original: %.2f%%", base)
	for _, c := range colourCases {
		if c.name == "gray" {
			continue // no colour to compare with
		}
		got := errOf(readColour(t, "seeding-"+c.name+".jpg"))
		limit, against := 1.35*base, "1.35 x the sRGB file's"
		if c.name == "cmyk-swop" || c.name == "cmyk-noprofile" {
			v := rmse(t, ref, decodeFile(t, readColour(t, "seeding-"+c.name+".vips.png")))
			t.Logf("%s: libvips %.2f%%", c.name, v)
			if c.name == "cmyk-swop" {
				limit, against = 1.15*v, "1.15 x libvips'"
			} else {
				limit, against = math.Max(1.15*v, limit), "the larger of 1.35 x the sRGB file's and 1.15 x libvips'"
			}
		}
		msg := fmt.Sprintf("%s: %.2f%% (limit %.2f%%, %s)", c.name, got, limit, against)
		if got > limit {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	}
}

// Lossy WebP is limited-range Y'CbCr: its decode matches libwebp's own
// (dwebp -nofancy) up to chroma upsampling, instead of coming out washed out.
func TestWebPFullRange(t *testing.T) {
	e := newEngine(t, Variant{Name: "full", Width: 4000, Format: FormatPNG})
	for _, name := range []string{"yellow_rose.lossy", "yellow_rose.lossy-with-alpha"} {
		got := decodeOutput(t, process(t, e, readTestdata(t, "formats", name+".webp")).Outputs[0])
		want := decodeFile(t, readTestdata(t, "formats", name+".dwebp.png"))
		if d := rmse(t, got, want); d > 1.2 { // it was 6 % before
			t.Errorf("%s: RMSE against libwebp %.2f%%, want <= 1.2%%", name, d)
		} else {
			t.Logf("%s: RMSE against libwebp %.2f%%", name, d)
		}
	}
}
