package resize

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/metrics"
)

// fakeStore is an in-memory S3 with ETags, metadata and injected failures.
type fakeStore struct {
	mu      sync.Mutex
	objects map[string]storedObject // "bucket/key"
	// fail returns an error for an operation ("head", "get", "put") on a key, or nil.
	fail  func(op, key string) error
	calls []string // "op bucket/key", in order
	seq   int      // makes every write's ETag new, as S3's MD5 of new bytes would be
}

type storedObject struct {
	body     []byte
	etag     string
	meta     map[string]string
	modified time.Time
	ctype    string
	cache    string
}

func newFakeStore() *fakeStore { return &fakeStore{objects: map[string]storedObject{}} }

func (f *fakeStore) add(bucket, key string, body []byte, meta map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addLocked(bucket, key, body, meta)
}

func (f *fakeStore) addLocked(bucket, key string, body []byte, meta map[string]string) {
	f.seq++
	f.objects[bucket+"/"+key] = storedObject{body: body, etag: fmt.Sprintf(`"%x-%d"`, len(body), f.seq),
		meta: meta, modified: time.Now().Add(-time.Second)}
}

func (f *fakeStore) record(op, bucket, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, op+" "+bucket+"/"+key)
	if f.fail != nil {
		return f.fail(op, key)
	}
	return nil
}

func (f *fakeStore) get(bucket, key string) (storedObject, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objects[bucket+"/"+key]
	return o, ok
}

func (f *fakeStore) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	if err := f.record("head", *in.Bucket, *in.Key); err != nil {
		return nil, err
	}
	o, ok := f.get(*in.Bucket, *in.Key)
	if !ok {
		return nil, &types.NotFound{}
	}
	return &s3.HeadObjectOutput{ETag: &o.etag, ContentLength: aws.Int64(int64(len(o.body))), Metadata: o.meta, LastModified: &o.modified}, nil
}

func (f *fakeStore) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if err := f.record("get", *in.Bucket, *in.Key); err != nil {
		return nil, err
	}
	o, ok := f.get(*in.Bucket, *in.Key)
	if !ok {
		return nil, &types.NoSuchKey{}
	}
	if in.IfMatch != nil && *in.IfMatch != o.etag {
		return nil, &smithy.GenericAPIError{Code: "PreconditionFailed", Message: "etag changed"}
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(o.body)), ContentLength: aws.Int64(int64(len(o.body))), ETag: &o.etag}, nil
}

func (f *fakeStore) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if err := f.record("put", *in.Bucket, *in.Key); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// S3's conditional writes, checked and applied atomically.
	cur, exists := f.objects[*in.Bucket+"/"+*in.Key]
	switch {
	case aws.ToString(in.IfNoneMatch) == "*" && exists:
		return nil, &smithy.GenericAPIError{Code: "PreconditionFailed", Message: "At least one of the pre-conditions you specified did not hold"}
	case in.IfMatch != nil && !exists:
		return nil, &smithy.GenericAPIError{Code: "NoSuchKey", Message: "The specified key does not exist."}
	case in.IfMatch != nil && *in.IfMatch != cur.etag:
		return nil, &smithy.GenericAPIError{Code: "PreconditionFailed", Message: "At least one of the pre-conditions you specified did not hold"}
	}
	f.addLocked(*in.Bucket, *in.Key, body, in.Metadata)
	o := f.objects[*in.Bucket+"/"+*in.Key]
	o.ctype = aws.ToString(in.ContentType)
	o.cache = aws.ToString(in.CacheControl)
	f.objects[*in.Bucket+"/"+*in.Key] = o
	return &s3.PutObjectOutput{ETag: &o.etag}, nil
}

func (f *fakeStore) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, op+" ") {
			n++
		}
	}
	return n
}

// fakeEngine returns fixed outputs, or err, and counts calls; it panics on data
// equal to panicOn, as a decoder bug would.
type fakeEngine struct {
	err     error
	panicOn string
	calls   int
	notes   []string
	alts    []imagecore.Alternate // given to every output
}

