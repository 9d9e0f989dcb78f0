package eventbridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Local delivery bounds. EventBridge retries an API destination for up to 24
// hours and 185 attempts (the target's retry policy); the local cloud stops much
// sooner so a dead webhook shows up in the dead letters while you watch.
const (
	DefaultMaxAttempts    = 8
	DefaultMaxAge         = 5 * time.Minute
	DefaultInitialBackoff = 500 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
	// DefaultTimeout is an API destination's: a request that takes longer fails
	// and is retried.
	DefaultTimeout   = 5 * time.Second
	defaultWorkers   = 4
	defaultQueueSize = 1000
	defaultKept      = 200
)

// DeadLetterQueue is the part of *sqs.Client a webhook uses for dead letters.
type DeadLetterQueue interface {
	SendMessage(ctx context.Context, params *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// WebhookConfig describes an API destination and its connection, and the
// target's retry policy.
type WebhookConfig struct {
	// Name identifies the target in records (its "ARN" is built from it).
	Name string
	URL  string
	// HeaderName and HeaderValue are the connection's API key header.
	HeaderName, HeaderValue string
	// MaxAttempts (retries + 1) and MaxAge bound the retries; the defaults are
	// the local bounds above.
	MaxAttempts    int
	MaxAge         time.Duration
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	Timeout        time.Duration
	// DeadLetter and DeadLetterURL receive events whose delivery gave up, with
	// EventBridge's message attributes; without them such events are dropped (and
	// still recorded).
	DeadLetter    DeadLetterQueue
	DeadLetterURL string
	Workers       int
	QueueSize     int
	// Kept is how many delivery records Deliveries returns.
	Kept   int
	Client *http.Client
	Now    func() time.Time
	Log    *slog.Logger
}

// Delivery states.
const (
	StateQueued       = "queued"
	StateRetrying     = "retrying"
	StateDelivered    = "delivered"
	StateDeadLettered = "dead-lettered"
	StateDropped      = "dropped"
	StateAbandoned    = "abandoned"
)

// DeliveryRecord is what became of one event at one webhook.
type DeliveryRecord struct {
	EventID    string    `json:"eventId"`
	DetailType string    `json:"detailType"`
	Target     string    `json:"target"`
	State      string    `json:"state"`
	Attempts   int       `json:"attempts"`
	LastStatus int       `json:"lastStatus,omitempty"`
	LastError  string    `json:"lastError,omitempty"`
	First      time.Time `json:"first"`
	Last       time.Time `json:"last"`
}

// Webhook delivers events to one HTTP endpoint as an API destination does: POST,
// the whole event JSON as the body, the connection's header, retries with
// exponential backoff on 401, 407, 409, 429, 5xx and timeouts or connection
// errors, none on other answers.
type Webhook struct {
	cfg   WebhookConfig
	queue chan Event
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup

	mu      sync.Mutex
	records []*DeliveryRecord
	byEvent map[string]*DeliveryRecord
	closed  bool
}

// NewWebhook starts a webhook target's workers; Close stops them.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	if cfg.URL == "" {
		return nil, errors.New("eventbridge: a webhook needs a URL")
	}
	if (cfg.HeaderName == "") != (cfg.HeaderValue == "") {
		return nil, errors.New("eventbridge: a webhook's API key needs both a header name and a value")
	}
	if (cfg.DeadLetter == nil) != (cfg.DeadLetterURL == "") {
		return nil, errors.New("eventbridge: a dead-letter queue needs both a client and a URL")
	}
	if cfg.Name == "" {
		cfg.Name = "webhook"
	}
	setDefault(&cfg.MaxAttempts, DefaultMaxAttempts)
	setDefault(&cfg.MaxAge, DefaultMaxAge)
	setDefault(&cfg.InitialBackoff, DefaultInitialBackoff)
	setDefault(&cfg.MaxBackoff, DefaultMaxBackoff)
	setDefault(&cfg.Timeout, DefaultTimeout)
	setDefault(&cfg.Workers, defaultWorkers)
	setDefault(&cfg.QueueSize, defaultQueueSize)
	setDefault(&cfg.Kept, defaultKept)
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.Timeout,
			// An API destination does not follow redirects; a 3xx is an answer.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ctx, stop := context.WithCancel(context.Background())
	w := &Webhook{cfg: cfg, queue: make(chan Event, cfg.QueueSize), ctx: ctx, stop: stop, byEvent: map[string]*DeliveryRecord{}}
	for range cfg.Workers {
		w.wg.Add(1)
		go w.work()
	}
	return w, nil
}

