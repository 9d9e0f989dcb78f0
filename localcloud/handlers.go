package localcloud

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/imagepipe/imagepipe/localcloud/eventsource"
	"github.com/imagepipe/imagepipe/shared/api"
	"github.com/imagepipe/imagepipe/shared/imageevents"
	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/metrics"
	"github.com/imagepipe/imagepipe/shared/resize"
	"github.com/imagepipe/imagepipe/web"
)

// resizeHandler builds the real resize handler exactly as functions/resize does,
// from the environment settings.ResizeEnv describes.
func (c *Cloud) resizeHandler() (eventsource.Handler, error) {
	env := c.cfg.Settings.ResizeEnv(c.UploadsBucket, c.OutputBucket)
	env["EVENT_BUS_NAME"] = c.EventBusName // as the CDK app adds it
	for k, v := range c.deliveryEnv() {
		env[k] = v // the variant URLs events carry
	}
	rcfg, err := resize.ConfigFromEnv(getenv(env))
	if err != nil {
		return nil, fmt.Errorf("resize configuration: %w", err)
	}
	h, err := resize.New(rcfg, c.S3, c.log.With("function", "resize"), c.emitter)
	if err != nil {
		return nil, fmt.Errorf("resize handler: %w", err)
	}
	c.warmResize = h.Warm // what functions/resize does before lambda.Start
	if rcfg.EventBus != "" {
		bus, err := imageevents.NewBus(c.EventBridge, rcfg.EventBus)
		if err != nil {
			return nil, fmt.Errorf("resize handler: %w", err)
		}
		h.WithEvents(bus, imageevents.CDNURLs(rcfg.CDNURL))
	}
	return h.Handle, nil
}

// apiHandler builds the real API function exactly as functions/api does: the API
// and the page composed, from the environment the function would get.
func (c *Cloud) apiHandler() (http.Handler, error) {
	env := c.cfg.Settings.APIEnv(c.UploadsBucket, c.OutputBucket)
	for k, v := range c.deliveryEnv() {
		env[k] = v
	}
	if c.Issuer != nil {
		// What the CDK app adds from the Cognito app client, here the local issuer's.
		env["AUTH_CLIENT_ID"], env["AUTH_AUTHORIZE_URL"] = c.Issuer.ClientID(), c.Issuer.AuthorizeURL()
		env["AUTH_TOKEN_URL"], env["AUTH_LOGOUT_URL"] = c.Issuer.TokenURL(), c.Issuer.LogoutURL()
	}
	env["EVENT_BUS_NAME"] = c.EventBusName // as the CDK app adds it
	acfg, err := api.ConfigFromEnv(getenv(env))
	if err != nil {
		return nil, fmt.Errorf("api configuration: %w", err)
	}
	a, err := api.New(acfg, c.S3, c.Presigner, c.log.With("function", "api"))
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	c.API = a
	if acfg.EventBus != "" { // deletes tell the application, as functions/api wires it
		bus, err := imageevents.NewBus(c.EventBridge, acfg.EventBus)
		if err != nil {
			return nil, fmt.Errorf("api: %w", err)
		}
		a.Deletions().Listener = imageevents.DeletionEvents{Publisher: bus, UploadPrefix: acfg.UploadPrefix}
	}
	if c.CDN != nil { // deletes invalidate the local CDN's cache, as on CloudFront
		d := a.Deletions()
		d.CDN, d.DistributionID = c.CDN, acfg.CDNDistributionID
	}
	opt, err := web.OptionsFromEnv(getenv(env))
	if err != nil {
		return nil, fmt.Errorf("page configuration: %w", err)
	}
	opt.UploadOrigin, opt.OutputOrigin = a.Origins()
	page, err := web.New(opt)
	if err != nil {
		return nil, err
	}
	return web.Compose(a, page), nil
}

// Metrics is the emitter the resize handler writes EMF records to.
func (c *Cloud) Metrics() *metrics.Emitter { return c.emitter }

// SubscribeMetrics calls fn with every EMF record the resize handler writes from
// now on, until cancel is called. fn must not block for long.
func (c *Cloud) SubscribeMetrics(fn func(metrics.Record)) (cancel func()) {
	return c.metrics.subscribe(fn)
}

// RecentMetrics returns the last EMF records (up to 1000), oldest first.
func (c *Cloud) RecentMetrics() []metrics.Record { return c.metrics.recent() }

// metricsHub is the io.Writer behind the resize handler's emitter: it parses each
// EMF line and fans it out, as CloudWatch would turn it into metrics.
type metricsHub struct {
	*metrics.Sink
	mu      sync.Mutex
	ring    []metrics.Record
	subs    map[int]func(metrics.Record)
	nextSub int
}

const metricsKept = 1000

func newMetricsHub() *metricsHub {
	h := &metricsHub{subs: map[int]func(metrics.Record){}}
	h.Sink = metrics.NewSink(h.observe)
	return h
}

