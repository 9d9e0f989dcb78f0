package imageevents_test

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
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/imagepipe/imagepipe/shared/imageevents"
	"github.com/imagepipe/imagepipe/shared/imageevents/schemacheck"
	"github.com/imagepipe/imagepipe/shared/manifest"
)

const imageID = "5b0c1f0e9f7d4c3a8e2a6b1d0c9e8f7a"

var (
	uploaded  = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	completed = time.Date(2026, 11, 22, 10, 0, 2, 500_000_000, time.UTC)
)

func cdnObject(key string) string { return "https://d111111abcdef8.cloudfront.net/" + key }

// cdn gives every object a URL of its key (the real scheme, imageevents.CDNURLs,
// is tested below).
var cdn = imageevents.URLs{
	Variant: func(v manifest.Variant) string { return cdnObject(v.Key) },
	Object:  cdnObject,
}

func readyManifest() manifest.Manifest {
	return manifest.Manifest{
		Version: manifest.Version, ID: imageID, Status: manifest.StatusReady, Owner: "user-123",
		Source: manifest.Source{Bucket: "uploads", Key: "uploads/" + imageID, ETag: `"abc"`, Filename: "cat.jpg",
			Format: "jpeg", Width: 4032, Height: 3024, Bytes: 2481934, UploadedAt: uploaded},
		Variants: []manifest.Variant{
			{Name: "thumb", Format: "jpeg", Width: 200, Height: 200, Bytes: 9811, Key: "variants/" + imageID + "/thumb.jpg",
				Alternates: []manifest.Alternate{
					{Format: "webp", Key: "variants/" + imageID + "/thumb.webp", Bytes: 7001},
					{Format: "avif", Key: "variants/" + imageID + "/thumb.avif", Bytes: 5002},
				}},
			{Name: "small", Format: "jpeg", Width: 480, Height: 360, Bytes: 30211, Key: "variants/" + imageID + "/small.jpg"},
		},
		CompletedAt: completed, ProcessingMS: 2500, Notes: []string{"ICC profile ignored"},
	}
}

func failedManifest() manifest.Manifest {
	return manifest.Manifest{
		Version: manifest.Version, ID: imageID, Status: manifest.StatusFailed,
		Source:      manifest.Source{Bucket: "uploads", Key: "uploads/" + imageID, ETag: `"def"`, Bytes: 12, UploadedAt: uploaded},
		Variants:    []manifest.Variant{},
		Error:       &manifest.Error{Code: "unsupported_format", Message: "the file is a TIFF, which is not supported"},
		CompletedAt: completed,
	}
}

// envelope is the event as EventBridge would deliver it.
func envelope(e imageevents.Event) []byte {
	return schemacheck.Envelope(e.DetailType, e.Detail, e.Time.Format(time.RFC3339))
}