func (e *fakeEngine) Process(ctx context.Context, data []byte) (*imagecore.Result, error) {
	e.calls++
	if e.panicOn != "" && string(data) == e.panicOn {
		panic("decoder bug")
	}
	if e.err != nil {
		return nil, e.err
	}
	return &imagecore.Result{
		Source: imagecore.SourceInfo{Format: "jpeg", Width: 4000, Height: 3000},
		Outputs: []imagecore.Output{
			{Name: "thumb", Format: imagecore.FormatJPEG, Width: 200, Height: 200, Data: []byte("thumb-bytes"), Alternates: e.alts},
			{Name: "small", Format: imagecore.FormatJPEG, Width: 480, Height: 360, Data: []byte("small-bytes!"), Alternates: e.alts},
		},
		Notes: e.notes,
	}, nil
}

// TestAlternatesWrittenAndListed: each alternate is stored under the variant's
// key with its own extension and type, before the manifest, which lists it.
func TestAlternatesWrittenAndListed(t *testing.T) {
	h := newHarness(t)
	h.engine.alts = []imagecore.Alternate{{Format: imagecore.FormatAVIF, Data: []byte("avif!")}, {Format: imagecore.FormatWebP, Data: []byte("webp!!")}}
	id := manifest.NewID()
	h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
	if failed := h.run(t, context.Background(), s3Message("m1", uploads, "uploads/"+id)); len(failed) != 0 {
		t.Fatalf("failed %v", failed)
	}
	m := h.manifest(t, id)
	if m == nil || m.Status != manifest.StatusReady || len(m.Variants) != 2 {
		t.Fatalf("manifest %+v", m)
	}
	for _, v := range m.Variants {
		if len(v.Alternates) != 2 {
			t.Fatalf("%s: alternates %+v", v.Name, v.Alternates)
		}
		for i, want := range []struct{ format, ext, ctype, body string }{{"avif", "avif", "image/avif", "avif!"}, {"webp", "webp", "image/webp", "webp!!"}} {
			a := v.Alternates[i]
			// Beside the primary: the same tagged name, another extension.
			key := v.Key[:strings.LastIndexByte(v.Key, '.')] + "." + want.ext
			if a.Format != want.format || a.Key != key || a.Bytes != int64(len(want.body)) {
				t.Errorf("%s alternate %d: %+v", v.Name, i, a)
			}
			o, ok := h.store.get(output, key)
			if !ok || string(o.body) != want.body || o.ctype != want.ctype {
				t.Errorf("%s: stored %q as %q (%v)", key, o.body, o.ctype, ok)
			}
		}
	}
}

const (
	uploads = "uploads-bucket"
	output  = "output-bucket"
)

type harness struct {
	store   *fakeStore
	engine  *fakeEngine
	handler *Handler
	logs    *bytes.Buffer
	emf     *bytes.Buffer
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{store: newFakeStore(), engine: &fakeEngine{}, logs: &bytes.Buffer{}, emf: &bytes.Buffer{}}
	cfg := Config{OutputBucket: output, UploadPrefix: "uploads/", Limits: imagecore.DefaultLimits(),
		Variants: imagecore.DefaultVariants(), DeadlineMargin: 5 * time.Second,
		UploadsBucket: uploads, ImageTimeout: time.Minute, MaxReceiveCount: 5}
	handler, err := NewWithProcessor(cfg, h.store, h.engine, slog.New(slog.NewJSONHandler(h.logs, nil)), metrics.NewEmitter(h.emf))
	if err != nil {
		t.Fatal(err)
	}
	h.handler = handler
	return h
}

// s3Message is an SQS message carrying the S3 event S3 would send for key, with the
// key form-encoded as S3 encodes it.
func s3Message(id, bucket, key string) events.SQSMessage {
	body := fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventName":"ObjectCreated:Put",`+
		`"s3":{"s3SchemaVersion":"1.0","bucket":{"name":%q,"arn":"arn:aws:s3:::%s"},"object":{"key":%q,"size":10,"eTag":"x","sequencer":"0A"}}}]}`,
		bucket, bucket, url.QueryEscape(key))
	return events.SQSMessage{MessageId: id, Body: body}
}

func (h *harness) run(t *testing.T, ctx context.Context, msgs ...events.SQSMessage) []string {
	t.Helper()
	resp, err := h.handler.Handle(ctx, events.SQSEvent{Records: msgs})
	if err != nil {
		t.Fatalf("Handle returned an error (the whole batch would be retried): %v", err)
	}
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	return failed
}

