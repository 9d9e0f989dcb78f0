package localcloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/imagepipe/imagepipe/localcloud/eventbridge"
	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/imageevents"
	"github.com/imagepipe/imagepipe/shared/imageevents/schemacheck"
	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/web/opsview"
)

// appWebhook is the application's endpoint: it fails its first failFirst requests
// with 503, then takes every event, checking that the image's manifest is already
// committed when the event arrives.
type appWebhook struct {
	t         *testing.T
	failFirst int32
	calls     atomic.Int32
	cloud     atomic.Pointer[Cloud]

	mu     sync.Mutex
	events []webhookEvent
}

type webhookEvent struct {
	body       []byte
	detailType string
	detail     imageevents.Detail
	apiKey     string
}

func (h *appWebhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.calls.Add(1) <= h.failFirst {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var ev struct {
		DetailType string             `json:"detail-type"`
		Detail     imageevents.Detail `json:"detail"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		h.t.Errorf("webhook body is not an event: %v: %s", err, body)
	}
	if c := h.cloud.Load(); c != nil && ev.DetailType != imageevents.TypeDeleted {
		m, err := manifest.Read(r.Context(), c.S3, c.OutputBucket, ev.Detail.ID)
		if err != nil || m == nil || string(m.Status) != ev.Detail.Status {
			h.t.Errorf("%s of %s arrived before its manifest was committed (manifest %v, %v)", ev.DetailType, ev.Detail.ID, m, err)
		}
	}
	h.mu.Lock()
	h.events = append(h.events, webhookEvent{body: body, detailType: ev.DetailType, detail: ev.Detail, apiKey: r.Header.Get("x-api-key")})
	h.mu.Unlock()
}

// of returns the events received for image id.
func (h *appWebhook) of(id string) []webhookEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []webhookEvent
	for _, e := range h.events {
		if e.detail.ID == id {
			out = append(out, e)
		}
	}
	return out
}

func startCloudWithWebhook(t *testing.T, hook *appWebhook) *Cloud {
	t.Helper()
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	c := startCloud(t, func(cfg *Config) {
		cfg.Settings.Events.WebhookURL = srv.URL + "/hooks/imagepipe"
		cfg.WebhookAPIKey = "app-secret-key"
		cfg.WebhookRetry = WebhookRetry{InitialBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	})
	hook.cloud.Store(c)
	return c
}

func waitEvents(t *testing.T, hook *appWebhook, id string, n int) []webhookEvent {
	t.Helper()
	var got []webhookEvent
	eventually(t, 30*time.Second, fmt.Sprintf("%d events of %s at the webhook", n, id), func() error {
		if got = hook.of(id); len(got) < n {
			return fmt.Errorf("%d events so far", len(got))
		}
		return nil
	})
	return got
}

// TestWebhookGetsEveryEvent: through the local cloud, an application's webhook
// that is down at first gets ImageReady for a good upload and ImageFailed for a
// bad one, each valid against its schema and carrying the connection's header,
// even though the first PutEvents of the good one fails.
func TestWebhookGetsEveryEvent(t *testing.T) {
	hook := &appWebhook{t: t, failFirst: 2}
	c := startCloudWithWebhook(t, hook)

	c.Events.FailPuts(1) // the first publish fails: the message must be retried
	good := presign(t, c, "good.png", "image/png", len(pngBytes(t, 320, 240)))
	if status, _, body := putUpload(t, good, pngBytes(t, 320, 240), nil); status != http.StatusOK {
		t.Fatalf("PUT: %d %s", status, body)
	}
	ready := waitEvents(t, hook, good.ID, 1)[0]

	bad := []byte("\xff\xd8\xff\xe0 this is not really a jpeg")
	broken := presign(t, c, "broken.jpg", "image/jpeg", len(bad))
	if status, _, body := putUpload(t, broken, bad, nil); status != http.StatusOK {
		t.Fatalf("PUT: %d %s", status, body)
	}
	failed := waitEvents(t, hook, broken.ID, 1)[0]

	for _, ev := range []webhookEvent{ready, failed} {
		if err := schemacheck.Validate(ev.body); err != nil {
			t.Errorf("%v\n%s", err, ev.body)
		}
		if ev.apiKey != "app-secret-key" {
			t.Errorf("%s came with API key %q", ev.detailType, ev.apiKey)
		}
	}
	if ready.detailType != imageevents.TypeReady || ready.detail.Source.Filename != "good.png" || len(ready.detail.Variants) == 0 {
		t.Errorf("ready event: %s", ready.body)
	}
	if failed.detailType != imageevents.TypeFailed || failed.detail.Error == nil || failed.detail.Error.Code != "corrupt_image" {
		t.Errorf("failed event: %s", failed.body)
	}
	if st := waitStatus(t, c, good.ID); st.Status != "ready" {
		t.Errorf("status %s", st.Status)
	}

	// The webhook's failures were retried, and the ops records say so.
	var retried bool
	for _, d := range c.Webhook.Deliveries() {
		if d.State != eventbridge.StateDelivered {
			t.Errorf("delivery %+v", d)
		}
		retried = retried || d.Attempts > 1
	}
	if !retried {
		t.Error("no delivery needed a retry, though the webhook failed its first requests")
	}

	// /ops lists both events and their deliveries.
	req, _ := http.NewRequest(http.MethodGet, c.APIURL+"/ops/events", nil)
	status, _, body := do(t, req)
	var report opsview.EventsReport
	if err := json.Unmarshal(body, &report); status != http.StatusOK || err != nil {
		t.Fatalf("GET /ops/events: %d %s", status, body)
	}
	listed := map[string]string{}
	for _, e := range report.Events {
		listed[e.ImageID] = e.DetailType
	}
	if listed[good.ID] != imageevents.TypeReady || listed[broken.ID] != imageevents.TypeFailed || len(report.Deliveries) < 2 || report.Webhook == "" {
		t.Errorf("/ops/events: %s", body)
	}
}

// TestRedeliveryRepeatsTheSameEvent: a duplicate S3 event (at-least-once) finds
// the manifest and publishes again; the application gets the same detail twice
// and dedupes on id and status.
func TestRedeliveryRepeatsTheSameEvent(t *testing.T) {
	hook := &appWebhook{t: t}
	c := startCloudWithWebhook(t, hook)
	data := pngBytes(t, 200, 100)
	up := presign(t, c, "again.png", "image/png", len(data))
	if status, _, body := putUpload(t, up, data, nil); status != http.StatusOK {
		t.Fatalf("PUT: %d %s", status, body)
	}
	first := waitEvents(t, hook, up.ID, 1)[0]
	key := manifest.UploadKey(c.Settings().UploadPrefix, up.ID)
	head, err := c.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &c.UploadsBucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.notifier.ObjectCreated(context.Background(), EventPut, key, aws.ToInt64(head.ContentLength), aws.ToString(head.ETag), "127.0.0.1", "dup"); err != nil {
		t.Fatal(err)
	}
	second := waitEvents(t, hook, up.ID, 2)[1]
	var a, b map[string]json.RawMessage
	_ = json.Unmarshal(first.body, &a)
	_ = json.Unmarshal(second.body, &b)
	if string(a["detail"]) != string(b["detail"]) || string(a["time"]) != string(b["time"]) || string(a["detail-type"]) != string(b["detail-type"]) {
		t.Errorf("the duplicate differs:\n%s\n%s", first.body, second.body)
	}
	if string(a["id"]) == string(b["id"]) {
		t.Error("two deliveries share an EventBridge id; consumers are told to dedupe on detail.id and status instead")
	}
}

// TestDeadWebhookDeadLetters: a webhook that never answers well ends in the
// events DLQ after the local retry bounds, with EventBridge's attributes.
func TestDeadWebhookDeadLetters(t *testing.T) {
	hook := &appWebhook{t: t, failFirst: 1 << 20}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	c := startCloud(t, func(cfg *Config) {
		cfg.Settings.Events.WebhookURL = srv.URL
		cfg.WebhookRetry = WebhookRetry{MaxAttempts: 3, InitialBackoff: 10 * time.Millisecond}
	})
	pub, err := c.EventPublisher()
	if err != nil {
		t.Fatal(err)
	}
	id := manifest.NewID()
	ev, err := imageevents.Deleted(id, "owner-1", nil, manifest.Source{Key: "uploads/" + id}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "a dead letter", func() error {
		out, err := c.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &c.EventsDLQURL, MessageAttributeNames: []string{"All"}})
		if err != nil {
			return err
		}
		if len(out.Messages) == 0 {
			return errors.New("DLQ empty")
		}
		m := out.Messages[0]
		if err := schemacheck.Validate([]byte(aws.ToString(m.Body))); err != nil {
			t.Errorf("dead letter body: %v", err)
		}
		if got := aws.ToString(m.MessageAttributes["EXHAUSTED_RETRY_CONDITION"].StringValue); got != "MaximumRetryAttempts" {
			t.Errorf("attributes %v", m.MessageAttributes)
		}
		return nil
	})
	if n := hook.calls.Load(); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
}

// TestReadyEventListsAlternates: the ImageReady of a variant set with extra
// encodings carries each alternate, valid against the schema.
func TestReadyEventListsAlternates(t *testing.T) {
	hook := &appWebhook{t: t}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	c := startCloud(t, func(cfg *Config) {
		cfg.Settings.Events.WebhookURL = srv.URL
		// The WebP encoder's first use compiles its WASM: give one image room.
		cfg.Settings.Resize.Timeout, cfg.Settings.Resize.ImageTimeout, cfg.Settings.Resize.BatchSize = 30*time.Second, 10*time.Second, 2
		cfg.VisibilityTimeout = 0 // six times the timeout, as deployed
		cfg.Settings.Variants = []imagecore.Variant{
			{Name: "thumb", Width: 48, Height: 48, Fit: imagecore.FitCover, Formats: []imagecore.Format{imagecore.FormatWebP}},
			{Name: "small", Width: 80},
		}
	})
	hook.cloud.Store(c)
	data := pngBytes(t, 160, 120)
	up := presign(t, c, "alt.png", "image/png", len(data))
	if status, _, body := putUpload(t, up, data, nil); status != http.StatusOK {
		t.Fatalf("PUT: %d %s", status, body)
	}
	ev := waitEvents(t, hook, up.ID, 1)[0]
	if err := schemacheck.Validate(ev.body); err != nil {
		t.Errorf("%v\n%s", err, ev.body)
	}
	m := readManifest(t, c, up.ID)
	if m == nil || len(ev.detail.Variants) != len(m.Variants) {
		t.Fatalf("event variants %+v, manifest %+v", ev.detail.Variants, m)
	}
	for i, v := range ev.detail.Variants {
		mv := m.Variants[i]
		if v.Key != mv.Key || v.Bytes != mv.Bytes || len(v.Alternates) != len(mv.Alternates) {
			t.Errorf("variant %d: event %+v, manifest %+v", i, v, mv)
			continue
		}
		for j, a := range v.Alternates {
			if a.Format != mv.Alternates[j].Format || a.Key != mv.Alternates[j].Key || a.Bytes != mv.Alternates[j].Bytes {
				t.Errorf("alternate %d of %s: event %+v, manifest %+v", j, v.Name, a, mv.Alternates[j])
			}
		}
	}
	if len(ev.detail.Variants) == 0 || len(ev.detail.Variants[0].Alternates) != 1 || ev.detail.Variants[0].Alternates[0].Format != "webp" {
		t.Fatalf("thumb alternates %+v, want one webp", ev.detail.Variants)
	}
	// The URLs are the local CDN's, as the status API hands them out.
	thumb := ev.detail.Variants[0]
	if c.CDNURL == "" || !strings.HasPrefix(thumb.URL, c.CDNURL+"/") || !strings.HasSuffix(thumb.URL, ".webp.jpg") ||
		!strings.HasPrefix(thumb.Alternates[0].URL, c.CDNURL+"/") || !strings.HasSuffix(thumb.Alternates[0].URL, ".webp") {
		t.Errorf("thumb URLs %q and %q, want the CDN's (%s)", thumb.URL, thumb.Alternates[0].URL, c.CDNURL)
	}
	for _, u := range []string{thumb.URL, thumb.Alternates[0].URL} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Accept", "image/webp")
		if status, _, body := do(t, req); status != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s: %d", u, status)
		}
	}
}

// TestDeleteTellsTheApplication: after DELETE /v1/images/{id} the webhook gets
// ImageDeleted, valid against its schema, after the image's ImageReady.
func TestDeleteTellsTheApplication(t *testing.T) {
	hook := &appWebhook{t: t}
	c := startCloudWithWebhook(t, hook)
	data := pngBytes(t, 120, 90)
	up := presign(t, c, "gone.png", "image/png", len(data))
	if status, _, body := putUpload(t, up, data, nil); status != http.StatusOK {
		t.Fatalf("PUT: %d %s", status, body)
	}
	waitEvents(t, hook, up.ID, 1)
	req, _ := http.NewRequest(http.MethodDelete, c.APIURL+"/v1/images/"+up.ID, nil)
	authorize(t, c, req, testUser)
	if status, _, body := do(t, req); status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", status, body)
	}
	got := waitEvents(t, hook, up.ID, 2)
	del := got[len(got)-1]
	if del.detailType != imageevents.TypeDeleted || del.detail.Status != imageevents.StatusDeleted ||
		del.detail.Source.Key != manifest.UploadKey(c.Settings().UploadPrefix, up.ID) || del.detail.Owner == "" {
		t.Errorf("delete event: %s", del.body)
	}
	if err := schemacheck.Validate(del.body); err != nil {
		t.Errorf("%v\n%s", err, del.body)
	}
}
