package localcloud

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/imagepipe/imagepipe/shared/redrive"
	"github.com/imagepipe/imagepipe/web/opsview"
)

// OpsView builds the operations view (/ops) for this cloud: queue depths from its
// SQS, metrics from the resize handler's EMF records, and a redrive button that
// moves the DLQ back the way `imagepipe redrive` does (receive, send, delete:
// goaws has no message move tasks). Serve the view at "/ops" and "/ops/"; stop
// unsubscribes it and ends its background sampling.
func (c *Cloud) OpsView(opt opsview.Options) (view *opsview.View, stop func(), err error) {
	if opt.Events == nil {
		opt.Events = opsview.EventsFunc(c.recentEvents) // events.go
	}
	view, err = opsview.New(
		opsview.QueueStatsFunc(func(ctx context.Context) (opsview.QueueStats, error) {
			q, err := c.QueueStats(ctx)
			return opsview.QueueStats{Visible: q.Visible, InFlight: q.InFlight, DLQ: q.DLQ}, err
		}),
		opsview.RedriveFunc(func(ctx context.Context) (int, error) {
			r, err := redrive.Run(ctx, c.SQS, redrive.Options{DLQ: c.DLQURL, Destination: c.ResizeQueueURL, Method: redrive.Copy})
			return int(r.Moved), err
		}),
		opt)
	if err != nil {
		return nil, nil, fmt.Errorf("ops view: %w", err)
	}
	// Records written before the view existed (recovery at start) count too.
	for _, r := range c.RecentMetrics() {
		view.Observe(r)
	}
	unsubscribe := c.SubscribeMetrics(view.Observe)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		view.Run(ctx, 2*time.Second)
	}()
	return view, func() {
		unsubscribe()
		cancel()
		<-done
	}, nil
}

// withOps serves the operations view at /ops beside the API, on the page's
// address, so `make dev` shows both from one origin.
func (c *Cloud) withOps(api http.Handler) (http.Handler, error) {
	view, stop, err := c.OpsView(opsview.Options{Log: c.log.With("component", "ops")})
	if err != nil {
		return nil, err
	}
	c.stopOps = stop
	mux := http.NewServeMux()
	mux.Handle("/ops", view)
	mux.Handle("/ops/", view)
	if c.Issuer != nil {
		mux.Handle(oidcPath+"/", c.Issuer.Handler())
	}
	mux.Handle("/", api)
	return mux, nil
}
