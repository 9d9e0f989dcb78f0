package opsview

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

func TestEventsEndpoint(t *testing.T) {
	bare := newView(t, &fakeQueue{}, &fakeRedriver{}, &clock{t: t0})
	res, body := serve(t, bare, "GET", "/ops/events", nil)
	if res.StatusCode != 200 || body != "{\"webhook\":\"\",\"events\":[],\"deliveries\":[]}\n" {
		t.Errorf("without a lister: %d %s", res.StatusCode, body)
	}
	want := EventsReport{
		Webhook: "http://127.0.0.1:9999/hook",
		Events: []EventRecord{{ID: "e1", DetailType: "ImageReady", ImageID: "abc", Status: "ready",
			Received: t0, Rules: []string{"webhook"}}},
		Deliveries: []DeliveryRecord{{EventID: "e1", DetailType: "ImageReady", Target: "webhook", State: "delivered",
			Attempts: 2, LastStatus: 200, Last: t0.Add(time.Second)}},
	}
	v, err := New(&fakeQueue{}, &fakeRedriver{}, Options{Now: (&clock{t: t0}).now,
		Events: EventsFunc(func(context.Context) EventsReport { return want })})
	if err != nil {
		t.Fatal(err)
	}
	res, body = serve(t, v, "GET", "/ops/events", nil)
	var got EventsReport
	if err := json.Unmarshal([]byte(body), &got); err != nil || res.StatusCode != 200 || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %s (%v)", res.StatusCode, body, err)
	}
	if got.Webhook != want.Webhook || len(got.Events) != 1 || got.Events[0].ImageID != "abc" || len(got.Deliveries) != 1 || got.Deliveries[0].Attempts != 2 {
		t.Errorf("got %+v", got)
	}
	if res, _ := serve(t, v, "POST", "/ops/events", nil); res.StatusCode != 405 {
		t.Errorf("POST: %d", res.StatusCode)
	}
}
