package manifest

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/imagepipe/imagepipe/shared/imagecore"
)

func TestIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if !ValidID(id) || seen[id] {
			t.Fatalf("id %q invalid or repeated", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "../x", strings.Repeat("A", 32), strings.Repeat("a", 31), strings.Repeat("a", 33), strings.Repeat("g", 32)} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}

func TestIDForUploadKey(t *testing.T) {
	id := NewID()
	tests := []struct {
		key    string
		ok     bool
		sameAs string // the id must equal this, when set
	}{
		{key: "uploads/" + id, ok: true, sameAs: id},
		{key: "uploads/my cat+dog é.jpg", ok: true},
		{key: "uploads/../../variants/x/manifest.json", ok: true},
		{key: "uploads/" + strings.ToUpper(id), ok: true},
		{key: "uploads/", ok: false},
		{key: "other/" + id, ok: false},
		{key: "uploadsX/" + id, ok: false},
	}
	for _, tc := range tests {
		got, ok := IDForUploadKey("uploads/", tc.key)
		if ok != tc.ok {
			t.Errorf("%q: ok %v, want %v", tc.key, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		if !ValidID(got) {
			t.Errorf("%q: id %q is not a valid id, so it could escape variants/", tc.key, got)
		}
		if tc.sameAs != "" && got != tc.sameAs {
			t.Errorf("%q: id %q, want %q", tc.key, got, tc.sameAs)
		}
		again, _ := IDForUploadKey("uploads/", tc.key)
		if again != got {
			t.Errorf("%q: id not stable", tc.key)
		}
	}
	a, _ := IDForUploadKey("uploads/", "uploads/a.jpg")
	b, _ := IDForUploadKey("uploads/", "uploads/b.jpg")
	if a == b {
		t.Error("different keys share an id")
	}
}

func TestKeys(t *testing.T) {
	id := NewID()
	if got := Key(id); got != "manifests/"+id+".json" || strings.HasPrefix(got, VariantsPrefix) {
		t.Errorf("Key = %q: want manifests/{id}.json, outside %s", got, VariantsPrefix)
	}
	if got := VariantKey(id, "thumb", "0a1b2c3d", "jpg"); got != "variants/"+id+"/thumb-0a1b2c3d.jpg" || !strings.HasPrefix(got, Prefix(id)) {
		t.Errorf("VariantKey = %q", got)
	}
	if got := UploadKey("uploads/", id); got != "uploads/"+id {
		t.Errorf("UploadKey = %q", got)
	}
}

func TestKeyBaseName(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"uploads/cat.jpg", "cat.jpg"},
		{"uploads/trip/day 1/é+cat.JPG", "é+cat.JPG"},
		{"cat.jpg", "cat.jpg"},
		{"uploads/folder/", ""},
		{"", ""},
	} {
		if got := KeyBaseName(tc.key); got != tc.want {
			t.Errorf("KeyBaseName(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}

// TestVariantTag checks that the tag changes with everything that shapes the bytes
// and with nothing else.
func TestVariantTag(t *testing.T) {
	base := imagecore.Variant{Name: "thumb", Width: 200, Height: 200, Fit: imagecore.FitCover}
	tag := VariantTag(base, `"etag-1"`)
	if len(tag) != TagLen || strings.Trim(tag, "0123456789abcdef") != "" {
		t.Fatalf("tag %q: want %d lowercase hex digits", tag, TagLen)
	}
	if again := VariantTag(base, `"etag-1"`); again != tag {
		t.Fatalf("tag not stable: %q then %q", tag, again)
	}
	changes := map[string]func(v *imagecore.Variant) string{
		"width":   func(v *imagecore.Variant) string { v.Width = 201; return `"etag-1"` },
		"height":  func(v *imagecore.Variant) string { v.Height = 100; return `"etag-1"` },
		"fit":     func(v *imagecore.Variant) string { v.Fit = imagecore.FitInside; return `"etag-1"` },
		"format":  func(v *imagecore.Variant) string { v.Format = imagecore.FormatPNG; return `"etag-1"` },
		"quality": func(v *imagecore.Variant) string { v.Quality = 90; return `"etag-1"` },
		"formats": func(v *imagecore.Variant) string { v.Formats = []imagecore.Format{"webp"}; return `"etag-1"` },
		"source":  func(v *imagecore.Variant) string { return `"etag-2"` },
	}
	for what, change := range changes {
		v := base
		etag := change(&v)
		if got := VariantTag(v, etag); got == tag {
			t.Errorf("a change of %s keeps the tag %q: an old URL would serve new bytes", what, got)
		}
	}
}

// fakeGetter serves objects by key and says NoSuchKey otherwise.
type fakeGetter map[string]string

func (f fakeGetter) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	body, ok := f[*in.Key]
	if !ok {
		return nil, &types.NoSuchKey{}
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(strings.NewReader(body))}, nil
}

// TestReadFindsLegacyManifests: an image processed before manifests moved to
// manifests/ still has a status.
func TestReadFindsLegacyManifests(t *testing.T) {
	id, old, none := NewID(), NewID(), NewID()
	s3c := fakeGetter{
		Key(id):        `{"id":"` + id + `","status":"ready"}`,
		LegacyKey(id):  `{"id":"` + id + `","status":"failed"}`,
		LegacyKey(old): `{"id":"` + old + `","status":"ready"}`,
	}
	for _, tc := range []struct {
		id   string
		want Status
	}{{id, StatusReady}, {old, StatusReady}, {none, ""}} {
		m, err := Read(context.Background(), s3c, "out", tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if got := Status(""); m != nil {
			got = m.Status
			if got != tc.want {
				t.Errorf("%s: status %q, want %q", tc.id, got, tc.want)
			}
		} else if tc.want != "" {
			t.Errorf("%s: no manifest, want %q", tc.id, tc.want)
		}
	}
}
