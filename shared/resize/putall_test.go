package resize

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/manifest"
)

// TestVariantsStoredBeforeTheManifest: the variants and alternates are written
// side by side, and the manifest only once every one of them is in place; when
// any of them fails there is no manifest and the message is retried, whichever
// file it was.
func TestVariantsStoredBeforeTheManifest(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failKey  string // part of the variant keys whose PUTs fail
		wantPuts int    // variant and alternate files stored
	}{
		{name: "all stored", wantPuts: 4},
		{name: "a primary fails", failKey: ".jpg"},
		{name: "an alternate fails", failKey: ".avif"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.engine.alts = []imagecore.Alternate{{Format: imagecore.FormatAVIF, Data: []byte("avif!")}}
			if tc.failKey != "" {
				h.store.fail = func(op, key string) error {
					if op == "put" && strings.HasPrefix(key, "variants/") && strings.Contains(key, tc.failKey) {
						return errors.New("SlowDown")
					}
					return nil
				}
			}
			id := manifest.NewID()
			h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
			failed := h.run(t, context.Background(), s3Message("m1", uploads, "uploads/"+id))
			m := h.manifest(t, id)
			if tc.failKey != "" {
				if len(failed) != 1 || m != nil {
					t.Fatalf("a failed variant PUT: retried %v, manifest %+v; want retried, no manifest", failed, m)
				}
				return
			}
			if len(failed) != 0 || m == nil || m.Status != manifest.StatusReady {
				t.Fatalf("retried %v, manifest %+v", failed, m)
			}
			// Every listed encoding exists, and was written before the manifest.
			var puts, manifestAt int
			for i, c := range h.store.calls {
				switch {
				case strings.HasPrefix(c, "put "+output+"/variants/"):
					puts++
					if manifestAt > 0 {
						t.Errorf("%s written after the manifest", c)
					}
				case c == "put "+output+"/"+manifest.Key(id):
					manifestAt = i
				}
			}
			if puts != tc.wantPuts || manifestAt == 0 {
				t.Errorf("%d variant files written, want %d; manifest written: %v", puts, tc.wantPuts, manifestAt > 0)
			}
			for _, v := range m.Variants {
				for _, key := range append([]string{v.Key}, v.Alternates[0].Key) {
					if _, ok := h.store.get(output, key); !ok {
						t.Errorf("%s listed but not stored", key)
					}
				}
			}
		})
	}
}
