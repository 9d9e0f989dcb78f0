package opsview

import (
	"context"
	"net/http"
	"time"
)

// EventsReport is what the event bus accepted recently and what became of each
// webhook delivery, newest first.
type EventsReport struct {
	// Webhook is where the webhook rule delivers; empty when there is none.
	Webhook    string           `json:"webhook"`
	Events     []EventRecord    `json:"events"`
	Deliveries []DeliveryRecord `json:"deliveries"`
}

// EventRecord is one event the bus accepted.
type EventRecord struct {
	ID         string    `json:"id"`
	DetailType string    `json:"detailType"`
	ImageID    string    `json:"imageId"`
	Status     string    `json:"status"`
	Received   time.Time `json:"received"`
	Rules      []string  `json:"rules"`
}

// DeliveryRecord is one event's delivery to one target.
type DeliveryRecord struct {
	EventID    string    `json:"eventId"`
	DetailType string    `json:"detailType"`
	Target     string    `json:"target"`
	State      string    `json:"state"`
	Attempts   int       `json:"attempts"`
	LastStatus int       `json:"lastStatus,omitempty"`
	LastError  string    `json:"lastError,omitempty"`
	Last       time.Time `json:"last"`
}

// EventsLister reports recent events and deliveries.
type EventsLister interface {
	RecentEvents(ctx context.Context) EventsReport
}

// EventsFunc adapts a function to EventsLister.
type EventsFunc func(ctx context.Context) EventsReport

// RecentEvents calls f.
func (f EventsFunc) RecentEvents(ctx context.Context) EventsReport { return f(ctx) }

// serveEvents answers GET /ops/events; without a lister the lists are empty.
func (v *View) serveEvents(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet) {
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	report := EventsReport{Events: []EventRecord{}, Deliveries: []DeliveryRecord{}}
	if v.events != nil {
		report = v.events.RecentEvents(r.Context())
		if report.Events == nil {
			report.Events = []EventRecord{}
		}
		if report.Deliveries == nil {
			report.Deliveries = []DeliveryRecord{}
		}
	}
	writeJSON(w, http.StatusOK, report)
}
