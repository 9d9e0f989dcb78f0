package hostile

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/metrics"
	"github.com/imagepipe/imagepipe/shared/resize"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// objectStore is an in-memory S3 holding what the handler reads and writes.
type objectStore struct {
	mu      sync.Mutex
	objects map[string]object // "bucket/key"
}

type object struct {
	body        []byte
	contentType string
	meta        map[string]string
}

func (s *objectStore) put(bucket, key string, o object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.objects == nil {
		s.objects = map[string]object{}
	}
	s.objects[bucket+"/"+key] = o
}

func (s *objectStore) get(bucket, key string) (object, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[bucket+"/"+key]
	return o, ok
}

func etag(b []byte) string {
	return strconv.Quote(fmt.Sprintf("%x-%d", len(b), bytes.Count(b, []byte{0})))
}

func (s *objectStore) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	o, ok := s.get(aws.ToString(in.Bucket), aws.ToString(in.Key))
	if !ok {
		return nil, &types.NotFound{}
	}
	return &s3.HeadObjectOutput{ContentLength: aws.Int64(int64(len(o.body))), ContentType: aws.String(o.contentType),
		ETag: aws.String(etag(o.body)), Metadata: o.meta, LastModified: aws.Time(time.Now().Add(-time.Second))}, nil
}

func (s *objectStore) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	o, ok := s.get(aws.ToString(in.Bucket), aws.ToString(in.Key))
	if !ok {
		return nil, &types.NoSuchKey{}
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(o.body)), ContentLength: aws.Int64(int64(len(o.body))),
		ContentType: aws.String(o.contentType), ETag: aws.String(etag(o.body))}, nil
}

func (s *objectStore) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	b, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	s.put(aws.ToString(in.Bucket), aws.ToString(in.Key), object{body: b, contentType: aws.ToString(in.ContentType), meta: in.Metadata})
	return &s3.PutObjectOutput{}, nil
}

const (
	uploadsBucket = "uploads"
	outputBucket  = "output"
)

// newHandler builds the resize handler from the environment a deployment gives it.
func newHandler(t *testing.T, store resize.ObjectStore, env map[string]string) *resize.Handler {
	t.Helper()
	cfg, err := resize.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	h, err := resize.New(cfg, store, slog.New(slog.NewTextHandler(io.Discard, nil)), metrics.NewEmitter(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// eventFor is the SQS message S3 sends for a new object, the key form-encoded as
// S3 encodes it (spaces as '+', everything else non-alphanumeric as %XX).
func eventFor(t *testing.T, messageID, key string, size int) events.SQSMessage {
	t.Helper()
	ev := map[string]any{"Records": []any{map[string]any{
		"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1", "eventName": "ObjectCreated:Put",
		"eventTime": time.Now().UTC().Format(time.RFC3339Nano),
		"s3": map[string]any{
			"s3SchemaVersion": "1.0",
			"bucket":          map[string]any{"name": uploadsBucket, "arn": "arn:aws:s3:::" + uploadsBucket},
			"object":          map[string]any{"key": url.QueryEscape(key), "size": size, "sequencer": "00A1"},
		},
	}}}
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return events.SQSMessage{MessageId: messageID, Body: string(body), Attributes: map[string]string{"ApproximateReceiveCount": "1"}}
}

func readManifest(t *testing.T, store *objectStore, id string) *manifest.Manifest {
	t.Helper()
	o, ok := store.get(outputBucket, manifest.Key(id))
	if !ok {
		return nil
	}
	var m manifest.Manifest
	if err := json.Unmarshal(o.body, &m); err != nil {
		t.Fatalf("manifest %s: %v", id, err)
	}
	return &m
}

// TestHandlerOnHostileInput sends every hostile file through the resize handler,
// as S3 would announce it, and checks the manifest: ready with the right
// dimensions and variants that exist and agree with it, or failed with the
// image core's code, and never a retry (these are all permanent outcomes).
func TestHandlerOnHostileInput(t *testing.T) {
	store := &objectStore{}
	env := settings.Default().ResizeEnv(uploadsBucket, outputBucket)
	// Outcomes, not speed: the largest files the limits accept (a 49 MP
	// lossless WebP) take seconds of CPU, and a loaded test machine must not
	// turn them into too_complex. The per-image budget has its own tests.
	env["IMAGE_TIMEOUT"] = "10m"
	h := newHandler(t, store, env)
	for i, tc := range outcomes {
		t.Run(tc.file, func(t *testing.T) {
			key := "uploads/" + manifest.NewID()
			// Every file is declared image/jpeg, as a client may lie (page.html,
			// text.jpg): the handler must go by the bytes.
			ctype := "image/jpeg"
			data := readHostile(t, tc.file)
			store.put(uploadsBucket, key, object{body: data, contentType: ctype, meta: map[string]string{manifest.FilenameMetaKey: url.PathEscape(tc.file)}})
			resp, err := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{eventFor(t, fmt.Sprint("msg-", i), key, len(data))}})
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("Handle = %+v, %v; want the message acknowledged", resp, err)
			}
			id, _ := manifest.IDForUploadKey("uploads/", key)
			m := readManifest(t, store, id)
			if m == nil {
				t.Fatal("no manifest written")
			}
			checkManifest(t, store, m, tc, key)
		})
	}
}