func setDefault[T int | time.Duration](p *T, def T) {
	if *p <= 0 {
		*p = def
	}
}

// TargetARN names the target in dead-letter attributes.
func (w *Webhook) TargetARN() string {
	return "arn:aws:events:local:000000000000:api-destination/" + w.cfg.Name
}

// Deliver queues an event; a full queue dead-letters it at once.
func (w *Webhook) Deliver(e Event) {
	rec := w.record(e)
	w.mu.Lock()
	closed := w.closed
	w.mu.Unlock()
	if closed {
		w.finish(rec, StateAbandoned, "the local cloud was stopping")
		return
	}
	select {
	case w.queue <- e:
	default:
		w.giveUp(context.Background(), e, rec, "QUEUE_FULL", "the local delivery queue is full", "LocalQueueFull")
	}
}

// Close stops delivery: in-flight attempts are cut off and queued events are
// recorded as abandoned (on AWS they would still be retried).
func (w *Webhook) Close(context.Context) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	w.stop()
	w.wg.Wait()
	for {
		select {
		case e := <-w.queue:
			w.finish(w.record(e), StateAbandoned, "the local cloud stopped before delivery")
		default:
			return nil
		}
	}
}

// Deliveries returns the recent delivery records, oldest first.
func (w *Webhook) Deliveries() []DeliveryRecord {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]DeliveryRecord, len(w.records))
	for i, r := range w.records {
		out[i] = *r
	}
	return out
}

// record returns the record of e, making it on first sight.
func (w *Webhook) record(e Event) *DeliveryRecord {
	w.mu.Lock()
	defer w.mu.Unlock()
	if r, ok := w.byEvent[e.ID]; ok {
		return r
	}
	now := w.cfg.Now()
	r := &DeliveryRecord{EventID: e.ID, DetailType: e.DetailType, Target: w.cfg.Name, State: StateQueued, First: now, Last: now}
	w.records = append(w.records, r)
	w.byEvent[e.ID] = r
	if over := len(w.records) - w.cfg.Kept; over > 0 {
		for _, old := range w.records[:over] {
			delete(w.byEvent, old.EventID)
		}
		w.records = append([]*DeliveryRecord(nil), w.records[over:]...)
	}
	return r
}

func (w *Webhook) update(r *DeliveryRecord, f func(r *DeliveryRecord)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f(r)
	r.Last = w.cfg.Now()
}

func (w *Webhook) finish(r *DeliveryRecord, state, why string) {
	w.update(r, func(r *DeliveryRecord) {
		r.State = state
		if why != "" {
			r.LastError = why
		}
	})
}

func (w *Webhook) work() {
	defer w.wg.Done()
	for {
		select {
		case <-w.ctx.Done():
			return
		case e := <-w.queue:
			w.deliver(e)
		}
	}
}

