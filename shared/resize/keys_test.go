package resize

import (
	"context"
	"strings"
	"testing"

	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/manifest"
)

// alternatesEngine makes one variant with a WebP and an AVIF encoding beside it.
type alternatesEngine struct{}

func (alternatesEngine) Process(context.Context, []byte) (*imagecore.Result, error) {
	return &imagecore.Result{
		Source: imagecore.SourceInfo{Format: "jpeg", Width: 400, Height: 300},
		Outputs: []imagecore.Output{{Name: "thumb", Format: imagecore.FormatJPEG, Width: 200, Height: 150, Data: []byte("jpeg-bytes"),
			Alternates: []imagecore.Alternate{{Format: "webp", Data: []byte("webp")}, {Format: "avif", Data: []byte("avif!")}}}},
	}, nil
}

// TestVariantObjects: every encoding of a variant is written under one tagged name
// with a year-long immutable Cache-Control, the manifest is never cached for long,
// and a change of the variant's settings moves it to a new key.
func TestVariantObjects(t *testing.T) {
	id := manifest.NewID()
	run := func(t *testing.T, variant imagecore.Variant) (*fakeStore, *manifest.Manifest) {
		t.Helper()
		h := newHarness(t)
		h.handler.engine = alternatesEngine{}
		h.handler.cfg.Variants = []imagecore.Variant{variant}
		h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
		if failed := h.run(t, context.Background(), s3Message("m", uploads, "uploads/"+id)); len(failed) != 0 {
			t.Fatalf("failed: %v\n%s", failed, h.logs)
		}
		m := h.manifest(t, id)
		if m == nil || len(m.Variants) != 1 {
			t.Fatalf("manifest %+v, want one variant", m)
		}
		return h.store, m
	}
	thumb := imagecore.Variant{Name: "thumb", Width: 200, Height: 200, Fit: imagecore.FitCover}
	store, m := run(t, thumb)
	v := m.Variants[0]
	base := strings.TrimSuffix(v.Key, ".jpg")
	if !strings.HasPrefix(base, manifest.Prefix(id)+"thumb-") || len(base) != len(manifest.Prefix(id)+"thumb-")+manifest.TagLen {
		t.Fatalf("variant key %q is not variants/{id}/thumb-{tag}.jpg", v.Key)
	}
	if len(v.Alternates) != 2 || v.Alternates[0].Key != base+".webp" || v.Alternates[1].Key != base+".avif" ||
		v.Alternates[0].Format != "webp" || v.Alternates[1].Bytes != 5 {
		t.Fatalf("alternates %+v, want webp and avif beside %s", v.Alternates, v.Key)
	}
	for _, key := range []string{v.Key, v.Alternates[0].Key, v.Alternates[1].Key} {
		o, ok := store.get(output, key)
		if !ok {
			t.Fatalf("%s not written", key)
		}
		if o.cache != manifest.VariantCacheControl {
			t.Errorf("%s: Cache-Control %q, want %q", key, o.cache, manifest.VariantCacheControl)
		}
	}
	if o, _ := store.get(output, manifest.Key(id)); o.cache != manifest.ManifestCacheControl {
		t.Errorf("manifest Cache-Control %q, want %q", o.cache, manifest.ManifestCacheControl)
	}

	better := thumb
	better.Quality = 95
	if _, m2 := run(t, better); m2.Variants[0].Key == v.Key {
		t.Errorf("quality 95 writes the same key %s as the default: a cached URL would change content", v.Key)
	}
	if _, m3 := run(t, thumb); m3.Variants[0].Key != v.Key {
		t.Errorf("the same settings give key %s, then %s: duplicates must agree", v.Key, m3.Variants[0].Key)
	}
}