func (h *metricsHub) observe(rec metrics.Record) {
	h.mu.Lock()
	h.ring = append(h.ring, rec)
	if over := len(h.ring) - metricsKept; over > 0 {
		h.ring = append([]metrics.Record(nil), h.ring[over:]...)
	}
	subs := make([]func(metrics.Record), 0, len(h.subs))
	for _, s := range h.subs {
		subs = append(subs, s)
	}
	h.mu.Unlock()
	for _, s := range subs {
		s(rec)
	}
}

func (h *metricsHub) subscribe(fn func(metrics.Record)) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := h.nextSub
	h.nextSub++
	h.subs[id] = fn
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.subs, id)
	}
}

func (h *metricsHub) recent() []metrics.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]metrics.Record(nil), h.ring...)
}

// QueueStats is what the console shows for the resize queue and its DLQ.
type QueueStats struct {
	// Visible messages wait for the event source; InFlight ones are being
	// processed (or wait out a visibility timeout after a failure).
	Visible, InFlight int
	// DLQ counts messages that exhausted maxReceiveCount; the alarm fires above 0.
	DLQ int
}

// QueueStats reads the queues' attributes through the SQS API.
func (c *Cloud) QueueStats(ctx context.Context) (QueueStats, error) {
	get := func(url string) (total, hidden int, err error) {
		out, err := c.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: &url,
			AttributeNames: []sqstypes.QueueAttributeName{
				sqstypes.QueueAttributeNameApproximateNumberOfMessages,
				sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			},
		})
		if err != nil {
			return 0, 0, fmt.Errorf("queue attributes of %s: %w", url, err)
		}
		total, _ = strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
		hidden, _ = strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
		return total, hidden, nil
	}
	total, hidden, err := get(c.ResizeQueueURL)
	if err != nil {
		return QueueStats{}, err
	}
	dlqTotal, _, err := get(c.DLQURL)
	if err != nil {
		return QueueStats{}, err
	}
	// goaws counts in-flight messages in ApproximateNumberOfMessages; SQS does not.
	return QueueStats{Visible: max(total-hidden, 0), InFlight: hidden, DLQ: dlqTotal}, nil
}

// ImageResult is one image the resize handler finished, read back from its manifest.
type ImageResult struct {
	ID       string
	Key      string
	Manifest manifest.Manifest
}

// observe wraps the handler so OnImage hears about every image a successful
// record finished. It changes nothing about what the handler returns.
func (c *Cloud) observe(h eventsource.Handler) eventsource.Handler {
	if c.cfg.OnImage == nil {
		return h
	}
	prefix := c.cfg.Settings.UploadPrefix
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		resp, err := h(ctx, ev)
		if err != nil {
			return resp, err
		}
		failed := map[string]bool{}
		for _, f := range resp.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
		for _, msg := range ev.Records {
			if failed[msg.MessageId] {
				continue
			}
			records, perr := resize.ParseBody(msg.Body)
			if perr != nil {
				continue
			}
			for _, r := range records {
				id, ok := manifest.IDForUploadKey(prefix, r.S3.Object.URLDecodedKey)
				if !ok {
					continue
				}
				if m, err := manifest.Read(context.WithoutCancel(ctx), c.S3, c.OutputBucket, id); err == nil && m != nil {
					c.cfg.OnImage(ImageResult{ID: id, Key: r.S3.Object.URLDecodedKey, Manifest: *m})
				}
			}
		}
		return resp, nil
	}
}

// Recover re-sends the ObjectCreated event of every upload that has no manifest.
// goaws keeps messages only in memory, so a restart loses queued and in-flight
// work; S3 data survives (s3bolt), and this puts the lost work back. It returns how
// many uploads it re-enqueued.
func (c *Cloud) Recover(ctx context.Context) (int, error) {
	n := 0
	p := s3.NewListObjectsV2Paginator(c.S3, &s3.ListObjectsV2Input{Bucket: &c.UploadsBucket, Prefix: &c.cfg.Settings.UploadPrefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return n, fmt.Errorf("list uploads: %w", err)
		}
		for _, obj := range page.Contents {
			key := deref(obj.Key)
			id, ok := manifest.IDForUploadKey(c.cfg.Settings.UploadPrefix, key)
			if !ok {
				continue
			}
			if lost, err := c.lostWork(ctx, id); err != nil || !lost {
				if err != nil {
					return n, err
				}
				continue
			}
			if err := c.notifier.ObjectCreated(ctx, EventPut, key, deref(obj.Size), deref(obj.ETag), "127.0.0.1", "recover"); err != nil {
				return n, err
			}
			n++
		}
	}
	if n > 0 {
		c.log.Info("re-enqueued uploads that had no manifest", "count", n)
	}
	return n, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// lostWork reports whether an upload's work may have been lost with the queues: it
// has no manifest, or it was given up (processing_failed), which means its message
// was in the DLQ, and goaws keeps the DLQ in memory too.
func (c *Cloud) lostWork(ctx context.Context, id string) (bool, error) {
	m, err := manifest.Read(ctx, c.S3, c.OutputBucket, id)
	switch {
	case errors.Is(err, manifest.ErrUnreadable):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("recover: %w", err)
	}
	return m == nil || m.Status == manifest.StatusFailed && m.Error != nil && m.Error.Code == resize.CodeProcessingFailed, nil
}