func (h *harness) manifest(t *testing.T, id string) *manifest.Manifest {
	t.Helper()
	o, ok := h.store.get(output, manifest.Key(id))
	if !ok {
		return nil
	}
	var m manifest.Manifest
	if err := json.Unmarshal(o.body, &m); err != nil {
		t.Fatalf("manifest of %s: %v", id, err)
	}
	if o.ctype != "application/json" {
		t.Errorf("manifest content type %q", o.ctype)
	}
	return &m
}

func TestHandleMessages(t *testing.T) {
	id := manifest.NewID()
	odd := "uploads/my cat+dog é 100%.jpg"
	oddID, _ := manifest.IDForUploadKey("uploads/", odd)
	tests := []struct {
		name       string
		setup      func(h *harness)
		msg        events.SQSMessage
		wantFailed bool
		wantID     string // manifest expected for this id; "" for none
		wantStatus manifest.Status
		wantCode   string
	}{
		{name: "test event acknowledged", msg: events.SQSMessage{MessageId: "m", Body: `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-01-01T00:00:00Z","Bucket":"b","RequestId":"r","HostId":"h"}`}},
		{name: "not json goes to the DLQ", msg: events.SQSMessage{MessageId: "m", Body: "hello"}, wantFailed: true},
		{name: "no records goes to the DLQ", msg: events.SQSMessage{MessageId: "m", Body: `{"Records":[]}`}, wantFailed: true},
		{name: "record without key goes to the DLQ", msg: events.SQSMessage{MessageId: "m", Body: `{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{}}}]}`}, wantFailed: true},
		{name: "key outside prefix ignored", msg: s3Message("m", uploads, "elsewhere/cat.jpg")},
		{name: "removal event ignored", msg: events.SQSMessage{MessageId: "m", Body: strings.Replace(s3Message("m", uploads, "uploads/"+id).Body, "ObjectCreated:Put", "ObjectRemoved:Delete", 1)}},
		{
			name: "ready",
			setup: func(h *harness) {
				h.store.add(uploads, "uploads/"+id, []byte("jpeg"), map[string]string{"filename": "cat%20%C3%A9.jpg"})
			},
			msg: s3Message("m", uploads, "uploads/"+id), wantID: id, wantStatus: manifest.StatusReady,
		},
		{
			name:  "form-encoded key with spaces, plus, percent and unicode",
			setup: func(h *harness) { h.store.add(uploads, odd, []byte("jpeg"), nil) },
			msg:   s3Message("m", uploads, odd), wantID: oddID, wantStatus: manifest.StatusReady,
		},
		{
			name: "unsupported format recorded and acknowledged",
			setup: func(h *harness) {
				h.store.add(uploads, "uploads/"+id, []byte("text"), nil)
				h.engine.err = &imagecore.Error{Code: imagecore.CodeUnsupportedFormat, Message: "not an image"}
			},
			msg: s3Message("m", uploads, "uploads/"+id), wantID: id, wantStatus: manifest.StatusFailed, wantCode: "unsupported_format",
		},
		{
			name: "source gone recorded and acknowledged",
			msg:  s3Message("m", uploads, "uploads/"+id), wantID: id, wantStatus: manifest.StatusFailed, wantCode: CodeSourceMissing,
		},
		{
			name:  "over the byte limit refused before download",
			setup: func(h *harness) { h.store.add(uploads, "uploads/"+id, make([]byte, 25<<20+1), nil) },
			msg:   s3Message("m", uploads, "uploads/"+id), wantID: id, wantStatus: manifest.StatusFailed, wantCode: "too_large",
		},
		{
			name: "throttled get retried",
			setup: func(h *harness) {
				h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
				h.store.fail = func(op, key string) error {
					if op == "get" && strings.HasPrefix(key, "uploads/") {
						return &smithy.GenericAPIError{Code: "SlowDown", Message: "reduce your request rate"}
					}
					return nil
				}
			},
			msg: s3Message("m", uploads, "uploads/"+id), wantFailed: true,
		},
		{
			name: "failed variant put retried without a manifest",
			setup: func(h *harness) {
				h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
				h.store.fail = func(op, key string) error {
					if op == "put" && strings.Contains(key, "/small-") && strings.HasSuffix(key, ".jpg") {
						return errors.New("connection reset")
					}
					return nil
				}
			},
			msg: s3Message("m", uploads, "uploads/"+id), wantFailed: true,
		},
		{
			name: "failed manifest read retried",
			setup: func(h *harness) {
				h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
				h.store.fail = func(op, key string) error {
					if op == "get" && strings.HasPrefix(key, manifest.ManifestsPrefix) {
						return errors.New("timeout")
					}
					return nil
				}
			},
			msg: s3Message("m", uploads, "uploads/"+id), wantFailed: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if tc.setup != nil {
				tc.setup(h)
			}
			failed := h.run(t, context.Background(), tc.msg)
			if got := len(failed) == 1; got != tc.wantFailed {
				t.Fatalf("reported failures %v, want failed=%v; logs:\n%s", failed, tc.wantFailed, h.logs)
			}
			if tc.wantID == "" {
				for _, c := range h.store.calls {
					if strings.HasPrefix(c, "put ") && strings.Contains(c, "/"+manifest.ManifestsPrefix) {
						t.Errorf("manifest written (%s), want none", c)
					}
				}
				return
			}
			m := h.manifest(t, tc.wantID)
			if m == nil {
				t.Fatalf("no manifest for %s; logs:\n%s", tc.wantID, h.logs)
			}
			if m.Status != tc.wantStatus || m.ID != tc.wantID || m.Version != manifest.Version {
				t.Errorf("manifest %+v", m)
			}
			if tc.wantCode != "" && (m.Error == nil || m.Error.Code != tc.wantCode || m.Error.Message == "") {
				t.Errorf("error %+v, want code %s with a message", m.Error, tc.wantCode)
			}
			if tc.wantStatus == manifest.StatusReady {
				checkReady(t, h, m)
			}
		})
	}
}

