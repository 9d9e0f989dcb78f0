package delivery

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/imagepipe/imagepipe/shared/manifest"
)

const id = "0123456789abcdef0123456789abcdef"

func TestVariantURL(t *testing.T) {
	const base = "https://d111111abcdef8.cloudfront.net"
	key := func(ext string) string { return manifest.VariantKey(id, "thumb", "0a1b2c3d", ext) }
	alt := func(format, ext string) manifest.Alternate {
		return manifest.Alternate{Format: format, Key: key(ext), Bytes: 1}
	}
	tests := []struct {
		name string
		v    manifest.Variant
		want string
	}{
		{"primary only", manifest.Variant{Name: "thumb", Format: "jpeg", Key: key("jpg")}, "/thumb-0a1b2c3d.jpg"},
		{"webp and avif, listed best first", manifest.Variant{Name: "thumb", Format: "jpeg", Key: key("jpg"),
			Alternates: []manifest.Alternate{alt("webp", "webp"), alt("avif", "avif")}}, "/thumb-0a1b2c3d.avif.webp.jpg"},
		{"png primary with webp", manifest.Variant{Name: "thumb", Format: "png", Key: key("png"),
			Alternates: []manifest.Alternate{alt("webp", "webp")}}, "/thumb-0a1b2c3d.webp.png"},
		{"an unknown format is left out", manifest.Variant{Name: "thumb", Format: "jpeg", Key: key("jpg"),
			Alternates: []manifest.Alternate{alt("jxl", "jxl"), alt("avif", "avif")}}, "/thumb-0a1b2c3d.avif.jpg"},
		{"an alternate under another name is left out", manifest.Variant{Name: "thumb", Format: "jpeg", Key: key("jpg"),
			Alternates: []manifest.Alternate{{Format: "webp", Key: manifest.VariantKey(id, "thumb", "ffffffff", "webp")}}}, "/thumb-0a1b2c3d.jpg"},
		{"a format whose key has another extension is left out", manifest.Variant{Name: "thumb", Format: "jpeg", Key: key("jpg"),
			Alternates: []manifest.Alternate{alt("avif", "webp")}}, "/thumb-0a1b2c3d.jpg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := VariantURL(base, tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if want := base + "/" + id + tc.want; got != want {
				t.Errorf("VariantURL = %q, want %q", got, want)
			}
		})
	}
	for _, bad := range []string{"manifests/" + id + ".json", "variants/" + id + "/thumb.jpg", "variants/" + id + "/manifest.json",
		"variants/" + id + "/thumb-0a1b2c3d.gif", "variants/" + id + "/thumb-0A1B2C3D.jpg", "variants/" + id, "variants/" + id + "/a/b.jpg", "variants/../x.jpg", "uploads/x.jpg"} {
		if _, err := VariantURL(base, manifest.Variant{Name: "x", Key: bad}); !errors.Is(err, ErrNotVariant) {
			t.Errorf("VariantURL of key %q: err %v, want ErrNotVariant", bad, err)
		}
		if _, err := ObjectURL(base, bad); !errors.Is(err, ErrNotVariant) {
			t.Errorf("ObjectURL of key %q: err %v, want ErrNotVariant", bad, err)
		}
	}
	if got, _ := ObjectURL(base, key("webp")); got != base+"/"+id+"/thumb-0a1b2c3d.webp" {
		t.Errorf("ObjectURL = %q", got)
	}
}

func TestCheckBase(t *testing.T) {
	for base, ok := range map[string]bool{
		"https://d111111abcdef8.cloudfront.net": true,
		"https://images.example.com":            true,
		"http://127.0.0.1:8081":                 true,
		"https://images.example.com/":           false,
		"images.example.com":                    false,
		"ftp://images.example.com":              false,
		"https://images.example.com?x=1":        false,
		"https://user@images.example.com":       false,
		"":                                      false,
	} {
		if err := CheckBase(base); (err == nil) != ok {
			t.Errorf("CheckBase(%q) = %v, want ok=%v", base, err, ok)
		}
	}
}

// TestFunctionAgrees: the JavaScript knows the same encodings and preference as
// this package, so URLs made here are always understood there.
func TestFunctionAgrees(t *testing.T) {
	if !strings.Contains(FunctionCode, "var PREFERENCE = ['"+strings.Join(Preference, "', '")+"'];") {
		t.Errorf("negotiate.js PREFERENCE differs from delivery.Preference %v", Preference)
	}
	for ext, typ := range ContentTypes {
		if !strings.Contains(FunctionCode, ext+": '"+typ+"'") {
			t.Errorf("negotiate.js does not map %s to %s", ext, typ)
		}
	}
	for format, ext := range Exts {
		if _, ok := ContentTypes[ext]; !ok {
			t.Errorf("format %s: extension %s has no content type", format, ext)
		}
	}
	if !strings.Contains(FunctionCode, "[0-9a-f]{"+strconv.Itoa(manifest.TagLen)+"}") {
		t.Errorf("negotiate.js does not expect %d-digit tags", manifest.TagLen)
	}
}
