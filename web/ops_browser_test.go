package web_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/imagepipe/imagepipe/shared/metrics"
	"github.com/imagepipe/imagepipe/web/opsview"
)

// opsQueue is a queue whose DLQ empties when redriven.
type opsQueue struct {
	mu      sync.Mutex
	stats   opsview.QueueStats
	redrove int
}

func (q *opsQueue) QueueStats(context.Context) (opsview.QueueStats, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stats, nil
}

func (q *opsQueue) Redrive(context.Context) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	moved := q.stats.DLQ
	q.stats.Visible += moved
	q.stats.DLQ = 0
	q.redrove++
	return moved, nil
}

func TestOpsViewInChromium(t *testing.T) {
	q := &opsQueue{stats: opsview.QueueStats{Visible: 3, InFlight: 1, DLQ: 2}}
	view, err := opsview.New(q, q, opsview.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(view)
	t.Cleanup(srv.Close)

	em := metrics.NewEmitter(view)
	for i := 1; i <= 20; i++ {
		em.Emit(metrics.ServiceResize, "",
			metrics.Value{Name: metrics.ImagesProcessed, Unit: metrics.Count, Value: 1},
			metrics.Value{Name: metrics.ProcessingTime, Unit: metrics.Milliseconds, Value: float64(10 * i)},
			metrics.Value{Name: metrics.UploadToReady, Unit: metrics.Milliseconds, Value: float64(100 * i)})
	}
	em.Emit(metrics.ServiceResize, "corrupt_image", metrics.Value{Name: metrics.ImagesFailed, Unit: metrics.Count, Value: 1})

	b := newBrowser(t)
	text := func(id string) string {
		var s string
		b.run(t, chromedp.Text("#"+id, &s, chromedp.ByID))
		return strings.TrimSpace(s)
	}
	b.run(t,
		chromedp.Navigate(srv.URL+"/ops"),
		chromedp.WaitVisible(`#updated`, chromedp.ByID),
	)
	waitText(t, b, "processed", "20")
	for id, want := range map[string]string{
		"visible": "3", "inFlight": "1", "dlq": "2", "failed": "1", "transient": "0",
		"processing": "100 ms / 200 ms", "u2r": "1.00 s / 2.00 s",
	} {
		if got := text(id); got != want {
			t.Errorf("#%s shows %q, want %q", id, got, want)
		}
	}
	var codes string
	b.run(t, chromedp.Text("#codes", &codes, chromedp.ByID))
	if !strings.Contains(codes, "corrupt_image") {
		t.Errorf("failures table %q lacks corrupt_image", codes)
	}
	var drawn struct{ Bars, Lines, Dots int }
	b.run(t, chromedp.Evaluate(`({
		Bars: document.querySelectorAll("#chart-throughput rect:not(.legend rect)").length,
		Lines: document.querySelectorAll("#chart-queue polyline, #chart-latency polyline").length,
		Dots: document.querySelectorAll("#chart-queue circle, #chart-latency circle").length
	})`, &drawn))
	if drawn.Bars == 0 || drawn.Lines+drawn.Dots == 0 {
		t.Errorf("charts drew %+v, want bars and lines or points", drawn)
	}

	b.run(t, chromedp.Click("#redrive", chromedp.ByID))
	waitText(t, b, "redrive-result", "Moved 2 messages back to the resize queue.")
	waitText(t, b, "dlq", "0")
	var disabled bool
	b.run(t, chromedp.Evaluate(`document.getElementById("redrive").disabled`, &disabled))
	if !disabled || q.redrove != 1 {
		t.Errorf("after redrive: button disabled %v, redrives %d; want disabled with an empty DLQ, one redrive", disabled, q.redrove)
	}
	b.screenshot(t, "ops.png")
	expectNoPageErrors(t, b)
}

func waitText(t *testing.T, b *browser, id, want string) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(45 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		b.run(t, chromedp.Text("#"+id, &got, chromedp.ByID))
		if strings.TrimSpace(got) == want {
			return
		}
	}
	t.Fatalf("#%s shows %q, want %q", id, got, want)
}

// TestOpsViewCardsFitTheirBorders checks, at common window widths, that no card's
// text runs past its border, with the widest figures the view shows ("999 ms" and
// seconds with two decimals).
func TestOpsViewCardsFitTheirBorders(t *testing.T) {
	q := &opsQueue{stats: opsview.QueueStats{Visible: 123456, InFlight: 1000, DLQ: 99999}}
	view, err := opsview.New(q, q, opsview.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(view)
	t.Cleanup(srv.Close)
	em := metrics.NewEmitter(view)
	for i := 1; i <= 100; i++ {
		em.Emit(metrics.ServiceResize, "",
			metrics.Value{Name: metrics.ImagesProcessed, Unit: metrics.Count, Value: 1},
			metrics.Value{Name: metrics.ProcessingTime, Unit: metrics.Milliseconds, Value: 999},
			metrics.Value{Name: metrics.UploadToReady, Unit: metrics.Milliseconds, Value: float64(10000 + 999*i)})
	}
	b := newBrowser(t)
	b.run(t, chromedp.Navigate(srv.URL+"/ops"), chromedp.WaitVisible(`#updated`, chromedp.ByID))
	waitText(t, b, "processed", "100")
	for _, width := range []int64{1280, 1100, 800, 390} {
		var overflows []string
		b.run(t,
			chromedp.EmulateViewport(width, 900),
			chromedp.Evaluate(`Array.from(document.querySelectorAll(".card, .card dt, .card dd"))
				.filter(e => e.scrollWidth > e.clientWidth ||
					e.getBoundingClientRect().right > e.closest(".card").getBoundingClientRect().right)
				.map(e => (e.id || e.tagName) + ": " + JSON.stringify(e.textContent) + " is " + e.scrollWidth + " px in " + e.clientWidth)`, &overflows),
		)
		if len(overflows) > 0 {
			t.Errorf("at %d px, text runs past its card: %s", width, strings.Join(overflows, "; "))
		}
	}
	b.screenshot(t, "ops-wide-figures.png")
	expectNoPageErrors(t, b)
}
