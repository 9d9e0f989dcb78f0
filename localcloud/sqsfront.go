package localcloud

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sqsFront corrects the message system attributes goaws gets wrong, so handlers
// see what SQS would tell them: ApproximateReceiveCount grows with every delivery
// (goaws always says 1), SentTimestamp is when the message was sent (goaws says
// "now"), and ApproximateFirstReceiveTimestamp is the first delivery's time.
//
// It also rewrites the queue URLs goaws hands out (built from a process-wide host
// setting) to this endpoint's own, so CreateQueue, GetQueueUrl and ListQueues
// return URLs a client can use.
//
// Its bookkeeping is bounded: besides DeleteMessage, a periodic sweep drops the
// messages goaws no longer holds in any queue (purged, queue deleted) and those
// sent longer ago than the longest retention (SQS would have expired them;
// goaws never does). A message moved to the DLQ keeps its entry while it is
// there, because SQS keeps its SentTimestamp, and the DLQ's retention runs from it.
type sqsFront struct {
	next    http.Handler
	baseURL string // e.g. http://127.0.0.1:45385
	// retention is the longest message retention of the queues behind the front.
	retention time.Duration
	// live lists the IDs of the messages goaws holds (goawsMessageIDs).
	live func() map[string]bool
	now  func() time.Time
	// sweepEvery is how often the bookkeeping is swept (at most).
	sweepEvery time.Duration

	mu        sync.Mutex
	track     map[string]*delivery // by message ID
	lastSweep time.Time
	// queues and started serve the queue timestamps goaws does not keep (sqsattrs.go).
	queues  map[string]*queueTimes // by queue name
	started time.Time
	// sent is closed (and replaced) by every send, waking the long polls.
	sent chan struct{}
	// pollEvery is how often a long poll looks at the queue when nothing was
	// sent through the front meanwhile (for messages whose visibility timeout
	// ran out, or moved by goaws' housekeeping): goaws' own interval, 100 ms.
	pollEvery time.Duration
}

type delivery struct {
	sent, firstReceive time.Time
	receives           int
}

func newSQSFront(next http.Handler, baseURL string, retention time.Duration) *sqsFront {
	return &sqsFront{
		next: next, baseURL: baseURL, retention: retention,
		live: goawsMessageIDs, now: time.Now, sweepEvery: time.Minute, pollEvery: 100 * time.Millisecond,
		track:  map[string]*delivery{},
		queues: map[string]*queueTimes{}, started: time.Now(),
	}
}

// sweepLocked drops entries of messages that are gone or past retention; f.mu is
// held. It runs at most every sweepEvery, on the traffic that adds entries.
func (f *sqsFront) sweepLocked() {
	now := f.now()
	if now.Sub(f.lastSweep) < f.sweepEvery {
		return
	}
	f.lastSweep = now
	live := f.live()
	for id, d := range f.track {
		if !live[id] || now.Sub(d.sent) > f.retention {
			delete(f.track, id)
		}
	}
}

// tracked is how many messages the front keeps bookkeeping for.
func (f *sqsFront) tracked() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.track)
}

// goawsQueues guards goaws' process-wide queue map across every local cloud in the
// process: goaws reads the map without its lock, so creating or deleting a queue
// while any other request runs can crash the process. Those two actions wait for
// the rest to finish (one request: a long poll holds the lock only while it looks).
var goawsQueues sync.RWMutex

func (f *sqsFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	action := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
	if action == "ReceiveMessage" {
		if wait, short, ok := longPollRequest(r); ok {
			f.longPoll(w, r, wait, short)
			return
		}
	}
	f.serve(w, r, action)
}