func checkReady(t *testing.T, h *harness, m *manifest.Manifest) {
	t.Helper()
	if len(m.Variants) != 2 || m.Source.Width != 4000 || m.Source.Format != "jpeg" || m.Source.ETag == "" {
		t.Fatalf("manifest %+v", m)
	}
	for _, v := range m.Variants {
		o, ok := h.store.get(output, v.Key)
		if !ok || int64(len(o.body)) != v.Bytes || o.ctype != "image/jpeg" {
			t.Errorf("variant %+v: stored %v, %d bytes, type %q", v, ok, len(o.body), o.ctype)
		}
		if !strings.HasPrefix(v.Key, manifest.Prefix(m.ID)) {
			t.Errorf("variant key %q outside %q", v.Key, manifest.Prefix(m.ID))
		}
	}
	// The manifest is the commit point: it must be the last write.
	var last string
	for _, c := range h.store.calls {
		if strings.HasPrefix(c, "put ") {
			last = c
		}
	}
	if last != "put "+output+"/"+manifest.Key(m.ID) {
		t.Errorf("last call %q, want the manifest put", last)
	}
}

func TestFilenameAndSourceFactsRecorded(t *testing.T) {
	h := newHarness(t)
	id := manifest.NewID()
	h.store.add(uploads, "uploads/"+id, []byte("jpeg"), map[string]string{"filename": url.PathEscape("chat é+1.jpg")})
	h.run(t, context.Background(), s3Message("m", uploads, "uploads/"+id))
	m := h.manifest(t, id)
	if m == nil || m.Source.Filename != "chat é+1.jpg" || m.Source.Bytes != 4 || m.Source.Key != "uploads/"+id || m.Source.Bucket != uploads || m.Source.UploadedAt.IsZero() {
		t.Fatalf("source %+v", m)
	}
}

// An upload made without the API (the AWS CLI) has no filename metadata; its label
// is the key's base name.
func TestFilenameFallsBackToKeyBaseName(t *testing.T) {
	h := newHarness(t)
	key := "uploads/trip/day 1/cat+dog.jpg"
	h.store.add(uploads, key, []byte("jpeg"), nil)
	h.run(t, context.Background(), s3Message("m", uploads, key))
	id, _ := manifest.IDForUploadKey("uploads/", key)
	if m := h.manifest(t, id); m == nil || m.Source.Filename != "cat+dog.jpg" {
		t.Fatalf("manifest %+v, want filename cat+dog.jpg", m)
	}
}