// deliver makes every attempt at one event.
func (w *Webhook) deliver(e Event) {
	rec := w.record(e)
	backoff := w.cfg.InitialBackoff
	deadline := e.Received.Add(w.cfg.MaxAge)
	for attempt := 1; ; attempt++ {
		status, err := w.post(e.Body)
		retryable := err != nil || retryableStatus(status)
		w.update(rec, func(r *DeliveryRecord) {
			r.Attempts, r.LastStatus, r.LastError = attempt, status, ""
			if err != nil {
				r.LastError = err.Error()
			} else if status >= 300 {
				r.LastError = http.StatusText(status)
			}
		})
		if err == nil && status >= 200 && status < 300 {
			w.finish(rec, StateDelivered, "")
			w.cfg.Log.Info("eventbridge: delivered", "event", e.ID, "type", e.DetailType, "attempts", attempt)
			return
		}
		why := fmt.Sprintf("HTTP %d", status)
		if err != nil {
			why = err.Error()
		}
		switch {
		case !retryable:
			w.giveUp(w.ctx, e, rec, "SDK_CLIENT_ERROR", why, "")
			return
		case attempt >= w.cfg.MaxAttempts:
			w.giveUp(w.ctx, e, rec, "RETRIES_EXHAUSTED", why, "MaximumRetryAttempts")
			return
		case w.cfg.Now().Add(backoff).After(deadline):
			w.giveUp(w.ctx, e, rec, "RETRIES_EXHAUSTED", why, "MaximumEventAgeInSeconds")
			return
		}
		w.update(rec, func(r *DeliveryRecord) { r.State = StateRetrying })
		t := time.NewTimer(backoff)
		select {
		case <-w.ctx.Done():
			t.Stop()
			w.finish(rec, StateAbandoned, "the local cloud stopped while retrying: "+why)
			return
		case <-t.C:
		}
		backoff = min(backoff*2, w.cfg.MaxBackoff)
	}
}

// retryableStatus is the answers an API destination retries.
func retryableStatus(status int) bool {
	switch {
	case status == http.StatusUnauthorized, status == http.StatusProxyAuthRequired,
		status == http.StatusConflict, status == http.StatusTooManyRequests:
		return true
	case status >= 500:
		return true
	}
	return false
}

func (w *Webhook) post(body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(w.ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Amazon/EventBridge/ApiDestinations")
	if w.cfg.HeaderName != "" {
		req.Header.Set(w.cfg.HeaderName, w.cfg.HeaderValue)
	}
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	// Read a little of the answer so the connection can be reused; nothing more.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

// giveUp sends e to the dead-letter queue, with the attributes EventBridge puts
// on a dead letter, or drops it when there is none.
func (w *Webhook) giveUp(ctx context.Context, e Event, rec *DeliveryRecord, code, message, exhausted string) {
	w.cfg.Log.Warn("eventbridge: delivery gave up", "event", e.ID, "type", e.DetailType, "code", code, "reason", message)
	if w.cfg.DeadLetter == nil {
		w.finish(rec, StateDropped, message)
		return
	}
	attrs := map[string]sqstypes.MessageAttributeValue{
		"RETRY_ATTEMPTS": {DataType: ptr("Number"), StringValue: ptr(strconv.Itoa(max(rec.Attempts-1, 0)))},
	}
	for name, v := range map[string]string{"ERROR_CODE": code, "ERROR_MESSAGE": message, "RULE_ARN": e.RuleARN,
		"TARGET_ARN": w.TargetARN(), "EXHAUSTED_RETRY_CONDITION": exhausted} {
		if v != "" { // SQS refuses empty attribute values
			attrs[name] = str(v)
		}
	}
	body := string(e.Body)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := w.cfg.DeadLetter.SendMessage(sctx, &sqs.SendMessageInput{
		QueueUrl: &w.cfg.DeadLetterURL, MessageBody: &body, MessageAttributes: attrs,
	}); err != nil {
		w.cfg.Log.Error("eventbridge: dead letter lost", "event", e.ID, "err", err)
		w.finish(rec, StateDropped, message+"; the dead-letter queue refused it: "+err.Error())
		return
	}
	w.finish(rec, StateDeadLettered, message)
}

func str(s string) sqstypes.MessageAttributeValue {
	return sqstypes.MessageAttributeValue{DataType: ptr("String"), StringValue: &s}
}

func ptr[T any](v T) *T { return &v }
