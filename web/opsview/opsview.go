// Package opsview is the local cloud's stand-in for CloudWatch: a live page at /ops
// and a JSON stats endpoint answering the questions an operator asks on AWS (queue
// depth, in flight, DLQ depth, images processed and failed by code, processing time
// and upload-to-ready latency percentiles) plus a button that redrives the DLQ.
//
// It is fed the same EMF records the resize function prints on Lambda: the View is
// an io.Writer to hand to metrics.NewEmitter (through io.MultiWriter to keep stdout).
// It lives beside the upload page because it follows the same rules (embedded
// files, no build step, strict CSP) and knows nothing of how the queues are run.
package opsview

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/imagepipe/imagepipe/shared/metrics"
	"github.com/imagepipe/imagepipe/web"
)

//go:embed static
var static embed.FS

// QueueStats is what SQS's ApproximateNumberOfMessages* attributes report.
type QueueStats struct {
	Visible  int `json:"visible"`  // waiting in the resize queue
	InFlight int `json:"inFlight"` // received and not yet deleted
	DLQ      int `json:"dlq"`      // waiting in the dead-letter queue
}

// QueueStatter reports the resize queue and its DLQ.
type QueueStatter interface {
	QueueStats(ctx context.Context) (QueueStats, error)
}

// Redriver moves every message from the DLQ back to the resize queue.
type Redriver interface {
	Redrive(ctx context.Context) (moved int, err error)
}

// QueueStatsFunc adapts a function (say, a closure converting another package's
// stats type) to QueueStatter.
type QueueStatsFunc func(ctx context.Context) (QueueStats, error)

// QueueStats calls f.
func (f QueueStatsFunc) QueueStats(ctx context.Context) (QueueStats, error) { return f(ctx) }

// RedriveFunc adapts a function to Redriver.
type RedriveFunc func(ctx context.Context) (moved int, err error)

// Redrive calls f.
func (f RedriveFunc) Redrive(ctx context.Context) (int, error) { return f(ctx) }

// Defaults for Options.
const (
	DefaultWindow = 15 * time.Minute
	DefaultBucket = 10 * time.Second
	// maxSamples bounds memory if a load test floods the view with records.
	maxSamples = 200_000
)

// Options tune the view; the zero value uses the defaults.
type Options struct {
	Window time.Duration    // how far back charts and percentiles look
	Bucket time.Duration    // chart resolution
	Now    func() time.Time // for tests
	Log    *slog.Logger
	// Events lists recent events and webhook deliveries (events.go); optional.
	Events EventsLister
}

// View collects metrics and serves the page. Safe for concurrent use.
type View struct {
	queue   QueueStatter
	redrive Redriver
	window  time.Duration
	bucket  time.Duration
	now     func() time.Time
	log     *slog.Logger
	files   http.Handler
	events  EventsLister

	mu      sync.Mutex
	sink    *metrics.Sink
	samples []sample // ordered by arrival; pruned to the window
	queueAt []queueSample
	totals  Totals
}

type sample struct {
	t     time.Time
	name  string
	code  string
	value float64
}

type queueSample struct {
	t time.Time
	s QueueStats
}

// New builds a view. queue and redrive are required.
func New(queue QueueStatter, redrive Redriver, opt Options) (*View, error) {
	if queue == nil || redrive == nil {
		return nil, errors.New("opsview: a queue statter and a redriver are required")
	}
	if opt.Window <= 0 {
		opt.Window = DefaultWindow
	}
	if opt.Bucket <= 0 {
		opt.Bucket = DefaultBucket
	}
	if opt.Window < opt.Bucket {
		return nil, fmt.Errorf("opsview: window %s shorter than bucket %s", opt.Window, opt.Bucket)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	sub, err := fs.Sub(static, "static")
	if err != nil {
		return nil, fmt.Errorf("opsview: %w", err)
	}
	v := &View{
		queue: queue, redrive: redrive, window: opt.Window, bucket: opt.Bucket, now: opt.Now, log: opt.Log,
		files:  http.StripPrefix("/ops/", http.FileServerFS(sub)),
		events: opt.Events,
		totals: Totals{FailedByCode: map[string]int{}},
	}
	v.sink = metrics.NewSink(v.Observe)
	return v, nil
}

// Write takes EMF lines (as metrics.Emitter writes them). Other lines are ignored,
// so the view can share a log stream.
func (v *View) Write(p []byte) (int, error) { return v.sink.Write(p) }

// Observe takes one parsed EMF record, for a caller that already parses the
// stream (the local cloud's metrics hub: SubscribeMetrics(view.Observe)).
func (v *View) Observe(rec metrics.Record) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.observe(rec)
}

