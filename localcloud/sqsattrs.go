package localcloud

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// defaultMaxMessageSize is SQS's MaximumMessageSize for a queue created without
// one (1 MiB, also its upper limit); goaws keeps 0 and enforces nothing.
const defaultMaxMessageSize = 1 << 20

// queueTimes is what SQS reports as CreatedTimestamp and LastModifiedTimestamp;
// goaws answers "0000000000" for both.
type queueTimes struct{ created, modified time.Time }

// queueName is the last element of a queue URL, as goaws reads it.
func queueName(queueURL string) string {
	return queueURL[strings.LastIndex(queueURL, "/")+1:]
}

// requestQueueURL reads the QueueUrl of a JSON-protocol request, leaving the body
// readable.
func requestQueueURL(r *http.Request) string {
	body, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return ""
	}
	var in struct {
		QueueURL string `json:"QueueUrl"`
	}
	_ = json.Unmarshal(body, &in)
	return in.QueueURL
}

// noteQueueChange records a successful SetQueueAttributes or DeleteQueue. A
// queue's creation time is the front's start, moments before the cloud creates
// its queues (reading CreateQueue requests here upset goaws' handling of them:
// TestWorkerKilledMidBatch stopped finishing; the cause was not found).
func (f *sqsFront) noteQueueChange(action, name string) {
	if name == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	switch action {
	case "CreateQueue":
		if f.queues[name] == nil {
			f.queues[name] = &queueTimes{created: now, modified: now}
		}
	case "SetQueueAttributes":
		if q := f.queues[name]; q != nil {
			q.modified = now
		} else {
			f.queues[name] = &queueTimes{created: f.started, modified: now}
		}
	case "DeleteQueue":
		delete(f.queues, name)
	}
}

// fixQueueAttributes answers CreatedTimestamp and LastModifiedTimestamp (epoch
// seconds, as SQS does) and SQS's default MaximumMessageSize where goaws has none.
func (f *sqsFront) fixQueueAttributes(name string, body []byte) ([]byte, bool) {
	var out map[string]json.RawMessage
	if json.Unmarshal(body, &out) != nil {
		return nil, false
	}
	attrs := map[string]string{}
	if raw, ok := out["Attributes"]; !ok || json.Unmarshal(raw, &attrs) != nil {
		return nil, false
	}
	f.mu.Lock()
	q := f.queues[name]
	if q == nil {
		// A queue this front did not see created (another local cloud's, in the
		// same process): the front's own start is the closest honest answer.
		q = &queueTimes{created: f.started, modified: f.started}
	}
	times := *q
	f.mu.Unlock()
	set := func(k, v string) {
		if _, asked := attrs[k]; asked {
			attrs[k] = v
		}
	}
	set("CreatedTimestamp", strconv.FormatInt(times.created.Unix(), 10))
	set("LastModifiedTimestamp", strconv.FormatInt(times.modified.Unix(), 10))
	if attrs["MaximumMessageSize"] == "0" {
		attrs["MaximumMessageSize"] = strconv.Itoa(defaultMaxMessageSize)
	}
	out["Attributes"], _ = json.Marshal(attrs)
	fixed, err := json.Marshal(out)
	return fixed, err == nil
}
