package opsview

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/shared/metrics"
	"github.com/imagepipe/imagepipe/web"
)

type fakeQueue struct {
	mu    sync.Mutex
	stats QueueStats
	err   error
	calls int
}

func (f *fakeQueue) QueueStats(context.Context) (QueueStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.stats, f.err
}

type fakeRedriver struct {
	moved int
	err   error
	calls int
}

func (f *fakeRedriver) Redrive(context.Context) (int, error) {
	f.calls++
	return f.moved, f.err
}

// clock is a settable time for the view; EMF lines are written with explicit
// timestamps so bucket placement is exact.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

var t0 = time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)

func newView(t *testing.T, q *fakeQueue, r *fakeRedriver, c *clock) *View {
	t.Helper()
	v, err := New(q, r, Options{Window: 10 * time.Minute, Bucket: 10 * time.Second, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// emf writes a record exactly as metrics.Emitter does, at time at.
func emf(t *testing.T, at time.Time, code string, values ...metrics.Value) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := metrics.NewEmitter(&buf).Emit(metrics.ServiceResize, code, values...); err != nil {
		t.Fatal(err)
	}
	// Re-stamp: the emitter uses the wall clock, the test a fixed one.
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	rec["_aws"].(map[string]any)["Timestamp"] = at.UnixMilli()
	line, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	return append(line, '\n')
}

func processed(ms, u2r float64) []metrics.Value {
	return []metrics.Value{
		{Name: metrics.ImagesProcessed, Unit: metrics.Count, Value: 1},
		{Name: metrics.ProcessingTime, Unit: metrics.Milliseconds, Value: ms},
		{Name: metrics.UploadToReady, Unit: metrics.Milliseconds, Value: u2r},
		{Name: metrics.BytesIn, Unit: metrics.Bytes, Value: 1000},
		{Name: metrics.BytesOut, Unit: metrics.Bytes, Value: 400},
	}
}

func failed() []metrics.Value {
	return []metrics.Value{{Name: metrics.ImagesFailed, Unit: metrics.Count, Value: 1}}
}

func TestNewRequiresItsDependencies(t *testing.T) {
	if _, err := New(nil, &fakeRedriver{}, Options{}); err == nil {
		t.Error("nil queue accepted")
	}
	if _, err := New(&fakeQueue{}, nil, Options{}); err == nil {
		t.Error("nil redriver accepted")
	}
	if _, err := New(&fakeQueue{}, &fakeRedriver{}, Options{Window: time.Second, Bucket: time.Minute}); err == nil {
		t.Error("window shorter than a bucket accepted")
	}
}

func TestPercentile(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(100 - i) // unsorted on purpose
	}
	tests := []struct {
		name string
		vals []float64
		p    float64
		want float64
	}{
		{"none", nil, 50, 0},
		{"one", []float64{7}, 99, 7},
		{"p50 of 1..100", hundred, 50, 50},
		{"p99 of 1..100", hundred, 99, 99},
		{"p100 of 1..100", hundred, 100, 100},
		{"p50 of two", []float64{10, 20}, 50, 10},
		{"p99 of two", []float64{10, 20}, 99, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.vals, tt.p); got != tt.want {
				t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
	if hundred[0] != 100 {
		t.Error("percentile sorted its input in place")
	}
}

func TestStatsFromEMFRecords(t *testing.T) {
	q := &fakeQueue{stats: QueueStats{Visible: 4, InFlight: 2, DLQ: 1}}
	c := &clock{t: t0}
	v := newView(t, q, &fakeRedriver{}, c)

	// 100 images over the last 100 seconds, processing 1..100 ms, upload to ready 10x.
	for i := 1; i <= 100; i++ {
		at := t0.Add(-time.Duration(100-i) * time.Second)
		if _, err := v.Write(emf(t, at, "", processed(float64(i), float64(10*i))...)); err != nil {
			t.Fatal(err)
		}
	}
	for _, code := range []string{"corrupt_image", "corrupt_image", "unsupported_format"} {
		v.Write(emf(t, t0.Add(-5*time.Second), code, failed()...))
	}
	v.Write(emf(t, t0, "", metrics.Value{Name: metrics.TransientErrors, Unit: metrics.Count, Value: 2}))
	v.Write([]byte("{\"level\":\"INFO\",\"msg\":\"not a metric\"}\nplain text line\n"))

	s := v.Stats(context.Background())
	if s.Queue == nil || *s.Queue != q.stats || s.QueueError != "" {
		t.Errorf("queue = %+v (%q), want %+v", s.Queue, s.QueueError, q.stats)
	}
	want := Totals{Processed: 100, Failed: 3, TransientErrors: 2, BytesIn: 100_000, BytesOut: 40_000,
		FailedByCode: map[string]int{"corrupt_image": 2, "unsupported_format": 1}}
	if fmt.Sprint(s.Totals) != fmt.Sprint(want) {
		t.Errorf("totals = %+v, want %+v", s.Totals, want)
	}
	if s.ProcessingMs != (Percentiles{Count: 100, P50: 50, P99: 99}) {
		t.Errorf("processing = %+v", s.ProcessingMs)
	}
	if s.UploadToReady != (Percentiles{Count: 100, P50: 500, P99: 990}) {
		t.Errorf("upload to ready = %+v", s.UploadToReady)
	}
	if s.WindowSeconds != 600 || s.BucketSeconds != 10 {
		t.Errorf("window %d s, bucket %d s", s.WindowSeconds, s.BucketSeconds)
	}

	// Buckets: 61 of 10 s covering the 10 minutes up to now; the sum of the
	// series equals the totals, and the last bucket holds the queue sample.
	if len(s.Series) != 61 {
		t.Fatalf("%d buckets, want 61", len(s.Series))
	}
	var sumP, sumF, withLatency int
	for _, p := range s.Series {
		sumP += p.Processed
		sumF += p.Failed
		if p.ProcessingP50 != nil {
			withLatency++
		}
	}
	if sumP != 100 || sumF != 3 {
		t.Errorf("series sums processed %d failed %d, want 100 and 3", sumP, sumF)
	}
	if withLatency != 11 {
		t.Errorf("%d buckets with latency, want 11 (100 s of samples)", withLatency)
	}
	last := s.Series[len(s.Series)-1]
	if last.T != t0.UnixMilli() || last.Queue == nil || *last.Queue != q.stats {
		t.Errorf("last bucket = %+v, want t=%d with the queue sample", last, t0.UnixMilli())
	}
	// The bucket [t0-10s, t0) holds images 90..99 (processing 90..99 ms) and the failures.
	b := s.Series[len(s.Series)-2]
	if b.Processed != 10 || b.Failed != 3 || *b.ProcessingP50 != 94 || *b.ProcessingP99 != 99 {
		t.Errorf("bucket before last = processed %d failed %d p50 %v p99 %v", b.Processed, b.Failed, *b.ProcessingP50, *b.ProcessingP99)
	}
}

func TestOldSamplesLeaveTheWindowButStayCounted(t *testing.T) {
	c := &clock{t: t0}
	v := newView(t, &fakeQueue{}, &fakeRedriver{}, c)
	v.Write(emf(t, t0, "", processed(1000, 2000)...))
	v.Stats(context.Background())
	c.t = t0.Add(11 * time.Minute)
	v.Write(emf(t, c.t, "", processed(10, 20)...))
	s := v.Stats(context.Background())
	if s.Totals.Processed != 2 {
		t.Errorf("total processed %d, want 2", s.Totals.Processed)
	}
	if s.ProcessingMs != (Percentiles{Count: 1, P50: 10, P99: 10}) {
		t.Errorf("processing %+v: the 11-minute-old sample should be gone", s.ProcessingMs)
	}
	queued := 0
	for _, p := range s.Series {
		if p.Queue != nil {
			queued++
		}
	}
	if queued != 1 {
		t.Errorf("%d queue samples in the window, want 1", queued)
	}
}

func TestWriteJoinsLinesSplitAcrossCalls(t *testing.T) {
	v := newView(t, &fakeQueue{}, &fakeRedriver{}, &clock{t: t0})
	line := emf(t, t0, "too_large", failed()...)
	for _, chunk := range [][]byte{line[:7], line[7:30], line[30:]} {
		if n, err := v.Write(chunk); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if got := v.Stats(context.Background()).Totals.FailedByCode["too_large"]; got != 1 {
		t.Errorf("too_large = %d, want 1", got)
	}
}

func TestObserveAndFuncAdapters(t *testing.T) {
	redrives := 0
	v, err := New(
		QueueStatsFunc(func(context.Context) (QueueStats, error) { return QueueStats{DLQ: 7}, nil }),
		RedriveFunc(func(context.Context) (int, error) { redrives++; return 7, nil }),
		Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	v.Observe(metrics.Record{Time: t0, Service: metrics.ServiceResize, ErrorCode: "empty_file",
		Values: map[string]float64{metrics.ImagesFailed: 1, metrics.ProcessingTime: 3}})
	s := v.Stats(context.Background())
	if s.Totals.FailedByCode["empty_file"] != 1 || s.ProcessingMs.Count != 1 || s.Queue.DLQ != 7 {
		t.Errorf("stats %+v", s)
	}
	if res, body := serve(t, v, "POST", "/ops/redrive", map[string]string{"X-Imagepipe-Ops": "redrive"}); res.StatusCode != 200 || redrives != 1 {
		t.Errorf("redrive: %d %s, %d calls", res.StatusCode, body, redrives)
	}
}

func TestQueueErrorIsReportedNotFatal(t *testing.T) {
	v := newView(t, &fakeQueue{err: errors.New("connection refused")}, &fakeRedriver{}, &clock{t: t0})
	s := v.Stats(context.Background())
	if s.Queue != nil || !strings.Contains(s.QueueError, "connection refused") {
		t.Errorf("queue %+v, error %q", s.Queue, s.QueueError)
	}
}

func serve(t *testing.T, h http.Handler, method, target string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Result(), string(b)
}

func TestHTTP(t *testing.T) {
	q := &fakeQueue{stats: QueueStats{Visible: 1, DLQ: 3}}
	v := newView(t, q, &fakeRedriver{}, &clock{t: t0})
	tests := []struct {
		method, target string
		status         int
		ctype          string
		contains       string
	}{
		{"GET", "/ops", 200, "text/html; charset=utf-8", "Redrive the DLQ"},
		{"GET", "/ops/", 200, "text/html; charset=utf-8", "<svg id=\"chart-queue\""},
		{"GET", "/ops/ops.js", 200, "text/javascript; charset=utf-8", "/ops/stats"},
		{"GET", "/ops/ops.css", 200, "text/css; charset=utf-8", ".cards"},
		{"GET", "/ops/stats", 200, "application/json; charset=utf-8", `"dlq":3`},
		{"GET", "/ops/missing.js", 404, "text/plain; charset=utf-8", ""},
		{"GET", "/ops/index.html", 404, "text/plain; charset=utf-8", ""},
		{"POST", "/ops/stats", 405, "application/json; charset=utf-8", "method not allowed"},
		{"GET", "/ops/redrive", 405, "application/json; charset=utf-8", "method not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			res, body := serve(t, v, tt.method, tt.target, nil)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.status)
			}
			if got := res.Header.Get("Content-Type"); got != tt.ctype {
				t.Errorf("Content-Type %q, want %q", got, tt.ctype)
			}
			if !strings.Contains(body, tt.contains) {
				t.Errorf("body lacks %q", tt.contains)
			}
			if got := res.Header.Get("Content-Security-Policy"); got != web.ContentSecurityPolicy {
				t.Errorf("CSP %q", got)
			}
		})
	}
}

func TestRedrive(t *testing.T) {
	tests := []struct {
		name       string
		header     string
		redriver   *fakeRedriver
		wantStatus int
		wantCalls  int
		wantBody   string
	}{
		{"without the header (cross-site form)", "", &fakeRedriver{moved: 5}, 403, 0, "X-Imagepipe-Ops"},
		{"with a wrong header", "yes", &fakeRedriver{moved: 5}, 403, 0, "X-Imagepipe-Ops"},
		{"moves messages", "redrive", &fakeRedriver{moved: 5}, 200, 1, `{"moved":5}`},
		{"reports a failure part way", "redrive", &fakeRedriver{moved: 2, err: errors.New("send message: throttled")}, 502, 1, `"moved":2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newView(t, &fakeQueue{}, tt.redriver, &clock{t: t0})
			hdr := map[string]string{}
			if tt.header != "" {
				hdr["X-Imagepipe-Ops"] = tt.header
			}
			res, body := serve(t, v, "POST", "/ops/redrive", hdr)
			if res.StatusCode != tt.wantStatus || tt.redriver.calls != tt.wantCalls || !strings.Contains(body, tt.wantBody) {
				t.Errorf("status %d calls %d body %s; want %d, %d, containing %s", res.StatusCode, tt.redriver.calls, body, tt.wantStatus, tt.wantCalls, tt.wantBody)
			}
		})
	}
}

var externalRE = regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|url\(\s*['"]?(https?:|//)`)

func TestPageAssetsAreLocalAndServed(t *testing.T) {
	v := newView(t, &fakeQueue{}, &fakeRedriver{}, &clock{t: t0})
	_, page := serve(t, v, "GET", "/ops", nil)
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) != 3 {
		t.Errorf("page references %d assets, want the two scripts and the stylesheet", len(refs))
	}
	for _, m := range refs {
		if res, _ := serve(t, v, "GET", m[1], nil); res.StatusCode != 200 {
			t.Errorf("%s: status %d", m[1], res.StatusCode)
		}
	}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := static.ReadFile(p)
		text := strings.ReplaceAll(string(b), `"http://www.w3.org/2000/svg"`, "")
		if m := externalRE.FindString(text); m != "" {
			t.Errorf("%s reaches outside the origin: %q", p, m)
		}
		for _, bad := range []string{"<style", " style=", " onclick=", "innerHTML", "eval("} {
			if strings.Contains(text, bad) {
				t.Errorf("%s uses %q, which the CSP blocks or which is unsafe", p, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRunSamplesTheQueueUntilCancelled(t *testing.T) {
	q := &fakeQueue{stats: QueueStats{Visible: 2}}
	v, err := New(q, &fakeRedriver{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { v.Run(ctx, time.Millisecond); close(done) }()
	for {
		q.mu.Lock()
		calls := q.calls
		q.mu.Unlock()
		if calls >= 3 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	v.mu.Lock()
	samples := len(v.queueAt)
	v.mu.Unlock()
	if samples < 3 {
		t.Errorf("%d queue samples kept, want at least 3", samples)
	}
}