func TestEventsMatchTheirSchemas(t *testing.T) {
	noOwner := readyManifest()
	noOwner.Owner, noOwner.Notes = "", nil
	noReason := failedManifest()
	noReason.Error = nil
	gone := failedManifest()
	gone.Source = manifest.Source{Bucket: "uploads", Key: "uploads/odd name+1.jpg"}
	gone.Error = &manifest.Error{Code: "source_missing", Message: "the uploaded file was deleted before it could be processed"}
	ready, failed := readyManifest(), failedManifest()
	tests := []struct {
		name   string
		build  func() (imageevents.Event, error)
		typ    string
		status string
	}{
		{"ready with CDN URLs and alternates", func() (imageevents.Event, error) { return imageevents.FromManifest(readyManifest(), cdn) }, "ImageReady", "ready"},
		{"ready without a CDN", func() (imageevents.Event, error) {
			return imageevents.FromManifest(readyManifest(), imageevents.URLs{})
		}, "ImageReady", "ready"},
		{"ready with no owner or notes", func() (imageevents.Event, error) { return imageevents.FromManifest(noOwner, cdn) }, "ImageReady", "ready"},
		{"failed", func() (imageevents.Event, error) { return imageevents.FromManifest(failedManifest(), cdn) }, "ImageFailed", "failed"},
		{"failed without a recorded reason", func() (imageevents.Event, error) { return imageevents.FromManifest(noReason, cdn) }, "ImageFailed", "failed"},
		{"failed, source gone", func() (imageevents.Event, error) { return imageevents.FromManifest(gone, cdn) }, "ImageFailed", "failed"},
		{"deleted after ready", func() (imageevents.Event, error) {
			return imageevents.Deleted(imageID, "", &ready, manifest.Source{}, completed.Add(time.Hour))
		}, "ImageDeleted", "deleted"},
		{"deleted after failed", func() (imageevents.Event, error) {
			return imageevents.Deleted(imageID, "user-9", &failed, manifest.Source{}, completed.Add(time.Hour))
		}, "ImageDeleted", "deleted"},
		{"deleted while pending", func() (imageevents.Event, error) {
			return imageevents.Deleted(imageID, "user-9", nil, manifest.Source{Key: "uploads/" + imageID, Bytes: 99, UploadedAt: uploaded}, completed)
		}, "ImageDeleted", "deleted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := tt.build()
			if err != nil {
				t.Fatal(err)
			}
			if ev.DetailType != tt.typ || ev.Status != tt.status || ev.ID != imageID {
				t.Errorf("got %s %s %s, want %s %s %s", ev.DetailType, ev.Status, ev.ID, tt.typ, tt.status, imageID)
			}
			if err := schemacheck.Validate(envelope(ev)); err != nil {
				t.Errorf("%v\n%s", err, ev.Detail)
			}
			// Each event matches its own schema only.
			for typ := range schemacheck.Files {
				if typ == tt.typ {
					continue
				}
				if err := schemacheck.Validate(schemacheck.Envelope(typ, ev.Detail, "2026-11-22T10:00:02Z")); err == nil {
					t.Errorf("the detail of a %s event also matches the %s schema", tt.typ, typ)
				}
			}
		})
	}
}

func TestReadyDetail(t *testing.T) {
	ev, err := imageevents.FromManifest(readyManifest(), cdn)
	if err != nil {
		t.Fatal(err)
	}
	var d imageevents.Detail
	if err := json.Unmarshal(ev.Detail, &d); err != nil {
		t.Fatal(err)
	}
	if d.Version != "1" || d.Owner != "user-123" || d.Source.Filename != "cat.jpg" || d.Source.Width != 4032 {
		t.Errorf("detail: %+v", d)
	}
	if len(d.Variants) != 2 || d.Variants[0].URL != cdnObject("variants/"+imageID+"/thumb.jpg") ||
		len(d.Variants[0].Alternates) != 2 || d.Variants[0].Alternates[1].URL != cdnObject("variants/"+imageID+"/thumb.avif") {
		t.Errorf("variants: %+v", d.Variants)
	}
	if !ev.Time.Equal(completed) || d.CompletedAt == nil || !d.CompletedAt.Equal(completed) {
		t.Errorf("time %s, completedAt %v, want %s", ev.Time, d.CompletedAt, completed)
	}
	noCDN, _ := imageevents.FromManifest(readyManifest(), imageevents.URLs{})
	if bytes.Contains(noCDN.Detail, []byte(`"url"`)) {
		t.Errorf("without a CDN the detail still has URLs: %s", noCDN.Detail)
	}
}

func TestSameManifestSameBytes(t *testing.T) {
	for _, m := range []manifest.Manifest{readyManifest(), failedManifest()} {
		a, err := imageevents.FromManifest(m, cdn)
		if err != nil {
			t.Fatal(err)
		}
		// Read back, as a retry would after the manifest was committed.
		raw, _ := json.Marshal(m)
		var again manifest.Manifest
		if err := json.Unmarshal(raw, &again); err != nil {
			t.Fatal(err)
		}
		b, err := imageevents.FromManifest(again, cdn)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Detail, b.Detail) || !a.Time.Equal(b.Time) {
			t.Errorf("%s: detail or time differ after a round trip:\n%s\n%s", m.Status, a.Detail, b.Detail)
		}
	}
}