// The engine's notes (an unusable colour profile, say) reach the manifest and the log.
func TestEngineNotesRecorded(t *testing.T) {
	h := newHarness(t)
	note := "the embedded colour profile was ignored and the image treated as sRGB: a reason"
	h.engine.notes = []string{note}
	id := manifest.NewID()
	h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
	h.run(t, context.Background(), s3Message("m", uploads, "uploads/"+id))
	m := h.manifest(t, id)
	if m == nil || m.Status != manifest.StatusReady || len(m.Notes) != 1 || m.Notes[0] != note {
		t.Fatalf("manifest %+v, want ready with note %q", m, note)
	}
	if !strings.Contains(h.logs.String(), `"msg":"image note"`) || !strings.Contains(h.logs.String(), "a reason") {
		t.Errorf("log has no line for the note:\n%s", h.logs)
	}
}

func TestPartialBatch(t *testing.T) {
	h := newHarness(t)
	ok1, bad, ok2 := manifest.NewID(), manifest.NewID(), manifest.NewID()
	for _, id := range []string{ok1, bad, ok2} {
		h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
	}
	h.store.fail = func(op, key string) error {
		if op == "get" && key == "uploads/"+bad {
			return &smithy.GenericAPIError{Code: "InternalError", Message: "we encountered an internal error"}
		}
		return nil
	}
	failed := h.run(t, context.Background(),
		s3Message("a", uploads, "uploads/"+ok1), s3Message("b", uploads, "uploads/"+bad),
		events.SQSMessage{MessageId: "c", Body: `{"Service":"Amazon S3","Event":"s3:TestEvent"}`},
		s3Message("d", uploads, "uploads/"+ok2))
	if strings.Join(failed, ",") != "b" {
		t.Fatalf("failures %v, want [b]", failed)
	}
	if h.manifest(t, ok1) == nil || h.manifest(t, ok2) == nil || h.manifest(t, bad) != nil {
		t.Error("manifests: want ok1 and ok2 only")
	}
	// Once S3 recovers, the retried message succeeds.
	h.store.fail = nil
	if failed := h.run(t, context.Background(), s3Message("b", uploads, "uploads/"+bad)); len(failed) != 0 {
		t.Fatalf("retry failed: %v", failed)
	}
	if m := h.manifest(t, bad); m == nil || m.Status != manifest.StatusReady {
		t.Fatalf("after retry: %+v", m)
	}
}

func TestPanicFailsOnlyItsOwnMessage(t *testing.T) {
	h := newHarness(t)
	good, bad := manifest.NewID(), manifest.NewID()
	h.store.add(uploads, "uploads/"+good, []byte("jpeg"), nil)
	h.store.add(uploads, "uploads/"+bad, []byte("boom"), nil)
	h.engine.panicOn = "boom"
	failed := h.run(t, context.Background(), s3Message("bad", uploads, "uploads/"+bad), s3Message("good", uploads, "uploads/"+good))
	if strings.Join(failed, ",") != "bad" {
		t.Fatalf("failures %v, want [bad]", failed)
	}
	if m := h.manifest(t, good); m == nil || m.Status != manifest.StatusReady {
		t.Errorf("batch-mate not processed: %+v", m)
	}
	if h.manifest(t, bad) != nil {
		t.Error("a panicking image must be retried, not recorded")
	}
	if !strings.Contains(h.logs.String(), "panic while processing") {
		t.Errorf("panic not logged:\n%s", h.logs)
	}
}

