package resize

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/manifest"
)

// hookEngine runs fn in place of the image engine.
type hookEngine struct {
	fn func(ctx context.Context, data []byte) (*imagecore.Result, error)
}

func (e hookEngine) Process(ctx context.Context, data []byte) (*imagecore.Result, error) {
	return e.fn(ctx, data)
}

func (h *harness) useEngine(fn func(ctx context.Context, data []byte) (*imagecore.Result, error)) {
	h.handler.engine = hookEngine{fn: fn}
}

// onReceive returns msg as delivered for the n-th time.
func onReceive(msg events.SQSMessage, n int) events.SQSMessage {
	msg.Attributes = map[string]string{"ApproximateReceiveCount": fmt.Sprint(n)}
	return msg
}

func (h *harness) putManifest(t *testing.T, m manifest.Manifest) {
	t.Helper()
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	h.store.mu.Lock()
	defer h.store.mu.Unlock()
	h.store.addLocked(output, manifest.Key(m.ID), body, nil)
	o := h.store.objects[output+"/"+manifest.Key(m.ID)]
	o.ctype = "application/json"
	h.store.objects[output+"/"+manifest.Key(m.ID)] = o
}

// readyManifest is what a finished run of the current engine and settings writes.
func (h *harness) readyManifest(t *testing.T, id string) manifest.Manifest {
	t.Helper()
	src, ok := h.store.get(uploads, "uploads/"+id)
	if !ok {
		t.Fatal("no upload")
	}
	return manifest.Manifest{Version: manifest.Version, ID: id, Status: manifest.StatusReady,
		Source:        manifest.Source{Bucket: uploads, Key: "uploads/" + id, ETag: src.etag, UploadedAt: src.modified},
		Variants:      []manifest.Variant{{Name: "thumb", Format: "jpeg", Width: 1, Height: 1, Bytes: 1, Key: manifest.VariantKey(id, "thumb", "0a1b2c3d", "jpg")}},
		EngineVersion: imagecore.EngineVersion, SettingsHash: h.handler.settingsHash}
}

// failOn fails op on keys ending in suffix; a variant's "small.jpg" also names
// its tagged key, variants/{id}/small-{tag}.jpg.
func (h *harness) failOn(op, suffix string, err error) {
	name, ext, _ := strings.Cut(suffix, ".")
	h.store.fail = func(o, key string) error {
		if o == op && (strings.HasSuffix(key, suffix) || strings.Contains(key, "/"+name+"-") && strings.HasSuffix(key, "."+ext)) {
			return err
		}
		return nil
	}
}

var slowDown = &smithy.GenericAPIError{Code: "SlowDown", Message: "Please reduce your request rate."}

func TestManifestRecordsEngineAndSettings(t *testing.T) {
	h := newHarness(t)
	id := manifest.NewID()
	h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
	h.run(t, context.Background(), s3Message("m", uploads, "uploads/"+id))
	m := h.manifest(t, id)
	if m == nil || m.EngineVersion != imagecore.EngineVersion || m.SettingsHash == "" || m.SettingsHash != h.handler.settingsHash {
		t.Fatalf("manifest %+v, want engine %s and settings hash %s", m, imagecore.EngineVersion, h.handler.settingsHash)
	}
}

// A re-run skips only when the source, the engine and the settings all match.
func TestRerunRedoesWhatChanged(t *testing.T) {
	tests := []struct {
		name   string
		change func(m *manifest.Manifest)
		redo   bool
	}{
		{"everything matches", func(m *manifest.Manifest) {}, false},
		{"a permanent failure under the same settings", func(m *manifest.Manifest) {
			m.Status, m.Error = manifest.StatusFailed, &manifest.Error{Code: "too_many_pixels", Message: "x"}
		}, false},
		{"other settings (variants or limits changed)", func(m *manifest.Manifest) { m.SettingsHash = "v1:older" }, true},
		{"an older engine (a decoder fix)", func(m *manifest.Manifest) { m.EngineVersion = "0" }, true},
		{"a manifest from before versions were recorded", func(m *manifest.Manifest) { m.EngineVersion, m.SettingsHash = "", "" }, true},
		{"another upload at the key", func(m *manifest.Manifest) { m.Source.ETag = `"other"` }, true},
		{"given up before (a redrive)", func(m *manifest.Manifest) {
			m.Status, m.Error = manifest.StatusFailed, &manifest.Error{Code: CodeProcessingFailed, Message: "x"}
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			id := manifest.NewID()
			h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
			m := h.readyManifest(t, id)
			tc.change(&m)
			h.putManifest(t, m)
			if failed := h.run(t, context.Background(), s3Message("m", uploads, "uploads/"+id)); len(failed) != 0 {
				t.Fatalf("failures %v", failed)
			}
			if redone := h.engine.calls == 1; redone != tc.redo {
				t.Fatalf("processed %d times, want redo=%v; logs:\n%s", h.engine.calls, tc.redo, h.logs)
			}
			if got := h.manifest(t, id); tc.redo && (got.Status != manifest.StatusReady || got.SettingsHash != h.handler.settingsHash ||
				got.EngineVersion != imagecore.EngineVersion || len(got.Variants) != 2) {
				t.Errorf("redone manifest %+v", got)
			}
		})
	}
}