// A delete retried by its owner publishes again, later: same detail, new time.
func TestDeletedRetrySameDetail(t *testing.T) {
	src := manifest.Source{Key: "uploads/" + imageID}
	a, err := imageevents.Deleted(imageID, "user-1", nil, src, completed)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := imageevents.Deleted(imageID, "user-1", nil, src, completed.Add(time.Minute))
	if !bytes.Equal(a.Detail, b.Detail) || a.Time.Equal(b.Time) {
		t.Errorf("retried delete: %s at %s, %s at %s", a.Detail, a.Time, b.Detail, b.Time)
	}
	if want := `{"version":"1","id":"` + imageID + `","owner":"user-1","status":"deleted","source":{"key":"uploads/` + imageID + `"},"variants":[]}`; string(a.Detail) != want {
		t.Errorf("detail %s, want %s", a.Detail, want)
	}
}

// TestCDNURLs: the URLs events carry are the status API's: the negotiating
// variant URL and fixed-format alternates; none for keys the CDN cannot serve.
func TestCDNURLs(t *testing.T) {
	base := "https://d111111abcdef8.cloudfront.net"
	m := readyManifest()
	tag := strings.Repeat("a", manifest.TagLen)
	m.Variants = []manifest.Variant{
		{Name: "thumb", Format: "jpeg", Width: 200, Height: 200, Bytes: 9811, Key: "variants/" + imageID + "/thumb-" + tag + ".jpg",
			Alternates: []manifest.Alternate{{Format: "webp", Key: "variants/" + imageID + "/thumb-" + tag + ".webp", Bytes: 7001}}},
		{Name: "small", Format: "jpeg", Width: 480, Height: 360, Bytes: 30211, Key: "variants/" + imageID + "/small.jpg"}, // untagged: legacy
	}
	ev, err := imageevents.FromManifest(m, imageevents.CDNURLs(base))
	if err != nil {
		t.Fatal(err)
	}
	var d imageevents.Detail
	if err := json.Unmarshal(ev.Detail, &d); err != nil {
		t.Fatal(err)
	}
	want := base + "/" + imageID + "/thumb-" + tag + ".webp.jpg"
	if d.Variants[0].URL != want || d.Variants[0].Alternates[0].URL != base+"/"+imageID+"/thumb-"+tag+".webp" || d.Variants[1].URL != "" {
		t.Errorf("urls %+v", d.Variants)
	}
	if err := schemacheck.Validate(envelope(ev)); err != nil {
		t.Error(err)
	}
	none, _ := imageevents.FromManifest(m, imageevents.CDNURLs(""))
	if bytes.Contains(none.Detail, []byte(`"url"`)) {
		t.Errorf("no CDN, yet URLs: %s", none.Detail)
	}
}

func TestRefusals(t *testing.T) {
	pending := readyManifest()
	pending.Status = manifest.StatusPending
	if _, err := imageevents.FromManifest(pending, imageevents.URLs{}); err == nil {
		t.Error("an event of a pending manifest was built")
	}
	if _, err := imageevents.Deleted("../x", "", nil, manifest.Source{}, completed); err == nil {
		t.Error("a deleted event of a bad id was built")
	}
	huge := readyManifest()
	huge.Notes = []string{strings.Repeat("n", imageevents.MaxDetailBytes)}
	if _, err := imageevents.FromManifest(huge, imageevents.URLs{}); err == nil {
		t.Error("a detail over the size limit was built")
	}
}

func TestPatternJSON(t *testing.T) {
	want := `{"source":["imagepipe"],"detail-type":["ImageReady","ImageFailed","ImageDeleted"],"detail":{"version":["1"]}}`
	if got := string(imageevents.Pattern().JSON()); got != want {
		t.Errorf("pattern\n got %s\nwant %s", got, want)
	}
}

// fakeEventBridge records PutEvents calls and fails entries as told.
type fakeEventBridge struct {
	calls [][]types.PutEventsRequestEntry
	err   error
	// failEntry fails the entries at these indexes of each call.
	failEntry map[int]bool
}