func (v *View) observe(rec metrics.Record) {
	for name, val := range rec.Values {
		switch name {
		case metrics.ImagesProcessed:
			v.totals.Processed += int(val)
		case metrics.ImagesFailed:
			v.totals.Failed += int(val)
			code := rec.ErrorCode
			if code == "" {
				code = "unknown"
			}
			v.totals.FailedByCode[code] += int(val)
		case metrics.TransientErrors:
			v.totals.TransientErrors += int(val)
		case metrics.BytesIn:
			v.totals.BytesIn += int64(val)
		case metrics.BytesOut:
			v.totals.BytesOut += int64(val)
		}
		v.samples = append(v.samples, sample{t: rec.Time, name: name, code: rec.ErrorCode, value: val})
	}
	v.prune(v.now())
}

func (v *View) prune(now time.Time) {
	cut := now.Add(-v.window)
	i := 0
	for i < len(v.samples) && v.samples[i].t.Before(cut) {
		i++
	}
	if over := len(v.samples) - i - maxSamples; over > 0 {
		i += over
	}
	v.samples = v.samples[i:]
	j := 0
	for j < len(v.queueAt) && v.queueAt[j].t.Before(cut) {
		j++
	}
	v.queueAt = v.queueAt[j:]
}

// Totals count since the view started.
type Totals struct {
	Processed       int            `json:"processed"`
	Failed          int            `json:"failed"`
	FailedByCode    map[string]int `json:"failedByCode"`
	TransientErrors int            `json:"transientErrors"`
	BytesIn         int64          `json:"bytesIn"`
	BytesOut        int64          `json:"bytesOut"`
}

// Percentiles of a latency over the window, in milliseconds.
type Percentiles struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
}

// Point is one chart bucket. Queue fields are the last sample in the bucket, or
// absent when nobody looked at the queue then.
type Point struct {
	T                int64       `json:"t"` // bucket start, Unix milliseconds
	Processed        int         `json:"processed"`
	Failed           int         `json:"failed"`
	ProcessingP50    *float64    `json:"processingP50,omitempty"`
	ProcessingP99    *float64    `json:"processingP99,omitempty"`
	UploadToReadyP50 *float64    `json:"uploadToReadyP50,omitempty"`
	Queue            *QueueStats `json:"queue,omitempty"`
}

// Stats is the JSON the page polls.
type Stats struct {
	Now           time.Time   `json:"now"`
	WindowSeconds int         `json:"windowSeconds"`
	BucketSeconds int         `json:"bucketSeconds"`
	Queue         *QueueStats `json:"queue"`
	QueueError    string      `json:"queueError,omitempty"`
	Totals        Totals      `json:"totals"`
	ProcessingMs  Percentiles `json:"processingMs"`
	UploadToReady Percentiles `json:"uploadToReadyMs"`
	Series        []Point     `json:"series"`
}