// longPoll answers a ReceiveMessage that waits as SQS does: as soon as a
// message is there. goaws looks at the queue every 100 ms while it waits, which
// delays every message by 50 ms on average and is no part of SQS; here the
// front receives without waiting (short is the request with WaitTimeSeconds 0)
// and tries again as soon as a message is sent, or every pollEvery. Between
// tries it holds no lock, so CreateQueue and DeleteQueue need not wait for it.
func (f *sqsFront) longPoll(w http.ResponseWriter, r *http.Request, wait time.Duration, short []byte) {
	deadline := time.Now().Add(wait)
	for {
		sent, every := f.sentSignal()
		rec := &bufferedWriter{header: http.Header{}, status: http.StatusOK}
		try := r.Clone(r.Context())
		try.Body, try.ContentLength = io.NopCloser(bytes.NewReader(short)), int64(len(short))
		f.serve(rec, try, "ReceiveMessage")
		left := time.Until(deadline)
		if rec.status != http.StatusOK || hasMessages(rec.body.Bytes()) || left <= 0 || r.Context().Err() != nil {
			rec.copyTo(w)
			return
		}
		t := time.NewTimer(min(left, every))
		select {
		case <-sent:
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
	}
}

// longPollRequest reads a JSON-protocol ReceiveMessage: ok when it waits
// (WaitTimeSeconds above 0), with the same request not waiting. A request the
// front cannot read is left to goaws as it is.
func longPollRequest(r *http.Request) (wait time.Duration, short []byte, ok bool) {
	body, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return 0, nil, false
	}
	var in map[string]json.RawMessage
	if json.Unmarshal(body, &in) != nil {
		return 0, nil, false
	}
	var secs int
	if raw, has := in["WaitTimeSeconds"]; !has || json.Unmarshal(raw, &secs) != nil || secs <= 0 {
		return 0, nil, false
	}
	in["WaitTimeSeconds"] = json.RawMessage("0")
	if short, err = json.Marshal(in); err != nil {
		return 0, nil, false
	}
	return time.Duration(min(secs, 20)) * time.Second, short, true
}

// hasMessages reports a ReceiveMessage answer with at least one message.
func hasMessages(body []byte) bool {
	var out struct {
		Messages []json.RawMessage `json:"Messages"`
	}
	return json.Unmarshal(body, &out) == nil && len(out.Messages) > 0
}

// sentSignal is closed at the next send through the front; every is how long
// to wait for it before looking anyway.
func (f *sqsFront) sentSignal() (sent <-chan struct{}, every time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sent == nil {
		f.sent = make(chan struct{})
	}
	return f.sent, f.pollEvery
}

// wakePolls ends the waits of every long poll, so they look at the queues again.
func (f *sqsFront) wakePolls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sent != nil {
		close(f.sent)
		f.sent = nil
	}
}

// serve forwards one request to goaws and corrects its answer.
func (f *sqsFront) serve(w http.ResponseWriter, r *http.Request, action string) {
	if action == "CreateQueue" || action == "DeleteQueue" {
		goawsQueues.Lock()
		defer goawsQueues.Unlock()
	} else {
		goawsQueues.RLock()
		defer goawsQueues.RUnlock()
	}
	// Queue attributes goaws gets wrong (sqsattrs.go).
	var queue string
	switch action {
	case "GetQueueAttributes", "SetQueueAttributes", "DeleteQueue":
		queue = queueName(requestQueueURL(r))
	}
	switch action {
	case "ReceiveMessage", "SendMessage", "SendMessageBatch", "CreateQueue", "GetQueueUrl", "ListQueues", "GetQueueAttributes":
	case "SetQueueAttributes", "DeleteQueue":
		rec := &bufferedWriter{header: http.Header{}, status: http.StatusOK}
		f.next.ServeHTTP(rec, r)
		if rec.status == http.StatusOK {
			f.noteQueueChange(action, queue)
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
		return
	case "DeleteMessage", "DeleteMessageBatch":
		f.forget(r)
		f.next.ServeHTTP(w, r)
		return
	case "ChangeMessageVisibility", "ChangeMessageVisibilityBatch":
		// A message made visible again (a hand-back) is there for a waiting poll.
		f.next.ServeHTTP(w, r)
		f.wakePolls()
		return
	default:
		f.next.ServeHTTP(w, r)
		return
	}
	rec := &bufferedWriter{header: http.Header{}, status: http.StatusOK}
	f.next.ServeHTTP(rec, r)
	body := rec.body.Bytes()
	if rec.status == http.StatusOK {
		switch action {
		case "SendMessage", "SendMessageBatch":
			if fixed, ok := fixSendBatch(action, body); ok {
				body = fixed
			}
			f.noteSent(body)
			f.wakePolls()
		case "ReceiveMessage":
			if fixed, ok := f.fixReceive(body); ok {
				body = fixed
			}
		case "GetQueueAttributes":
			if fixed, ok := f.fixQueueAttributes(queue, body); ok {
				body = fixed
			}
		default:
			if action == "CreateQueue" {
				f.noteQueueChange(action, queue)
			}
			if fixed, ok := f.fixQueueURLs(body); ok {
				body = fixed
			}
		}
	}
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.status)
	_, _ = w.Write(body)
}