func TestPerImageDeadlineIsTooComplex(t *testing.T) {
	h := newHarness(t)
	h.handler.cfg.ImageTimeout = 20 * time.Millisecond // 20ms: the engine below never finishes on its own
	id := manifest.NewID()
	h.store.add(uploads, "uploads/"+id, []byte("bomb"), nil)
	h.useEngine(func(ctx context.Context, _ []byte) (*imagecore.Result, error) {
		<-ctx.Done()
		return nil, fmt.Errorf("scan 7: %w", ctx.Err())
	})
	if failed := h.run(t, context.Background(), s3Message("m", uploads, "uploads/"+id)); len(failed) != 0 {
		t.Fatalf("failures %v: running out of the per-image budget must be permanent, not a retry", failed)
	}
	m := h.manifest(t, id)
	if m == nil || m.Status != manifest.StatusFailed || m.Error.Code != string(imagecore.CodeTooComplex) || !strings.Contains(m.Error.Message, "20ms") {
		t.Fatalf("manifest %+v, want failed too_complex naming the budget", m)
	}
}

// Running out of the invocation's time is not the image's fault: it is retried.
func TestInvocationDeadlineIsRetriedNotTooComplex(t *testing.T) {
	h := newHarness(t)
	id := manifest.NewID()
	h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.useEngine(func(pctx context.Context, _ []byte) (*imagecore.Result, error) {
		cancel() // the invocation ends while the image is being worked on
		<-pctx.Done()
		return nil, fmt.Errorf("engine: %w", context.DeadlineExceeded)
	})
	if failed := h.run(t, ctx, s3Message("m", uploads, "uploads/"+id)); len(failed) != 1 {
		t.Fatalf("failures %v, want the message handed back", failed)
	}
	if m := h.manifest(t, id); m != nil {
		t.Errorf("manifest %+v written for an invocation that ran out of time", m)
	}
}

func TestLastReceive(t *testing.T) {
	tests := []struct {
		name     string
		receive  int
		setup    func(h *harness, id string)
		ctx      func() (context.Context, context.CancelFunc)
		wantCode string // "" for no manifest
		wantText string
	}{
		{name: "a transient failure before the last receive leaves the image pending", receive: 4,
			setup: func(h *harness, id string) { h.failOn("put", "small.jpg", slowDown) }},
		{name: "a transient failure on the last receive is recorded", receive: 5,
			setup:    func(h *harness, id string) { h.failOn("put", "small.jpg", slowDown) },
			wantCode: CodeProcessingFailed, wantText: "SlowDown"},
		{name: "past the last receive too", receive: 9,
			setup:    func(h *harness, id string) { h.failOn("get", "uploads/"+id, slowDown) },
			wantCode: CodeProcessingFailed, wantText: "SlowDown"},
		{name: "a panic on the last receive is recorded", receive: 5,
			setup:    func(h *harness, id string) { h.engine.panicOn = "jpeg" },
			wantCode: CodeProcessingFailed, wantText: "panic"},
		{name: "handed back untried on the last receive is recorded", receive: 5,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithDeadline(context.Background(), time.Now().Add(3*time.Second)) // inside the 5s margin
			},
			wantCode: CodeProcessingFailed, wantText: "ran out of time"},
		{name: "handed back untried before the last receive is not", receive: 2,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithDeadline(context.Background(), time.Now().Add(3*time.Second))
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			id := manifest.NewID()
			h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
			if tc.setup != nil {
				tc.setup(h, id)
			}
			ctx, cancel := context.WithCancel(context.Background())
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			failed := h.run(t, ctx, onReceive(s3Message("m", uploads, "uploads/"+id), tc.receive))
			if len(failed) != 1 {
				t.Fatalf("failures %v: the message must still be reported, to reach the DLQ", failed)
			}
			m := h.manifest(t, id)
			if tc.wantCode == "" {
				if m != nil {
					t.Fatalf("manifest %+v before the last receive; the image should stay pending", m)
				}
				return
			}
			if m == nil || m.Status != manifest.StatusFailed || m.Error.Code != tc.wantCode || !strings.Contains(m.Error.Message, tc.wantText) {
				t.Fatalf("manifest %+v, want failed %s mentioning %q; logs:\n%s", m, tc.wantCode, tc.wantText, h.logs)
			}
			if m.Source.ETag == "" || m.SettingsHash == "" {
				t.Errorf("terminal manifest lacks the source or settings: %+v", m)
			}
			if !strings.Contains(h.emf.String(), `"ErrorCode":"processing_failed"`) {
				t.Errorf("no ImagesFailed metric for processing_failed:\n%s", h.emf)
			}
		})
	}
}

