package eventbridge

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
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdk "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/imagepipe/imagepipe/localcloud/sigv4"
	"github.com/imagepipe/imagepipe/shared/imageevents"
	"github.com/imagepipe/imagepipe/shared/imageevents/schemacheck"
	"github.com/imagepipe/imagepipe/shared/manifest"
)

const (
	testKey    = "TESTACCESSKEY"
	testSecret = "test-secret"
	busName    = "imagepipe-events"
)

// hook is a webhook endpoint that answers from a script, then 200.
type hook struct {
	mu      sync.Mutex
	script  []int // statuses to answer, in order, before 200s
	stall   int   // how many first requests to stall past the timeout
	bodies  [][]byte
	headers []http.Header
	srv     *httptest.Server
}

func newHook(t *testing.T, script ...int) *hook {
	t.Helper()
	h := &hook{script: script}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, body)
		h.headers = append(h.headers, r.Header.Clone())
		stall := h.stall > 0
		h.stall--
		status := http.StatusOK
		if len(h.script) > 0 {
			status, h.script = h.script[0], h.script[1:]
		}
		h.mu.Unlock()
		if stall {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) received() ([][]byte, []http.Header) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.bodies...), append([]http.Header(nil), h.headers...)
}

// dlq records dead letters.
type dlq struct {
	mu   sync.Mutex
	msgs []*sqs.SendMessageInput
}

func (d *dlq) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.msgs = append(d.msgs, in)
	return &sqs.SendMessageOutput{MessageId: aws.String("m")}, nil
}

func (d *dlq) all() []*sqs.SendMessageInput {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*sqs.SendMessageInput(nil), d.msgs...)
}

type fixture struct {
	bus     *Bus
	url     string
	client  *sdk.Client
	webhook *Webhook
	dlq     *dlq
}

func newFixture(t *testing.T, hookURL string, tune func(*WebhookConfig)) *fixture {
	t.Helper()
	bus, err := New(Config{Name: busName, Verifier: sigv4.New("us-east-1", "events", map[string]string{testKey: testSecret})})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{bus: bus, dlq: &dlq{}}
	wcfg := WebhookConfig{URL: hookURL, HeaderName: "X-Api-Key", HeaderValue: "k-123",
		InitialBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond,
		DeadLetter: f.dlq, DeadLetterURL: "http://127.0.0.1:1/000000000000/events-dlq"}
	if tune != nil {
		tune(&wcfg)
	}
	if f.webhook, err = NewWebhook(wcfg); err != nil {
		t.Fatal(err)
	}
	if err := bus.AddRule("webhook", imageevents.Pattern().JSON(), f.webhook); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(bus)
	t.Cleanup(func() {
		srv.Close()
		_ = bus.Close(context.Background())
	})
	f.url = srv.URL
	f.client = sdk.New(sdk.Options{Region: "us-east-1", BaseEndpoint: &f.url,
		Credentials: credentials.NewStaticCredentialsProvider(testKey, testSecret, ""), RetryMaxAttempts: 1})
	return f
}

func readyEvent(t *testing.T) imageevents.Event {
	t.Helper()
	ev, err := imageevents.FromManifest(manifest.Manifest{
		ID: "5b0c1f0e9f7d4c3a8e2a6b1d0c9e8f7a", Status: manifest.StatusReady, Owner: "u1",
		Source:      manifest.Source{Key: "uploads/5b0c1f0e9f7d4c3a8e2a6b1d0c9e8f7a", Bytes: 100},
		Variants:    []manifest.Variant{{Name: "thumb", Format: "jpeg", Width: 2, Height: 2, Bytes: 10, Key: "variants/5b0c1f0e9f7d4c3a8e2a6b1d0c9e8f7a/thumb.jpg"}},
		CompletedAt: time.Date(2026, 11, 22, 10, 0, 2, 0, time.UTC),
	}, imageevents.URLs{})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// waitFor polls cond until it holds; the deadline only stops a broken test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("gave up waiting for %s", what)
}

func (f *fixture) deliveries(t *testing.T, state string, n int) []DeliveryRecord {
	t.Helper()
	var got []DeliveryRecord
	waitFor(t, fmt.Sprintf("%d deliveries %s", n, state), func() bool {
		got = got[:0]
		for _, d := range f.webhook.Deliveries() {
			if d.State == state {
				got = append(got, d)
			}
		}
		return len(got) >= n
	})
	return got
}