// forget drops the bookkeeping of deleted messages. goaws receipt handles start
// with the message ID.
func (f *sqsFront) forget(r *http.Request) {
	body, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return
	}
	var in struct {
		ReceiptHandle string `json:"ReceiptHandle"`
		Entries       []struct {
			ReceiptHandle string `json:"ReceiptHandle"`
		} `json:"Entries"`
	}
	if json.Unmarshal(body, &in) != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, h := range append([]string{in.ReceiptHandle}, func() (hs []string) {
		for _, e := range in.Entries {
			hs = append(hs, e.ReceiptHandle)
		}
		return hs
	}()...) {
		if id, _, ok := strings.Cut(h, "#"); ok {
			delete(f.track, id)
		}
	}
}

func (f *sqsFront) noteSent(body []byte) {
	var out struct {
		MessageID  string `json:"MessageId"`
		Successful []struct {
			MessageID string `json:"MessageId"`
		} `json:"Successful"`
	}
	if json.Unmarshal(body, &out) != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sweepLocked()
	now := f.now()
	if out.MessageID != "" {
		f.track[out.MessageID] = &delivery{sent: now}
	}
	for _, s := range out.Successful {
		f.track[s.MessageID] = &delivery{sent: now}
	}
}

func (f *sqsFront) fixReceive(body []byte) ([]byte, bool) {
	var out map[string]json.RawMessage
	if json.Unmarshal(body, &out) != nil {
		return nil, false
	}
	var msgs []map[string]any
	if raw, ok := out["Messages"]; !ok || json.Unmarshal(raw, &msgs) != nil || len(msgs) == 0 {
		return nil, false
	}
	f.mu.Lock()
	f.sweepLocked()
	now := f.now()
	for _, m := range msgs {
		id, _ := m["MessageId"].(string)
		d := f.track[id]
		if d == nil {
			// Sent before this front saw it (cannot happen for our queues); count from now.
			d = &delivery{sent: now}
			f.track[id] = d
		}
		d.receives++
		if d.firstReceive.IsZero() {
			d.firstReceive = now
		}
		attrs, _ := m["Attributes"].(map[string]any)
		if attrs == nil {
			continue // the caller asked for no system attributes
		}
		set := func(name, v string) {
			if _, asked := attrs[name]; asked {
				attrs[name] = v
			}
		}
		set("ApproximateReceiveCount", strconv.Itoa(d.receives))
		set("SentTimestamp", strconv.FormatInt(d.sent.UnixMilli(), 10))
		set("ApproximateFirstReceiveTimestamp", strconv.FormatInt(d.firstReceive.UnixMilli(), 10))
	}
	f.mu.Unlock()
	raw, err := json.Marshal(msgs)
	if err != nil {
		return nil, false
	}
	out["Messages"] = raw
	fixed, err := json.Marshal(out)
	if err != nil {
		return nil, false
	}
	return fixed, true
}

// fixQueueURLs points QueueUrl and QueueUrls at this endpoint.
func (f *sqsFront) fixQueueURLs(body []byte) ([]byte, bool) {
	var out map[string]any
	if json.Unmarshal(body, &out) != nil {
		return nil, false
	}
	fix := func(u string) string {
		return f.baseURL + "/" + accountID + "/" + u[strings.LastIndex(u, "/")+1:]
	}
	if u, ok := out["QueueUrl"].(string); ok {
		out["QueueUrl"] = fix(u)
	}
	if us, ok := out["QueueUrls"].([]any); ok {
		for i, u := range us {
			if s, ok := u.(string); ok {
				us[i] = fix(s)
			}
		}
	}
	fixed, err := json.Marshal(out)
	return fixed, err == nil
}

// bufferedWriter holds a response so it can be corrected before it is sent.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header         { return b.header }
func (b *bufferedWriter) WriteHeader(status int)      { b.status = status }
func (b *bufferedWriter) Write(p []byte) (int, error) { return b.body.Write(p) }

// copyTo sends the held response.
func (b *bufferedWriter) copyTo(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(b.body.Len()))
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}
