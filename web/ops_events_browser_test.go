package web_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/imagepipe/imagepipe/web/opsview"
)

// TestOpsViewEventsInChromium: the events section lists the bus's events and the
// webhook's deliveries, a dead letter marked.
func TestOpsViewEventsInChromium(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 2, 0, time.UTC)
	report := opsview.EventsReport{
		Webhook: "http://127.0.0.1:9999/hooks/imagepipe",
		Events: []opsview.EventRecord{
			{ID: "e2", DetailType: "ImageFailed", ImageID: "a3d17b8c1527acf9111338f764afbd8f", Status: "failed", Received: at, Rules: []string{"webhook"}},
			{ID: "e1", DetailType: "ImageReady", ImageID: "87816d91d1a3acc1406c1b84434597a7", Status: "ready", Received: at, Rules: []string{"webhook"}},
		},
		Deliveries: []opsview.DeliveryRecord{
			{EventID: "e2", DetailType: "ImageFailed", Target: "webhook", State: "dead-lettered", Attempts: 8, LastStatus: 503, LastError: "Service Unavailable", Last: at},
			{EventID: "e1", DetailType: "ImageReady", Target: "webhook", State: "delivered", Attempts: 3, LastStatus: 204, Last: at},
		},
	}
	q := &opsQueue{}
	view, err := opsview.New(q, q, opsview.Options{Events: opsview.EventsFunc(func(context.Context) opsview.EventsReport { return report })})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(view)
	t.Cleanup(srv.Close)

	b := newBrowser(t)
	b.run(t, chromedp.Navigate(srv.URL+"/ops"), chromedp.WaitVisible(`#events-webhook`, chromedp.ByID))
	waitText(t, b, "events-webhook", "Every event goes to http://127.0.0.1:9999/hooks/imagepipe (as an EventBridge API destination would send it).")
	var events, deliveries string
	var bad int
	b.run(t,
		chromedp.Text("#events", &events, chromedp.ByID),
		chromedp.Text("#deliveries", &deliveries, chromedp.ByID),
		chromedp.Evaluate(`document.querySelectorAll("#deliveries tr.bad").length`, &bad),
	)
	for _, want := range []string{"ImageFailed", "a3d17b8c1527acf9111338f764afbd8f", "ImageReady", "ready", "webhook"} {
		if !strings.Contains(events, want) {
			t.Errorf("events table %q lacks %q", events, want)
		}
	}
	for _, want := range []string{"dead-lettered", "HTTP 503 Service Unavailable", "delivered", "HTTP 204"} {
		if !strings.Contains(deliveries, want) {
			t.Errorf("deliveries table %q lacks %q", deliveries, want)
		}
	}
	if bad != 1 {
		t.Errorf("%d rows marked bad, want the dead letter", bad)
	}
	b.screenshot(t, "ops-events.png")
	expectNoPageErrors(t, b)
}