func TestPutEventsThroughTheSDK(t *testing.T) {
	h := newHook(t)
	f := newFixture(t, h.srv.URL, nil)
	pub, err := imageevents.NewBus(f.client, busName)
	if err != nil {
		t.Fatal(err)
	}
	ev := readyEvent(t)
	if err := pub.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	f.deliveries(t, StateDelivered, 1)
	bodies, headers := h.received()
	if len(bodies) != 1 {
		t.Fatalf("%d webhook calls", len(bodies))
	}
	if err := schemacheck.Validate(bodies[0]); err != nil {
		t.Errorf("%v\n%s", err, bodies[0])
	}
	var got struct {
		Source, DetailType, Time string
		Detail                   json.RawMessage
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(bodies[0], &raw)
	_ = json.Unmarshal(raw["source"], &got.Source)
	_ = json.Unmarshal(raw["detail-type"], &got.DetailType)
	_ = json.Unmarshal(raw["time"], &got.Time)
	if got.Source != "imagepipe" || got.DetailType != "ImageReady" || got.Time != "2026-11-22T10:00:02Z" || string(raw["detail"]) != string(ev.Detail) {
		t.Errorf("event %s", bodies[0])
	}
	if headers[0].Get("X-Api-Key") != "k-123" || !strings.HasPrefix(headers[0].Get("Content-Type"), "application/json") {
		t.Errorf("headers %v", headers[0])
	}
	recs := f.bus.Events()
	if len(recs) != 1 || recs[0].DetailType != "ImageReady" || len(recs[0].Rules) != 1 {
		t.Errorf("recorded %+v", recs)
	}
}

func TestEndpointFromTheEnvironment(t *testing.T) {
	h := newHook(t)
	f := newFixture(t, h.srv.URL, nil)
	t.Setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", f.url)
	t.Setenv("AWS_ACCESS_KEY_ID", testKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecret)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := imageevents.NewBus(sdk.NewFromConfig(cfg), busName)
	if err := pub.Publish(context.Background(), readyEvent(t)); err != nil {
		t.Fatal(err)
	}
	f.deliveries(t, StateDelivered, 1)
}

func TestPutEventsRefusals(t *testing.T) {
	h := newHook(t)
	f := newFixture(t, h.srv.URL, nil)
	ctx := context.Background()
	entry := func(detail string) types.PutEventsRequestEntry {
		return types.PutEventsRequestEntry{Source: aws.String("imagepipe"), DetailType: aws.String("ImageReady"), Detail: aws.String(detail), EventBusName: aws.String(busName)}
	}
	apiCode := func(err error) string {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return ae.ErrorCode()
		}
		return fmt.Sprint(err)
	}

	eleven := make([]types.PutEventsRequestEntry, 11)
	for i := range eleven {
		eleven[i] = entry(`{}`)
	}
	if _, err := f.client.PutEvents(ctx, &sdk.PutEventsInput{Entries: eleven}); apiCode(err) != "ValidationException" {
		t.Errorf("11 entries: %v", err)
	}
	other := entry(`{}`)
	other.EventBusName = aws.String("nope")
	if _, err := f.client.PutEvents(ctx, &sdk.PutEventsInput{Entries: []types.PutEventsRequestEntry{other}}); apiCode(err) != "ResourceNotFoundException" {
		t.Errorf("unknown bus: %v", err)
	}
	big := entry(`{"x":"` + strings.Repeat("a", 300<<10) + `"}`)
	if _, err := f.client.PutEvents(ctx, &sdk.PutEventsInput{Entries: []types.PutEventsRequestEntry{big}}); apiCode(err) != "ValidationException" {
		t.Errorf("over 256 KB: %v", err)
	}
	noType := entry(`{}`)
	noType.DetailType = nil
	out, err := f.client.PutEvents(ctx, &sdk.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry(`not json`), entry(`[1]`), noType, entry(`{"version":"1"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, e := range out.Entries {
		codes = append(codes, aws.ToString(e.ErrorCode))
	}
	if out.FailedEntryCount != 3 || strings.Join(codes, ",") != "MalformedDetail,MalformedDetail,InvalidArgument," || out.Entries[3].EventId == nil {
		t.Errorf("failed %d, codes %v", out.FailedEntryCount, codes)
	}

	f.bus.FailPuts(1)
	pub, _ := imageevents.NewBus(f.client, busName)
	if err := pub.Publish(ctx, readyEvent(t)); err == nil || !strings.Contains(err.Error(), "InternalFailure") {
		t.Errorf("injected failure: %v", err)
	}
	if err := pub.Publish(ctx, readyEvent(t)); err != nil {
		t.Errorf("after the injected failure: %v", err)
	}

	// Signatures are checked like the local S3's.
	wrong := sdk.New(sdk.Options{Region: "us-east-1", BaseEndpoint: &f.url, RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(testKey, "not-the-secret", "")})
	if _, err := wrong.PutEvents(ctx, &sdk.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry(`{}`)}}); apiCode(err) != "SignatureDoesNotMatch" {
		t.Errorf("wrong secret: %v", err)
	}
	resp, err := http.Post(f.url, "application/x-amz-json-1.1", strings.NewReader(`{"Entries":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned request: %d", resp.StatusCode)
	}
}

func TestWebhookRetries(t *testing.T) {
	tests := []struct {
		name      string
		script    []int
		stall     int
		tune      func(*WebhookConfig)
		wantState string
		wantCalls int
		wantDLQ   string // EXHAUSTED_RETRY_CONDITION or ERROR_CODE of the dead letter
	}{
		{name: "fails and recovers", script: []int{503, 500, 429}, wantState: StateDelivered, wantCalls: 4},
		{name: "401 and 409 are retried", script: []int{401, 409}, wantState: StateDelivered, wantCalls: 3},
		{name: "timeout is retried", stall: 1, tune: func(c *WebhookConfig) { c.Timeout = 50 * time.Millisecond },
			wantState: StateDelivered, wantCalls: 2},
		{name: "400 is not retried", script: []int{400}, wantState: StateDeadLettered, wantCalls: 1, wantDLQ: "SDK_CLIENT_ERROR"},
		{name: "a redirect is not followed", script: []int{302}, wantState: StateDeadLettered, wantCalls: 1, wantDLQ: "SDK_CLIENT_ERROR"},
		{name: "attempts run out", script: []int{500, 500, 500, 500}, tune: func(c *WebhookConfig) { c.MaxAttempts = 3 },
			wantState: StateDeadLettered, wantCalls: 3, wantDLQ: "MaximumRetryAttempts"},
		{name: "age runs out", script: []int{500, 500, 500, 500}, tune: func(c *WebhookConfig) {
			c.MaxAge, c.InitialBackoff = time.Millisecond, 10*time.Millisecond
		}, wantState: StateDeadLettered, wantCalls: 1, wantDLQ: "MaximumEventAgeInSeconds"},
		{name: "no dead-letter queue drops", script: []int{400}, tune: func(c *WebhookConfig) { c.DeadLetter, c.DeadLetterURL = nil, "" },
			wantState: StateDropped, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHook(t, tt.script...)
			h.stall = tt.stall
			f := newFixture(t, h.srv.URL, tt.tune)
			pub, _ := imageevents.NewBus(f.client, busName)
			if err := pub.Publish(context.Background(), readyEvent(t)); err != nil {
				t.Fatal(err)
			}
			rec := f.deliveries(t, tt.wantState, 1)[0]
			bodies, _ := h.received()
			if len(bodies) != tt.wantCalls || rec.Attempts != tt.wantCalls {
				t.Errorf("%d calls, %d attempts recorded; want %d", len(bodies), rec.Attempts, tt.wantCalls)
			}
			for i := range bodies {
				if string(bodies[i]) != string(bodies[0]) {
					t.Errorf("attempt %d sent a different body", i)
				}
			}
			letters := f.dlq.all()
			if tt.wantDLQ == "" {
				if len(letters) != 0 {
					t.Errorf("%d dead letters", len(letters))
				}
				return
			}
			if len(letters) != 1 || aws.ToString(letters[0].MessageBody) != string(bodies[0]) {
				t.Fatalf("dead letters %v", letters)
			}
			a := letters[0].MessageAttributes
			got := aws.ToString(a["EXHAUSTED_RETRY_CONDITION"].StringValue)
			if got == "" {
				got = aws.ToString(a["ERROR_CODE"].StringValue)
			}
			if got != tt.wantDLQ || aws.ToString(a["RULE_ARN"].StringValue) != f.bus.RuleARN("webhook") {
				t.Errorf("dead letter attributes %v", a)
			}
		})
	}
}

func TestWebhookCloseAbandonsRetries(t *testing.T) {
	h := newHook(t, 500, 500, 500, 500, 500, 500, 500)
	f := newFixture(t, h.srv.URL, func(c *WebhookConfig) { c.InitialBackoff, c.MaxBackoff, c.MaxAge = time.Hour, time.Hour, 2*time.Hour })
	pub, _ := imageevents.NewBus(f.client, busName)
	if err := pub.Publish(context.Background(), readyEvent(t)); err != nil {
		t.Fatal(err)
	}
	f.deliveries(t, StateRetrying, 1)
	if err := f.bus.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.webhook.Deliveries(); len(got) != 1 || got[0].State != StateAbandoned {
		t.Errorf("after close: %+v", got)
	}
}

func TestWebhookConfigRefusals(t *testing.T) {
	for _, c := range []WebhookConfig{
		{},
		{URL: "http://127.0.0.1:1/", HeaderName: "X-Api-Key"},
		{URL: "http://127.0.0.1:1/", DeadLetterURL: "http://q"},
	} {
		if w, err := NewWebhook(c); err == nil {
			_ = w.Close(context.Background())
			t.Errorf("accepted %+v", c)
		}
	}
}