// Stats samples the queue and summarises the window.
func (v *View) Stats(ctx context.Context) Stats {
	qs, qerr := v.queue.QueueStats(ctx)
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	out := Stats{Now: now, WindowSeconds: int(v.window / time.Second), BucketSeconds: int(v.bucket / time.Second)}
	if qerr != nil {
		v.log.Warn("ops view: queue stats", "err", qerr)
		out.QueueError = qerr.Error()
	} else {
		out.Queue = &qs
		v.queueAt = append(v.queueAt, queueSample{t: now, s: qs})
	}
	v.prune(now)

	out.Totals = v.totals
	out.Totals.FailedByCode = maps.Clone(v.totals.FailedByCode)

	start := now.Add(-v.window).Truncate(v.bucket)
	n := int(now.Sub(start)/v.bucket) + 1
	out.Series = make([]Point, n)
	proc := make([][]float64, n)
	u2r := make([][]float64, n)
	var allProc, allU2R []float64
	for i := range out.Series {
		out.Series[i].T = start.Add(time.Duration(i) * v.bucket).UnixMilli()
	}
	idx := func(t time.Time) int {
		i := int(t.Sub(start) / v.bucket)
		if t.Before(start) || i >= n {
			return -1
		}
		return i
	}
	for _, s := range v.samples {
		i := idx(s.t)
		if i < 0 {
			continue
		}
		switch s.name {
		case metrics.ImagesProcessed:
			out.Series[i].Processed += int(s.value)
		case metrics.ImagesFailed:
			out.Series[i].Failed += int(s.value)
		case metrics.ProcessingTime:
			proc[i] = append(proc[i], s.value)
			allProc = append(allProc, s.value)
		case metrics.UploadToReady:
			u2r[i] = append(u2r[i], s.value)
			allU2R = append(allU2R, s.value)
		}
	}
	for i := range out.Series {
		if len(proc[i]) > 0 {
			p50, p99 := percentile(proc[i], 50), percentile(proc[i], 99)
			out.Series[i].ProcessingP50, out.Series[i].ProcessingP99 = &p50, &p99
		}
		if len(u2r[i]) > 0 {
			p50 := percentile(u2r[i], 50)
			out.Series[i].UploadToReadyP50 = &p50
		}
	}
	for _, q := range v.queueAt {
		if i := idx(q.t); i >= 0 {
			s := q.s
			out.Series[i].Queue = &s
		}
	}
	out.ProcessingMs = Percentiles{Count: len(allProc), P50: percentile(allProc, 50), P99: percentile(allProc, 99)}
	out.UploadToReady = Percentiles{Count: len(allU2R), P50: percentile(allU2R, 50), P99: percentile(allU2R, 99)}
	return out
}

// percentile is the nearest-rank percentile (the value below which p% of samples
// fall, always one of the samples); 0 for no samples.
func percentile(vals []float64, p float64) float64 {
	if len(vals) == 0 {
		return 0
	}
	s := slices.Clone(vals)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[max(rank, 1)-1]
}

// Run samples the queue every interval until ctx ends, so the queue chart has
// history from before anyone opened the page. Without it the view samples only
// when the page asks for stats.
func (v *View) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			v.Stats(ctx)
		}
	}
}

// redriveHeader must accompany a redrive. A cross-site form cannot set it and a
// cross-origin script would need a CORS preflight this handler never grants, so
// another page the operator has open cannot redrive the DLQ behind their back.
const redriveHeader = "X-Imagepipe-Ops"

// ServeHTTP serves /ops (the page), /ops/stats (JSON), POST /ops/redrive and the
// page's assets under /ops/. Mount it at both "/ops" and "/ops/".
func (v *View) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", web.ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	switch r.URL.Path {
	case "/ops", "/ops/":
		if !allow(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		h.Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, static, "static/index.html")
	case "/ops/stats":
		if !allow(w, r, http.MethodGet) {
			return
		}
		h.Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, v.Stats(r.Context()))
	case "/ops/redrive":
		if !allow(w, r, http.MethodPost) {
			return
		}
		if r.Header.Get(redriveHeader) != "redrive" {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "missing " + redriveHeader + " header"})
			return
		}
		moved, err := v.redrive.Redrive(r.Context())
		if err != nil {
			v.log.Error("ops view: redrive", "err", err, "moved", moved)
			writeJSON(w, http.StatusBadGateway, map[string]any{"moved": moved, "error": err.Error()})
			return
		}
		v.log.Info("ops view: redrive", "moved", moved)
		writeJSON(w, http.StatusOK, map[string]int{"moved": moved})
	case "/ops/events":
		v.serveEvents(w, r)
	case "/ops/index.html":
		http.NotFound(w, r) // one address for the page
	default:
		if !allow(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		h.Set("Cache-Control", "no-cache")
		v.files.ServeHTTP(w, r)
	}
}

func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	if slices.Contains(methods, r.Method) {
		return true
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
