package resize

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/imageevents"
	"github.com/imagepipe/imagepipe/shared/imageevents/schemacheck"
	"github.com/imagepipe/imagepipe/shared/manifest"
)

// eventLog is a Publisher that checks, when called, that the manifest the event
// reports is already in the store, and fails the first failFirst calls.
type eventLog struct {
	t         *testing.T
	store     *fakeStore
	failFirst int
	calls     int
	published []imageevents.Event // the ones that succeeded
	attempted []imageevents.Event
}

func (l *eventLog) Publish(_ context.Context, evs ...imageevents.Event) error {
	l.calls++
	for _, ev := range evs {
		o, ok := l.store.get(output, manifest.Key(ev.ID))
		if !ok {
			l.t.Errorf("%s of %s published before its manifest was written", ev.DetailType, ev.ID)
		} else {
			var m manifest.Manifest
			if err := json.Unmarshal(o.body, &m); err != nil || string(m.Status) != ev.Status {
				l.t.Errorf("%s published with status %s; the stored manifest says %s (%v)", ev.DetailType, ev.Status, m.Status, err)
			}
		}
		if err := schemacheck.Validate(schemacheck.Envelope(ev.DetailType, ev.Detail, ev.Time.Format(time.RFC3339))); err != nil {
			l.t.Error(err)
		}
		l.attempted = append(l.attempted, ev)
	}
	if l.calls <= l.failFirst {
		return errors.New("eventbridge: ThrottlingException")
	}
	l.published = append(l.published, evs...)
	return nil
}

func cdnURL(key string) string { return "https://cdn.example.com/" + key }

var cdnURLs = imageevents.URLs{Variant: func(v manifest.Variant) string { return cdnURL(v.Key) }, Object: cdnURL}

func TestEventsAfterTheManifest(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(h *harness, id string)
		wantType  string
		wantCode  string
		failFirst int
	}{
		{name: "ready", wantType: imageevents.TypeReady,
			setup: func(h *harness, id string) { h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil) }},
		{name: "unsupported", wantType: imageevents.TypeFailed, wantCode: "unsupported_format",
			setup: func(h *harness, id string) {
				h.store.add(uploads, "uploads/"+id, []byte("text"), nil)
				h.engine.err = &imagecore.Error{Code: imagecore.CodeUnsupportedFormat, Message: "not an image"}
			}},
		{name: "source gone", wantType: imageevents.TypeFailed, wantCode: CodeSourceMissing, setup: func(*harness, string) {}},
		{name: "ready, first publish fails", wantType: imageevents.TypeReady, failFirst: 1,
			setup: func(h *harness, id string) { h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil) }},
		{name: "failed, two publishes fail", wantType: imageevents.TypeFailed, wantCode: "corrupt_image", failFirst: 2,
			setup: func(h *harness, id string) {
				h.store.add(uploads, "uploads/"+id, []byte("junk"), nil)
				h.engine.err = &imagecore.Error{Code: imagecore.CodeCorrupt, Message: "bad huffman code"}
			}},
		{name: "source gone, first publish fails", wantType: imageevents.TypeFailed, wantCode: CodeSourceMissing, failFirst: 1,
			setup: func(*harness, string) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			id := manifest.NewID()
			tt.setup(h, id)
			log := &eventLog{t: t, store: h.store, failFirst: tt.failFirst}
			h.handler.WithEvents(log, cdnURLs)
			msg := s3Message("m1", uploads, "uploads/"+id)
			// SQS redelivers while the message is reported failed.
			for attempt := 0; ; attempt++ {
				failed := h.run(t, context.Background(), msg)
				if attempt < tt.failFirst {
					if len(failed) != 1 {
						t.Fatalf("attempt %d: publish failed but the message was not handed back", attempt)
					}
					continue
				}
				if len(failed) != 0 {
					t.Fatalf("attempt %d: message handed back after a good publish; logs:\n%s", attempt, h.logs)
				}
				break
			}
			if len(log.published) != 1 || len(log.attempted) != tt.failFirst+1 {
				t.Fatalf("published %d, attempted %d; want 1 and %d", len(log.published), len(log.attempted), tt.failFirst+1)
			}
			ev := log.published[0]
			for i, a := range log.attempted {
				if !bytes.Equal(a.Detail, ev.Detail) || !a.Time.Equal(ev.Time) || a.DetailType != ev.DetailType {
					t.Errorf("attempt %d differs from the one delivered:\n%s\n%s", i, a.Detail, ev.Detail)
				}
			}
			var d imageevents.Detail
			if err := json.Unmarshal(ev.Detail, &d); err != nil {
				t.Fatal(err)
			}
			if ev.DetailType != tt.wantType || d.ID != id {
				t.Errorf("got %s of %s, want %s of %s", ev.DetailType, d.ID, tt.wantType, id)
			}
			if tt.wantCode != "" && (d.Error == nil || d.Error.Code != tt.wantCode) {
				t.Errorf("error %+v, want code %s", d.Error, tt.wantCode)
			}
			if tt.wantType == imageevents.TypeReady && (len(d.Variants) != 2 || d.Variants[0].URL != cdnURL(d.Variants[0].Key)) {
				t.Errorf("variants %+v", d.Variants)
			}
			// The manifest was written once: retries skipped the work.
			if n := strings.Count(strings.Join(h.store.calls, "\n"), "put "+output+"/"+manifest.Key(id)); n != 1 {
				t.Errorf("manifest written %d times", n)
			}
		})
	}
}