func (f *fakeEventBridge) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.calls = append(f.calls, in.Entries)
	if f.err != nil {
		return nil, f.err
	}
	out := &eventbridge.PutEventsOutput{}
	for i := range in.Entries {
		if f.failEntry[i] {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, types.PutEventsResultEntry{ErrorCode: aws.String("ThrottlingException"), ErrorMessage: aws.String("slow down")})
			continue
		}
		out.Entries = append(out.Entries, types.PutEventsResultEntry{EventId: aws.String(fmt.Sprint("ev-", i))})
	}
	return out, nil
}

func TestBusPublish(t *testing.T) {
	ev, _ := imageevents.FromManifest(readyManifest(), cdn)
	many := make([]imageevents.Event, 23)
	for i := range many {
		many[i] = ev
	}
	tests := []struct {
		name      string
		fake      *fakeEventBridge
		events    []imageevents.Event
		calls     int
		wantError string
	}{
		{"one event", &fakeEventBridge{}, many[:1], 1, ""},
		{"ten per call", &fakeEventBridge{}, many, 3, ""},
		{"call fails", &fakeEventBridge{err: errors.New("connection reset")}, many[:1], 1, "connection reset"},
		{"partial failure counts as failure", &fakeEventBridge{failEntry: map[int]bool{1: true}}, many[:3], 1, "1 of 3 entries failed: ImageReady " + imageID + ": ThrottlingException slow down"},
		{"nothing to send", &fakeEventBridge{}, nil, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bus, err := imageevents.NewBus(tt.fake, "imagepipe-events")
			if err != nil {
				t.Fatal(err)
			}
			err = bus.Publish(context.Background(), tt.events...)
			if tt.wantError == "" && err != nil || tt.wantError != "" && (err == nil || !strings.Contains(err.Error(), tt.wantError)) {
				t.Fatalf("error %v, want %q", err, tt.wantError)
			}
			if len(tt.fake.calls) != tt.calls {
				t.Fatalf("%d calls, want %d", len(tt.fake.calls), tt.calls)
			}
			for _, call := range tt.fake.calls {
				if len(call) > 10 {
					t.Errorf("%d entries in one call", len(call))
				}
				e := call[0]
				if aws.ToString(e.EventBusName) != "imagepipe-events" || aws.ToString(e.Source) != "imagepipe" ||
					aws.ToString(e.DetailType) != "ImageReady" || aws.ToString(e.Detail) != string(ev.Detail) || !e.Time.Equal(completed) {
					t.Errorf("entry %+v", e)
				}
			}
		})
	}
	if _, err := imageevents.NewBus(&fakeEventBridge{}, " "); err == nil {
		t.Error("a bus without a name was made")
	}
}

// recorder is a Publisher that keeps what it was given.
type recorder struct {
	got []imageevents.Event
	err error
}

func (r *recorder) Publish(_ context.Context, evs ...imageevents.Event) error {
	r.got = append(r.got, evs...)
	return r.err
}

func TestPublishDeleted(t *testing.T) {
	m := readyManifest()
	rec := &recorder{}
	if err := imageevents.PublishDeleted(context.Background(), rec, imageID, "", &m, manifest.Source{}, completed); err != nil {
		t.Fatal(err)
	}
	if len(rec.got) != 1 || rec.got[0].DetailType != "ImageDeleted" || !strings.Contains(string(rec.got[0].Detail), `"owner":"user-123"`) {
		t.Fatalf("published %+v", rec.got)
	}
	if err := schemacheck.Validate(envelope(rec.got[0])); err != nil {
		t.Error(err)
	}
	rec.err = errors.New("bus down")
	if err := imageevents.PublishDeleted(context.Background(), rec, imageID, "", &m, manifest.Source{}, completed); err == nil || !strings.Contains(err.Error(), "bus down") {
		t.Errorf("error %v", err)
	}
	if err := imageevents.PublishDeleted(context.Background(), nil, imageID, "", &m, manifest.Source{}, completed); err != nil {
		t.Errorf("no publisher: %v", err)
	}
}