func checkManifest(t *testing.T, store *objectStore, m *manifest.Manifest, tc outcome, key string) {
	t.Helper()
	if m.Source.Key != key || m.Source.Bucket != uploadsBucket {
		t.Errorf("manifest source = %s/%s, want %s/%s", m.Source.Bucket, m.Source.Key, uploadsBucket, key)
	}
	if tc.code != "" {
		if m.Status != manifest.StatusFailed || m.Error == nil || m.Error.Code != string(tc.code) || m.Error.Message == "" {
			t.Errorf("manifest = %s %+v, want failed with code %s and a message", m.Status, m.Error, tc.code)
		}
		if len(m.Variants) != 0 {
			t.Errorf("failed manifest lists %d variants", len(m.Variants))
		}
		return
	}
	if m.Status != manifest.StatusReady || m.Error != nil {
		t.Fatalf("manifest = %s %+v, want ready", m.Status, m.Error)
	}
	if m.Source.Format != tc.format || m.Source.Width != tc.w || m.Source.Height != tc.h {
		t.Errorf("manifest source = %s %dx%d, want %s %dx%d", m.Source.Format, m.Source.Width, m.Source.Height, tc.format, tc.w, tc.h)
	}
	if len(m.Variants) != len(imagecore.DefaultVariants()) {
		t.Errorf("%d variants, want %d", len(m.Variants), len(imagecore.DefaultVariants()))
	}
	for _, v := range m.Variants {
		if !strings.HasPrefix(v.Key, manifest.Prefix(m.ID)) {
			t.Errorf("variant %s at %s, outside %s", v.Name, v.Key, manifest.Prefix(m.ID))
		}
		o, ok := store.get(outputBucket, v.Key)
		if !ok {
			t.Errorf("variant %s listed at %s but not there", v.Name, v.Key)
			continue
		}
		if int64(len(o.body)) != v.Bytes || o.contentType != imagecore.Format(v.Format).ContentType() {
			t.Errorf("variant %s: %d bytes %s stored, manifest says %d bytes %s", v.Name, len(o.body), o.contentType, v.Bytes, v.Format)
		}
		if v.Width > tc.w || v.Height > tc.h {
			t.Errorf("variant %s is %dx%d, larger than the source", v.Name, v.Width, v.Height)
		}
	}
}

