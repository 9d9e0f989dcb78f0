// Package eventbridge is the local cloud's EventBridge: one event bus that serves
// PutEvents over the real wire protocol (AWS JSON 1.1, X-Amz-Target
// AWSEvents.PutEvents, SigV4-signed), builds each event's envelope as EventBridge
// does, matches it against rules with event patterns (pattern.go), and hands it to
// the rules' targets, such as a webhook delivered the way an API destination
// delivers it (webhook.go). The functions reach it with the SDK's own client
// through AWS_ENDPOINT_URL_EVENTBRIDGE.
package eventbridge

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/imagepipe/imagepipe/localcloud/sigv4"
)

// PutEvents' limits.
const (
	maxEntries = 10
	// maxPayload is the most a request's entries may add up to (256 KB).
	maxPayload = 256 * 1024
	// maxRequest bounds the body read: the payload plus JSON escaping.
	maxRequest = 1 << 20
)

// Config describes one bus.
type Config struct {
	// Name is the bus name (required); entries may name it or its ARN.
	Name            string
	Region, Account string
	// Verifier checks each request's signature (required: the local cloud refuses
	// what AWS would).
	Verifier *sigv4.Verifier
	// Kept is how many recent events Events returns (200 when zero).
	Kept int
	Now  func() time.Time
	Log  *slog.Logger
}

// Bus is one event bus with its rules. It is an http.Handler for the EventBridge
// endpoint.
type Bus struct {
	cfg Config

	mu       sync.Mutex
	rules    []*rule
	recent   []Record
	failPuts int
	closed   bool
}

type rule struct {
	name    string
	arn     string
	pattern *Pattern
	targets []Target
}

// Target receives the events a rule matched. Deliver must not block: it queues.
type Target interface {
	Deliver(e Event)
	Close(ctx context.Context) error
}

// Event is one accepted event as targets get it.
type Event struct {
	ID         string
	DetailType string
	// Body is the whole event JSON, as a target receives it.
	Body     []byte
	Received time.Time
	// RuleARN names the rule that matched, for dead-letter records.
	RuleARN string
}

// Record is one event the bus accepted, for the operations view.
type Record struct {
	ID         string    `json:"id"`
	DetailType string    `json:"detailType"`
	Source     string    `json:"source"`
	Received   time.Time `json:"received"`
	// Rules are the rules it matched.
	Rules []string `json:"rules"`
	// Body is the event JSON.
	Body json.RawMessage `json:"body"`
}

