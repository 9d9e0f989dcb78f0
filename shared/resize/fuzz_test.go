package resize_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/resize"
)

// s3Body is the notification S3 sends for key, form-encoded as S3 encodes it.
func s3Body(bucket, encodedKey string) string {
	b, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{
		"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
		"s3": map[string]any{"bucket": map[string]any{"name": bucket}, "object": map[string]any{"key": encodedKey, "size": 1}},
	}}})
	return string(b)
}

// FuzzParseBody feeds arbitrary SQS bodies to the S3 event parser: it must never
// panic, and whatever it accepts has records that each name a bucket and a key.
func FuzzParseBody(f *testing.F) {
	for _, seed := range []string{
		s3Body("uploads", "uploads/0123456789abcdef0123456789abcdef"),
		s3Body("uploads", "uploads/my+holiday+photo%2B1%25.jpg"),
		s3Body("uploads", "uploads/%D1%84%D0%BE%D1%82%D0%BE.jpg"),
		s3Body("uploads", "uploads/bad%zzescape"),
		`{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-01-01T00:00:00.000Z","Bucket":"uploads"}`,
		`{"Records":[]}`, `{"Records":[{}]}`, `{"Records":null}`, `[]`, `null`, ``, `{`, `"x"`,
		`{"Records":[{"s3":{"bucket":{"name":"b"},"object":{"key":"%"}}}]}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		records, err := resize.ParseBody(body)
		if err != nil {
			if records != nil {
				t.Fatalf("error %v with %d records", err, len(records))
			}
			return
		}
		if len(records) == 0 {
			t.Fatal("accepted a body with no records")
		}
		for i, r := range records {
			if r.S3.Bucket.Name == "" || r.S3.Object.Key == "" {
				t.Fatalf("record %d accepted without bucket or key: %+v", i, r.S3)
			}
		}
	})
}

// FuzzEventKey sends any object key through an S3 event as S3 encodes it: the
// parser must give the key back exactly, and every object key derived from it
// must stay under variants/{id}/ with a well-formed ID.
func FuzzEventKey(f *testing.F) {
	for _, k := range []string{
		"uploads/0123456789abcdef0123456789abcdef", "uploads/my holiday photo.jpg", "uploads/a+b=c&d.jpg",
		"uploads/100% real.jpg", "uploads/фото/日本 ☃.jpg", "uploads/../../etc/passwd", "uploads/%2e%2e/x",
		"uploads/", "other/file.jpg", "uploads/\x00\xff", "uploads//double//slash",
	} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if key == "" {
			return
		}
		records, err := resize.ParseBody(s3Body("uploads", url.QueryEscape(key)))
		if err != nil {
			t.Fatalf("ParseBody of a well-formed event for %q: %v", key, err)
		}
		if len(records) != 1 {
			t.Fatalf("%d records", len(records))
		}
		got := records[0].S3.Object.URLDecodedKey
		if got != key {
			t.Fatalf("key %q came back as %q", key, got)
		}
		id, ok := manifest.IDForUploadKey("uploads/", got)
		if ok != (strings.HasPrefix(key, "uploads/") && key != "uploads/") {
			t.Fatalf("IDForUploadKey(%q) ok = %v", key, ok)
		}
		if !ok {
			return
		}
		if !manifest.ValidID(id) {
			t.Fatalf("IDForUploadKey(%q) = %q, not a valid ID", key, id)
		}
		prefix := manifest.Prefix(id)
		if k := manifest.VariantKey(id, "thumb", manifest.VariantTag(imagecore.Variant{Name: "thumb"}, key), "jpg"); !strings.HasPrefix(k, prefix) || strings.Contains(k, "..") {
			t.Fatalf("key %q for upload %q escapes %s", k, key, prefix)
		}
		if k := manifest.Key(id); k != manifest.ManifestsPrefix+id+".json" {
			t.Fatalf("manifest key %q for upload %q is not under %s", k, key, manifest.ManifestsPrefix)
		}
	})
}