// A worker killed during its last attempt writes nothing afterwards, so the
// failed manifest must exist while the attempt runs; the outcome replaces it.
func TestLastAttemptIsMarkedBeforeItStarts(t *testing.T) {
	h := newHarness(t)
	id := manifest.NewID()
	h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
	var during *manifest.Manifest
	h.useEngine(func(ctx context.Context, data []byte) (*imagecore.Result, error) {
		during = h.manifest(t, id)
		return (&fakeEngine{}).Process(ctx, data)
	})
	if failed := h.run(t, context.Background(), onReceive(s3Message("m", uploads, "uploads/"+id), 5)); len(failed) != 0 {
		t.Fatalf("failures %v", failed)
	}
	if during == nil || during.Status != manifest.StatusFailed || during.Error.Code != CodeProcessingFailed {
		t.Fatalf("during the last attempt the manifest was %+v, want failed processing_failed", during)
	}
	if m := h.manifest(t, id); m.Status != manifest.StatusReady {
		t.Fatalf("after the last attempt succeeded: %+v", m)
	}
	// The provisional mark is not an outcome: only the ready image is counted.
	if strings.Contains(h.emf.String(), "processing_failed") {
		t.Errorf("the provisional mark was counted as a failure:\n%s", h.emf)
	}
}

// A redrive that succeeds replaces the given-up manifest.
func TestRedriveReplacesGivingUp(t *testing.T) {
	h := newHarness(t)
	id := manifest.NewID()
	h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
	h.failOn("put", "small.jpg", slowDown)
	h.run(t, context.Background(), onReceive(s3Message("m", uploads, "uploads/"+id), 5))
	if m := h.manifest(t, id); m == nil || m.Error == nil || m.Error.Code != CodeProcessingFailed {
		t.Fatalf("after the last receive: %+v", m)
	}
	h.store.fail = nil
	if failed := h.run(t, context.Background(), onReceive(s3Message("redriven", uploads, "uploads/"+id), 1)); len(failed) != 0 {
		t.Fatalf("failures %v", failed)
	}
	if m := h.manifest(t, id); m.Status != manifest.StatusReady {
		t.Fatalf("after the redrive: %+v", m)
	}
}

// A delivery that loses the race to a concurrent one that finished keeps its
// result: failed never replaces ready for the same source, engine and settings.
func TestFailedNeverReplacesReady(t *testing.T) {
	for _, receive := range []int{1, 5} {
		t.Run(fmt.Sprint("receive ", receive), func(t *testing.T) {
			h := newHarness(t)
			h.handler.cfg.ImageTimeout = time.Millisecond
			id := manifest.NewID()
			h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
			h.useEngine(func(ctx context.Context, _ []byte) (*imagecore.Result, error) {
				// The other delivery finishes while this one works, and this one
				// then runs out of its budget (a slower machine, say).
				h.putManifest(t, h.readyManifest(t, id))
				<-ctx.Done()
				return nil, ctx.Err()
			})
			if failed := h.run(t, context.Background(), onReceive(s3Message("m", uploads, "uploads/"+id), receive)); len(failed) != 0 {
				t.Fatalf("failures %v", failed)
			}
			if m := h.manifest(t, id); m.Status != manifest.StatusReady {
				t.Fatalf("manifest %+v: a failure replaced ready", m)
			}
		})
	}
}

// A giving-up never replaces a ready result of the same upload, even one made
// under older settings: the picture shown is still right.
func TestGivingUpKeepsAnOlderReady(t *testing.T) {
	h := newHarness(t)
	id := manifest.NewID()
	h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
	old := h.readyManifest(t, id)
	old.SettingsHash = "v1:older"
	h.putManifest(t, old)
	h.failOn("put", "small.jpg", slowDown)
	h.run(t, context.Background(), onReceive(s3Message("m", uploads, "uploads/"+id), 5))
	if m := h.manifest(t, id); m.Status != manifest.StatusReady || m.SettingsHash != "v1:older" {
		t.Fatalf("manifest %+v, want the older ready kept", m)
	}
}

