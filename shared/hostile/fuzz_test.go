package hostile

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/settings"
)

var knownCodes = map[string]bool{
	string(imagecore.CodeEmpty): true, string(imagecore.CodeUnsupportedFormat): true, string(imagecore.CodeCorrupt): true,
	string(imagecore.CodeTooLarge): true, string(imagecore.CodeTooManyPixels): true, string(imagecore.CodeDimensionsTooLarge): true,
	string(imagecore.CodeTooComplex): true,
}

// FuzzHandle sends any upload, under any key, through the resize handler with a
// healthy S3. With nothing transient going wrong, every upload under the prefix
// must end with a manifest, ready or failed with a known code, and never be
// handed back for a retry: a retry here would be a permanent problem mistaken
// for a transient one, and would end in the DLQ instead of telling the user.
func FuzzHandle(f *testing.F) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		f.Fatal(err)
	}
	for i, e := range entries {
		if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil && e.Name() != "README.md" {
			f.Add([]string{"0123456789abcdef0123456789abcdef", "my photo.jpg", "a+b%c.png", "фото/日本.gif"}[i%4], b)
		}
	}
	env := settings.Default().ResizeEnv(uploadsBucket, outputBucket)
	env["MAX_PIXELS"] = "1000000" // keep each input cheap; the limits are exercised all the same
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		store := &objectStore{}
		h := newHandler(t, store, env)
		key := "uploads/" + name
		store.put(uploadsBucket, key, object{body: data, contentType: "image/jpeg"})
		resp, err := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{eventFor(t, "m", key, len(data))}})
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("Handle = %+v, %v: an upload was handed back with S3 healthy", resp, err)
		}
		id, ok := manifest.IDForUploadKey("uploads/", key)
		if !ok {
			return
		}
		m := readManifest(t, store, id)
		if m == nil {
			t.Fatalf("no manifest for %q", key)
		}
		switch m.Status {
		case manifest.StatusReady:
			if len(m.Variants) != len(imagecore.DefaultVariants()) {
				t.Fatalf("ready with %d variants", len(m.Variants))
			}
		case manifest.StatusFailed:
			if m.Error == nil || !knownCodes[m.Error.Code] || m.Error.Message == "" {
				t.Fatalf("failed with %+v", m.Error)
			}
		default:
			t.Fatalf("manifest status %q", m.Status)
		}
		for k := range store.objects {
			if b, rest, _ := strings.Cut(k, "/"); b == outputBucket && !strings.HasPrefix(rest, manifest.Prefix(id)) && rest != manifest.Key(id) {
				t.Fatalf("wrote %q outside %s and %s", rest, manifest.Prefix(id), manifest.Key(id))
			}
		}
	})
}