// TestHandlerOnOddKeys: keys with spaces, '+', '%' and non-ASCII arrive
// form-encoded in the event; each gets a stable ID of its own and a manifest
// naming the exact key, and nothing is written outside variants/{id}/ but the
// manifest, manifests/{id}.json.
func TestHandlerOnOddKeys(t *testing.T) {
	photo := readHostile(t, "orientation-1.jpg")
	keys := []string{
		"uploads/my holiday photo.jpg",
		"uploads/a+b=c.jpg",
		"uploads/100% real.jpg",
		"uploads/%2F..%2F..%2Fescape.jpg",
		"uploads/../variants/x/manifest.json",
		"uploads/фото/日本 ☃.jpg",
		"uploads/ leading and trailing .jpg ",
	}
	store := &objectStore{}
	h := newHandler(t, store, settings.Default().ResizeEnv(uploadsBucket, outputBucket))
	ids := map[string]string{}
	for i, key := range keys {
		store.put(uploadsBucket, key, object{body: photo, contentType: "image/jpeg"})
		resp, err := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{eventFor(t, fmt.Sprint("k", i), key, len(photo))}})
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("%q: Handle = %+v, %v", key, resp, err)
		}
		id, ok := manifest.IDForUploadKey("uploads/", key)
		if !ok || !manifest.ValidID(id) {
			t.Fatalf("%q: id %q, %v", key, id, ok)
		}
		if other, dup := ids[id]; dup {
			t.Errorf("%q and %q share the id %s", key, other, id)
		}
		ids[id] = key
		m := readManifest(t, store, id)
		if m == nil {
			t.Fatalf("%q: no manifest at %s", key, manifest.Key(id))
		}
		checkManifest(t, store, m, outcome{format: "jpeg", w: 48, h: 32}, key)
	}
	for k := range store.objects {
		bucket, key, _ := strings.Cut(k, "/")
		if bucket != outputBucket {
			continue
		}
		rest, ok := strings.CutPrefix(key, manifest.VariantsPrefix)
		id, _, _ := strings.Cut(rest, "/")
		if m, isManifest := strings.CutPrefix(key, manifest.ManifestsPrefix); isManifest {
			id, ok = strings.TrimSuffix(m, ".json"), key == manifest.Key(strings.TrimSuffix(m, ".json"))
		}
		if !ok || ids[id] == "" || strings.Contains(key, "..") {
			t.Errorf("output object %q is not under variants/{id}/ of an upload, nor its manifest", key)
		}
	}
}

// TestHandlerJustOverTheLimit: the byte limit is enforced from HEAD, before the
// download, and an HTML page declared as image/jpeg is refused from its bytes.
func TestHandlerJustOverTheLimit(t *testing.T) {
	data := readHostile(t, "tiny-8x8.png")
	for _, tc := range []struct {
		limit int
		code  string
	}{{len(data) - 1, string(imagecore.CodeTooLarge)}, {len(data), ""}} {
		store := &objectStore{}
		env := settings.Default().ResizeEnv(uploadsBucket, outputBucket)
		env["MAX_UPLOAD_BYTES"] = strconv.Itoa(tc.limit)
		h := newHandler(t, store, env)
		key := "uploads/" + manifest.NewID()
		store.put(uploadsBucket, key, object{body: data, contentType: "image/png"})
		if _, err := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{eventFor(t, "m", key, len(data))}}); err != nil {
			t.Fatal(err)
		}
		id, _ := manifest.IDForUploadKey("uploads/", key)
		m := readManifest(t, store, id)
		switch {
		case m == nil:
			t.Errorf("limit %d: no manifest", tc.limit)
		case tc.code != "" && (m.Status != manifest.StatusFailed || m.Error == nil || m.Error.Code != tc.code):
			t.Errorf("limit %d for %d bytes: %s %+v, want failed %s", tc.limit, len(data), m.Status, m.Error, tc.code)
		case tc.code == "" && m.Status != manifest.StatusReady:
			t.Errorf("limit %d for %d bytes: %s %+v, want ready", tc.limit, len(data), m.Status, m.Error)
		}
	}
}