// Writes are conditional: If-None-Match for the first manifest, If-Match the ETag
// read when replacing one, so concurrent deliveries cannot interleave.
func TestManifestWritesAreConditional(t *testing.T) {
	h := newHarness(t)
	id := manifest.NewID()
	h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
	rec := &conditionRecorder{ObjectStore: h.store}
	h.handler.store = rec
	h.run(t, context.Background(), s3Message("m", uploads, "uploads/"+id))
	first, _ := h.store.get(output, manifest.Key(id))
	// New settings: the manifest is replaced, conditionally on the version read.
	h.handler.settingsHash = "v1:new"
	h.run(t, context.Background(), s3Message("m", uploads, "uploads/"+id))
	if want := []string{"If-None-Match *", "If-Match " + first.etag}; strings.Join(rec.manifestPuts, ";") != strings.Join(want, ";") {
		t.Errorf("manifest puts %q, want %q", rec.manifestPuts, want)
	}
}

type conditionRecorder struct {
	ObjectStore
	manifestPuts []string
}

func (c *conditionRecorder) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if strings.HasPrefix(*in.Key, manifest.ManifestsPrefix) {
		switch {
		case in.IfNoneMatch != nil:
			c.manifestPuts = append(c.manifestPuts, "If-None-Match "+*in.IfNoneMatch)
		case in.IfMatch != nil:
			c.manifestPuts = append(c.manifestPuts, "If-Match "+*in.IfMatch)
		default:
			c.manifestPuts = append(c.manifestPuts, "unconditional")
		}
	}
	return c.ObjectStore.PutObject(ctx, in, opts...)
}

// An unreadable manifest is redone and replaced; a manifest that cannot be read
// because the read failed is retried, never taken for "no manifest".
func TestUnreadableManifestIsRedoneFailedReadRetried(t *testing.T) {
	t.Run("unreadable", func(t *testing.T) {
		h := newHarness(t)
		id := manifest.NewID()
		h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
		h.store.add(output, manifest.Key(id), []byte(`{"status":"re`), nil)
		if failed := h.run(t, context.Background(), s3Message("m", uploads, "uploads/"+id)); len(failed) != 0 {
			t.Fatalf("failures %v", failed)
		}
		if m := h.manifest(t, id); m.Status != manifest.StatusReady {
			t.Fatalf("manifest %+v", m)
		}
	})
	t.Run("body cut short", func(t *testing.T) {
		h := newHarness(t)
		id := manifest.NewID()
		h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
		h.putManifest(t, h.readyManifest(t, id))
		h.handler.store = brokenBodies{h.store}
		if failed := h.run(t, context.Background(), s3Message("m", uploads, "uploads/"+id)); len(failed) != 1 {
			t.Fatalf("failures %v, want a retry", failed)
		}
		if h.engine.calls != 0 {
			t.Error("a failed read was taken for no manifest and the image redone")
		}
	})
}

// brokenBodies cuts every manifest body short with a network error.
type brokenBodies struct{ *fakeStore }

func (b brokenBodies) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	out, err := b.fakeStore.GetObject(ctx, in, opts...)
	if err == nil && strings.HasPrefix(*in.Key, manifest.ManifestsPrefix) {
		out.Body = io.NopCloser(io.MultiReader(io.LimitReader(out.Body, 5), errReader{errors.New("connection reset by peer")}))
	}
	return out, err
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestEventsFromAnotherBucketAreIgnored(t *testing.T) {
	h := newHarness(t)
	id := manifest.NewID()
	h.store.add("someone-elses", "uploads/"+id, []byte("jpeg"), nil)
	if failed := h.run(t, context.Background(), s3Message("m", "someone-elses", "uploads/"+id)); len(failed) != 0 {
		t.Fatalf("failures %v", failed)
	}
	if len(h.store.calls) != 0 || h.engine.calls != 0 {
		t.Errorf("an event from another bucket was acted on: %v", h.store.calls)
	}
	if !strings.Contains(h.logs.String(), "another bucket") {
		t.Errorf("not logged:\n%s", h.logs)
	}
}

// Losing a conditional write re-reads and decides again, a bounded number of times.
func TestConflictingWritesAreBounded(t *testing.T) {
	h := newHarness(t)
	id := manifest.NewID()
	h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
	h.failOn("put", ".json", &smithy.GenericAPIError{Code: "ConditionalRequestConflict", Message: "conflict"})
	if failed := h.run(t, context.Background(), s3Message("m", uploads, "uploads/"+id)); len(failed) != 1 {
		t.Fatalf("failures %v, want a retry after the attempts ran out", failed)
	}
	puts := 0
	for _, c := range h.store.calls {
		if strings.HasPrefix(c, "put ") && strings.Contains(c, "/"+manifest.ManifestsPrefix) {
			puts++
		}
	}
	if puts != commitAttempts {
		t.Errorf("%d manifest writes, want %d", puts, commitAttempts)
	}
}