func TestRerunIsACheapNoOp(t *testing.T) {
	h := newHarness(t)
	id := manifest.NewID()
	h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
	msg := s3Message("m", uploads, "uploads/"+id)
	h.run(t, context.Background(), msg)
	first := h.manifest(t, id)
	puts, processed := h.store.count("put"), h.engine.calls
	if failed := h.run(t, context.Background(), msg, msg); len(failed) != 0 {
		t.Fatalf("failures %v", failed)
	}
	if h.store.count("put") != puts || h.engine.calls != processed {
		t.Errorf("re-run wrote %d objects and processed %d times; want none", h.store.count("put")-puts, h.engine.calls-processed)
	}
	if again := h.manifest(t, id); again.CompletedAt != first.CompletedAt {
		t.Error("manifest rewritten")
	}
	// A new upload at the same key (new ETag) is processed again.
	h.store.add(uploads, "uploads/"+id, []byte("jpeg, replaced"), nil)
	h.run(t, context.Background(), msg)
	if h.engine.calls != processed+1 {
		t.Errorf("replaced source not reprocessed")
	}
	// The original deleted after processing: keep the ready manifest.
	h.store.mu.Lock()
	delete(h.store.objects, uploads+"/uploads/"+id)
	h.store.mu.Unlock()
	h.run(t, context.Background(), msg)
	if m := h.manifest(t, id); m.Status != manifest.StatusReady {
		t.Errorf("status %s after the original was deleted, want ready kept", m.Status)
	}
}

func TestStopsBeforeTheDeadline(t *testing.T) {
	h := newHarness(t)
	ids := []string{manifest.NewID(), manifest.NewID()}
	for _, id := range ids {
		h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(2*time.Second)) // inside the 5s margin
	defer cancel()
	failed := h.run(t, ctx, s3Message("a", uploads, "uploads/"+ids[0]), s3Message("b", uploads, "uploads/"+ids[1]))
	if strings.Join(failed, ",") != "a,b" || h.engine.calls != 0 {
		t.Fatalf("failures %v, processed %d; want both handed back unprocessed", failed, h.engine.calls)
	}
}

func TestLogsAndMetrics(t *testing.T) {
	h := newHarness(t)
	ok, bad := manifest.NewID(), manifest.NewID()
	h.store.add(uploads, "uploads/"+ok, []byte("jpeg"), nil)
	h.run(t, context.Background(), s3Message("a", uploads, "uploads/"+ok), s3Message("b", uploads, "uploads/"+bad))
	var recs []metrics.Record
	sc := bufio.NewScanner(h.emf)
	for sc.Scan() {
		rec, isEMF := metrics.Parse(sc.Bytes())
		if !isEMF {
			t.Fatalf("not EMF: %s", sc.Text())
		}
		recs = append(recs, rec)
	}
	if len(recs) != 2 {
		t.Fatalf("%d EMF records, want 2", len(recs))
	}
	if r := recs[0]; r.Values[metrics.ImagesProcessed] != 1 || r.Values[metrics.BytesIn] != 4 || r.Values[metrics.BytesOut] != 23 || r.Service != metrics.ServiceResize {
		t.Errorf("ready record %+v", r)
	}
	if _, has := recs[0].Values[metrics.UploadToReady]; !has {
		t.Error("no UploadToReady")
	}
	if r := recs[1]; r.Values[metrics.ImagesFailed] != 1 || r.ErrorCode != CodeSourceMissing {
		t.Errorf("failed record %+v", r)
	}
	sc = bufio.NewScanner(h.logs)
	var sawReady bool
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Text())
		}
		if line["msg"] == "image ready" {
			sawReady = line["id"] == ok && line["key"] == "uploads/"+ok && line["ms"] != nil && line["bytesIn"] != nil
		}
	}
	if !sawReady {
		t.Errorf("no 'image ready' log line with id, key, bytes and timing:\n%s", h.logs)
	}
}