// New makes a bus.
func New(cfg Config) (*Bus, error) {
	if cfg.Name == "" || cfg.Verifier == nil {
		return nil, errors.New("eventbridge: a bus name and a signature verifier are required")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Account == "" {
		cfg.Account = "000000000000"
	}
	if cfg.Kept <= 0 {
		cfg.Kept = 200
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Bus{cfg: cfg}, nil
}

// ARN is the bus's ARN.
func (b *Bus) ARN() string {
	return fmt.Sprintf("arn:aws:events:%s:%s:event-bus/%s", b.cfg.Region, b.cfg.Account, b.cfg.Name)
}

// RuleARN is the ARN of a rule on this bus.
func (b *Bus) RuleARN(name string) string {
	return fmt.Sprintf("arn:aws:events:%s:%s:rule/%s/%s", b.cfg.Region, b.cfg.Account, b.cfg.Name, name)
}

// AddRule sends the events matching pattern to targets.
func (b *Bus) AddRule(name string, pattern []byte, targets ...Target) error {
	p, err := CompilePattern(pattern)
	if err != nil {
		return fmt.Errorf("rule %s: %w", name, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rules = append(b.rules, &rule{name: name, arn: b.RuleARN(name), pattern: p, targets: targets})
	return nil
}

// FailPuts makes the next n PutEvents calls fail every entry with
// InternalFailure (FailedEntryCount = entries), as PutEvents does when it is
// throttled or has an internal error, for tests of the publisher's retries.
func (b *Bus) FailPuts(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failPuts = n
}

// Events returns the recent accepted events, oldest first.
func (b *Bus) Events() []Record {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Record(nil), b.recent...)
}

// Close stops the targets; events still queued or in retry are recorded as
// abandoned by each target.
func (b *Bus) Close(ctx context.Context) error {
	b.mu.Lock()
	b.closed = true
	rules := b.rules
	b.mu.Unlock()
	var errs []error
	for _, r := range rules {
		for _, t := range r.targets {
			errs = append(errs, t.Close(ctx))
		}
	}
	return errors.Join(errs...)
}

// apiError is an AWS JSON protocol error answer.
type apiError struct {
	status  int
	code    string
	message string
}

func writeError(w http.ResponseWriter, e apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", e.code)
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.code, "message": e.message})
}

func (b *Bus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Amzn-Requestid", newID())
	if r.Method != http.MethodPost {
		writeError(w, apiError{http.StatusBadRequest, "UnknownOperationException", "EventBridge takes POST requests"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequest+1))
	if err != nil {
		writeError(w, apiError{http.StatusBadRequest, "SerializationException", "could not read the request body"})
		return
	}
	if len(body) > maxRequest {
		writeError(w, apiError{http.StatusRequestEntityTooLarge, "ValidationException", "request is over the size limit"})
		return
	}
	if _, refusal := b.cfg.Verifier.VerifyBody(r, body); refusal != nil {
		code := refusal.Code
		if code == "AccessDenied" {
			code = "AccessDeniedException"
		}
		writeError(w, apiError{refusal.Status, code, refusal.Message})
		return
	}
	switch target := r.Header.Get("X-Amz-Target"); target {
	case "AWSEvents.PutEvents":
		b.putEvents(w, body)
	default:
		writeError(w, apiError{http.StatusBadRequest, "UnknownOperationException",
			fmt.Sprintf("the local cloud's EventBridge serves AWSEvents.PutEvents only, not %q", target)})
	}
}

type putEntry struct {
	Source       *string         `json:"Source"`
	DetailType   *string         `json:"DetailType"`
	Detail       *string         `json:"Detail"`
	EventBusName *string         `json:"EventBusName"`
	Resources    []string        `json:"Resources"`
	Time         json.RawMessage `json:"Time"`
	TraceHeader  *string         `json:"TraceHeader"`
}

type resultEntry struct {
	EventID      string `json:"EventId,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

// envelope is the event as EventBridge delivers it, fields in its order.
type envelope struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

func (b *Bus) putEvents(w http.ResponseWriter, body []byte) {
	var in struct {
		Entries    []putEntry `json:"Entries"`
		EndpointID *string    `json:"EndpointId"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, apiError{http.StatusBadRequest, "SerializationException", "the request is not valid JSON: " + err.Error()})
		return
	}
	if in.EndpointID != nil {
		writeError(w, apiError{http.StatusBadRequest, "ValidationException", "global endpoints are not emulated by the local cloud"})
		return
	}
	if n := len(in.Entries); n < 1 || n > maxEntries {
		writeError(w, apiError{http.StatusBadRequest, "ValidationException",
			fmt.Sprintf("1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and %d, got %d", maxEntries, n)})
		return
	}
	size := 0
	for _, e := range in.Entries {
		size += len(deref(e.Source)) + len(deref(e.DetailType)) + len(deref(e.Detail))
		for _, res := range e.Resources {
			size += len(res)
		}
	}
	if size > maxPayload {
		writeError(w, apiError{http.StatusBadRequest, "ValidationException", "Total size of the entries in the request is over the limit."})
		return
	}
	for _, e := range in.Entries {
		if name := deref(e.EventBusName); name != "" && name != b.cfg.Name && name != b.ARN() {
			writeError(w, apiError{http.StatusBadRequest, "ResourceNotFoundException", fmt.Sprintf("Event bus %s does not exist.", name)})
			return
		}
	}

	b.mu.Lock()
	failAll := b.failPuts > 0
	if failAll {
		b.failPuts--
	}
	b.mu.Unlock()

	out := struct {
		FailedEntryCount int           `json:"FailedEntryCount"`
		Entries          []resultEntry `json:"Entries"`
	}{Entries: make([]resultEntry, len(in.Entries))}
	var accepted []envelope
	for i, e := range in.Entries {
		res, ev := b.accept(e, failAll)
		out.Entries[i] = res
		if res.ErrorCode != "" {
			out.FailedEntryCount++
			continue
		}
		accepted = append(accepted, ev)
	}
	// Routed before answering: an event the caller was told is accepted is
	// already queued for its targets.
	for _, ev := range accepted {
		b.route(ev)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

// accept validates one entry and builds its envelope.
func (b *Bus) accept(e putEntry, fail bool) (resultEntry, envelope) {
	if deref(e.Source) == "" || deref(e.DetailType) == "" || e.Detail == nil {
		return resultEntry{ErrorCode: "InvalidArgument", ErrorMessage: "Parameters Source, DetailType and Detail are required."}, envelope{}
	}
	if len(deref(e.DetailType)) > 128 {
		return resultEntry{ErrorCode: "InvalidArgument", ErrorMessage: "DetailType is longer than 128 characters."}, envelope{}
	}
	var detail bytes.Buffer
	var probe map[string]any
	if json.Unmarshal([]byte(*e.Detail), &probe) != nil || json.Compact(&detail, []byte(*e.Detail)) != nil {
		return resultEntry{ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed."}, envelope{}
	}
	if fail {
		return resultEntry{ErrorCode: "InternalFailure", ErrorMessage: "injected failure (local cloud)"}, envelope{}
	}
	at := b.cfg.Now()
	if t, ok := parseTime(e.Time); ok {
		at = t
	}
	resources := e.Resources
	if resources == nil {
		resources = []string{}
	}
	ev := envelope{
		Version: "0", ID: newUUID(), DetailType: *e.DetailType, Source: *e.Source,
		Account: b.cfg.Account, Time: at.UTC().Format("2006-01-02T15:04:05Z"), Region: b.cfg.Region,
		Resources: resources, Detail: detail.Bytes(),
	}
	return resultEntry{EventID: ev.ID}, ev
}

// parseTime reads an entry's Time: epoch seconds, as the JSON protocol sends
// timestamps, or an RFC 3339 string.
func parseTime(raw json.RawMessage) (time.Time, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, false
	}
	var secs float64
	if json.Unmarshal(raw, &secs) == nil {
		whole := int64(secs)
		return time.Unix(whole, int64((secs-float64(whole))*1e9)), true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t, true
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return time.Unix(int64(f), 0), true
		}
	}
	return time.Time{}, false
}

func (b *Bus) route(ev envelope) {
	body, err := json.Marshal(ev)
	if err != nil {
		b.cfg.Log.Error("eventbridge: encode event", "err", err)
		return
	}
	now := b.cfg.Now()
	b.mu.Lock()
	rules := b.rules
	closed := b.closed
	b.mu.Unlock()
	rec := Record{ID: ev.ID, DetailType: ev.DetailType, Source: ev.Source, Received: now, Rules: []string{}, Body: body}
	for _, r := range rules {
		if !r.pattern.Matches(body) {
			continue
		}
		rec.Rules = append(rec.Rules, r.name)
		if closed {
			continue
		}
		for _, t := range r.targets {
			t.Deliver(Event{ID: ev.ID, DetailType: ev.DetailType, Body: body, Received: now, RuleARN: r.arn})
		}
	}
	b.cfg.Log.Info("eventbridge: event accepted", "id", ev.ID, "detailType", ev.DetailType, "rules", strings.Join(rec.Rules, ","))
	b.mu.Lock()
	b.recent = append(b.recent, rec)
	if over := len(b.recent) - b.cfg.Kept; over > 0 {
		b.recent = append([]Record(nil), b.recent[over:]...)
	}
	b.mu.Unlock()
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newUUID is a random (version 4) UUID, the form of EventBridge's event IDs.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