func TestNoEventWithoutAManifest(t *testing.T) {
	h := newHarness(t)
	id := manifest.NewID()
	h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
	h.store.fail = func(op, key string) error {
		if op == "put" && key == manifest.Key(id) {
			return errors.New("connection reset")
		}
		return nil
	}
	log := &eventLog{t: t, store: h.store}
	h.handler.WithEvents(log, imageevents.URLs{})
	if failed := h.run(t, context.Background(), s3Message("m1", uploads, "uploads/"+id)); len(failed) != 1 {
		t.Fatalf("failed %v, want the message handed back", failed)
	}
	if log.calls != 0 {
		t.Errorf("%d publishes without a manifest", log.calls)
	}
}

// partialEventBridge fails one entry of its first call, as PutEvents does under
// throttling: a 200 answer with FailedEntryCount 1.
type partialEventBridge struct {
	calls   int
	details []string
}

func (p *partialEventBridge) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	p.calls++
	out := &eventbridge.PutEventsOutput{}
	for _, e := range in.Entries {
		p.details = append(p.details, aws.ToString(e.Detail))
		if p.calls == 1 {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{ErrorCode: aws.String("InternalFailure"), ErrorMessage: aws.String("try again")})
			continue
		}
		out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{EventId: aws.String(fmt.Sprint(p.calls))})
	}
	return out, nil
}

func TestPartialPutEventsFailureIsRetried(t *testing.T) {
	h := newHarness(t)
	id := manifest.NewID()
	h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
	eb := &partialEventBridge{}
	bus, err := imageevents.NewBus(eb, "bus")
	if err != nil {
		t.Fatal(err)
	}
	h.handler.WithEvents(bus, imageevents.URLs{})
	msg := s3Message("m1", uploads, "uploads/"+id)
	if failed := h.run(t, context.Background(), msg); len(failed) != 1 {
		t.Fatalf("a FailedEntryCount of 1 was taken as success")
	}
	if failed := h.run(t, context.Background(), msg); len(failed) != 0 {
		t.Fatalf("retry failed: %v\n%s", failed, h.logs)
	}
	if eb.calls != 2 || len(eb.details) != 2 || eb.details[0] != eb.details[1] {
		t.Errorf("calls %d, details %q", eb.calls, eb.details)
	}
}

func TestConfigEventBus(t *testing.T) {
	env := map[string]string{"OUTPUT_BUCKET": "o", "UPLOADS_BUCKET": "u", "MAX_RECEIVE_COUNT": "5"}
	get := func(k string) string { return env[k] }
	if cfg, err := ConfigFromEnv(get); err != nil || cfg.EventBus != "" {
		t.Fatalf("no bus: %+v %v", cfg, err)
	}
	env["EVENT_BUS_NAME"] = " Imagepipe-EventsBus1234 "
	env["CDN_URL"] = "https://d111111abcdef8.cloudfront.net"
	if cfg, err := ConfigFromEnv(get); err != nil || cfg.EventBus != "Imagepipe-EventsBus1234" || cfg.CDNURL != env["CDN_URL"] {
		t.Fatalf("bus: %q %q %v", cfg.EventBus, cfg.CDNURL, err)
	}
	env["CDN_URL"] = "d111111abcdef8.cloudfront.net/"
	if _, err := ConfigFromEnv(get); err == nil || !strings.Contains(err.Error(), "CDN_URL") {
		t.Errorf("bad CDN_URL: %v", err)
	}
}

// TestGivingUpTellsTheApplication: a message on its last receive that fails
// again gets a processing_failed manifest, and the application hears ImageFailed;
// the redrive that later succeeds publishes ImageReady.
func TestGivingUpTellsTheApplication(t *testing.T) {
	h := newHarness(t)
	id := manifest.NewID()
	h.store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
	log := &eventLog{t: t, store: h.store}
	h.handler.WithEvents(log, imageevents.URLs{})
	h.failOn("get", "uploads/"+id, slowDown)
	msg := s3Message("m1", uploads, "uploads/"+id)
	if failed := h.run(t, context.Background(), onReceive(msg, 5)); len(failed) != 1 {
		t.Fatalf("failed %v, want the message handed back to go to the DLQ", failed)
	}
	if len(log.published) != 1 || log.published[0].DetailType != imageevents.TypeFailed ||
		!strings.Contains(string(log.published[0].Detail), `"code":"`+CodeProcessingFailed+`"`) {
		t.Fatalf("published %+v", log.published)
	}
	h.store.fail = nil // the cause is fixed; the DLQ is redriven
	if failed := h.run(t, context.Background(), onReceive(msg, 1)); len(failed) != 0 {
		t.Fatalf("redrive failed: %v\n%s", failed, h.logs)
	}
	if len(log.published) != 2 || log.published[1].DetailType != imageevents.TypeReady {
		t.Fatalf("after the redrive: %+v", log.published)
	}
}
