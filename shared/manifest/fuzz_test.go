package manifest_test

import (
	"path"
	"strings"
	"testing"

	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/manifest"
)

// FuzzKeys checks key handling for any upload key and any variant name the
// configuration accepts: an ID is always well formed and stable, IDs made by the
// API map back to themselves, no variant key leaves variants/{id}/ and the
// manifest is always manifests/{id}.json.
func FuzzKeys(f *testing.F) {
	f.Add("uploads/0123456789abcdef0123456789abcdef", "thumb")
	f.Add("uploads/../../variants/0123456789abcdef0123456789abcdef/manifest.json", "large")
	f.Add("uploads/0123456789ABCDEF0123456789ABCDEF", "a-b_c")
	f.Add("uploads/фото 1+2%.jpg", "../x")
	f.Add("uploadsx", "manifest")
	f.Add("uploads/", "")
	f.Fuzz(func(t *testing.T, key, name string) {
		const prefix = "uploads/"
		id, ok := manifest.IDForUploadKey(prefix, key)
		if want := strings.HasPrefix(key, prefix) && len(key) > len(prefix); ok != want {
			t.Fatalf("IDForUploadKey(%q) ok = %v, want %v", key, ok, want)
		}
		if !ok {
			return
		}
		if !manifest.ValidID(id) {
			t.Fatalf("IDForUploadKey(%q) = %q: not 32 lowercase hex digits", key, id)
		}
		if again, _ := manifest.IDForUploadKey(prefix, key); again != id {
			t.Fatalf("IDForUploadKey(%q) is not stable: %q then %q", key, id, again)
		}
		if rest := strings.TrimPrefix(key, prefix); manifest.ValidID(rest) && id != rest {
			t.Fatalf("API key %q maps to %q, not its own ID", key, id)
		}
		if back, _ := manifest.IDForUploadKey(prefix, manifest.UploadKey(prefix, id)); back != id {
			t.Fatalf("UploadKey(%q) maps back to %q", id, back)
		}
		if k := manifest.Key(id); k != manifest.ManifestsPrefix+id+".json" || path.Clean(k) != k {
			t.Fatalf("manifest key %q (upload %q) is not %s{id}.json", k, key, manifest.ManifestsPrefix)
		}
		var keys []string
		if v := (imagecore.Variant{Name: name, Width: 10}); imagecore.ValidateVariants([]imagecore.Variant{v}) == nil {
			tag := manifest.VariantTag(v, key)
			for _, f := range []imagecore.Format{imagecore.FormatJPEG, imagecore.FormatPNG} {
				keys = append(keys, manifest.VariantKey(id, name, tag, f.Ext()))
			}
		}
		for _, k := range keys {
			if !strings.HasPrefix(k, manifest.Prefix(id)) || path.Clean(k) != k || strings.Count(k, "/") != 2 {
				t.Fatalf("output key %q (upload %q, variant %q) escapes %s", k, key, name, manifest.Prefix(id))
			}
		}
	})
}