func TestRealEngine(t *testing.T) {
	store := newFakeStore()
	cfg, err := ConfigFromEnv(func(k string) string {
		return map[string]string{"OUTPUT_BUCKET": output, "UPLOADS_BUCKET": uploads, "MAX_RECEIVE_COUNT": "5"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	handler, err := New(cfg, store, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		img      image.Image
		format   string
		variants int
	}{
		{"opaque photo-like png becomes jpeg", gradient(640, 480, 255), "jpeg", 4},
		{"transparent png stays png", gradient(300, 200, 100), "png", 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := png.Encode(&buf, tc.img); err != nil {
				t.Fatal(err)
			}
			id := manifest.NewID()
			store.add(uploads, "uploads/"+id, buf.Bytes(), nil)
			resp, err := handler.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{s3Message("m", uploads, "uploads/"+id)}})
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("%v %v", resp, err)
			}
			o, _ := store.get(output, manifest.Key(id))
			var m manifest.Manifest
			if err := json.Unmarshal(o.body, &m); err != nil || m.Status != manifest.StatusReady || len(m.Variants) != tc.variants {
				t.Fatalf("manifest %s: %v", o.body, err)
			}
			b := tc.img.Bounds()
			for _, v := range m.Variants {
				if v.Format != tc.format || v.Width > b.Dx() || v.Height > b.Dy() {
					t.Errorf("variant %+v from %dx%d", v, b.Dx(), b.Dy())
				}
			}
		})
	}
}

func gradient(w, h int, alpha uint8) image.Image {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetNRGBA(x, y, color.NRGBA{uint8(x), uint8(y), 128, alpha})
		}
	}
	return m
}

func TestConfigFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	// with returns the minimal valid environment with vars added or replaced.
	with := func(vars map[string]string) map[string]string {
		m := map[string]string{"OUTPUT_BUCKET": "o", "UPLOADS_BUCKET": "u", "MAX_RECEIVE_COUNT": "5"}
		for k, v := range vars {
			m[k] = v
		}
		return m
	}
	cfg, err := ConfigFromEnv(env(with(nil)))
	if err != nil || cfg.Limits != imagecore.DefaultLimits() || len(cfg.Variants) != 4 || cfg.DeadlineMargin != 10*time.Second ||
		cfg.ImageTimeout != 10*time.Second || cfg.MaxReceiveCount != 5 || cfg.UploadsBucket != "u" {
		t.Fatalf("defaults %+v %v", cfg, err)
	}
	cfg, err = ConfigFromEnv(env(with(map[string]string{"MAX_PIXELS": "100", "VARIANTS": `[{"name":"x","width":10}]`, "IMAGE_TIMEOUT": "3s"})))
	if err != nil || cfg.Limits.MaxPixels != 100 || len(cfg.Variants) != 1 || cfg.ImageTimeout != 3*time.Second {
		t.Fatalf("overrides %+v %v", cfg, err)
	}
	cfg, err = ConfigFromEnv(env(with(map[string]string{"VARIANTS": `[{"name":"x","width":10,"formats":["avif","webp"]},{"name":"y","width":20}]`})))
	if err != nil || len(cfg.Variants) != 2 || !slices.Equal(cfg.Variants[0].Formats, []imagecore.Format{imagecore.FormatAVIF, imagecore.FormatWebP}) || cfg.Variants[1].Formats != nil {
		t.Fatalf("formats %+v %v", cfg.Variants, err)
	}
	tests := map[string]map[string]string{
		"OUTPUT_BUCKET":     with(map[string]string{"OUTPUT_BUCKET": ""}),
		"UPLOADS_BUCKET":    with(map[string]string{"UPLOADS_BUCKET": " "}),
		"MAX_RECEIVE_COUNT": with(map[string]string{"MAX_RECEIVE_COUNT": ""}),
		"IMAGE_TIMEOUT":     with(map[string]string{"IMAGE_TIMEOUT": "-1s"}),
		"MAX_UPLOAD_BYTES":  with(map[string]string{"MAX_UPLOAD_BYTES": "-1"}),
		"MAX_SIDE":          with(map[string]string{"MAX_SIDE": "big"}),
		"DEADLINE_MARGIN":   with(map[string]string{"DEADLINE_MARGIN": "0"}),
		"VARIANTS":          with(map[string]string{"VARIANTS": `[{"name":"x","width":10,"colour":"red"}]`}),
		`"Bad"`:             with(map[string]string{"VARIANTS": `[{"name":"Bad","width":10}]`}),
		`"gif"`:             with(map[string]string{"VARIANTS": `[{"name":"x","width":10,"formats":["gif"]}]`}),
		"UPLOAD_PREFIX":     with(map[string]string{"UPLOAD_PREFIX": "uploads"}),
	}
	for want, vars := range tests {
		if _, err := ConfigFromEnv(env(vars)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: error %v does not mention %s", vars, err, want)
		}
	}
}
