// Package resize turns S3 upload events, delivered through SQS, into image variants
// and a manifest in the output bucket.
package resize

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/imageevents"
	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/metrics"
)

// ObjectStore is the part of *s3.Client the resize function uses.
type ObjectStore interface {
	HeadObject(ctx context.Context, params *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, params *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Processor turns an original into its variants; *imagecore.Engine is the real one.
type Processor interface {
	Process(ctx context.Context, data []byte) (*imagecore.Result, error)
}

// Handler processes SQS batches of S3 events. Its Handle method is what lambda.Start
// gets on AWS and what the local cloud's poller invokes.
type Handler struct {
	cfg     Config
	store   ObjectStore
	engine  Processor
	log     *slog.Logger
	metrics *metrics.Emitter
	now     func() time.Time
	// events hears of every committed manifest (nil: no bus configured); urls
	// gives the variants' public URLs in the events.
	events imageevents.Publisher
	urls   imageevents.URLFunc
}

// WithEvents makes the handler publish ImageReady or ImageFailed once a manifest is
// committed, and again whenever a delivery finds the manifest already there, so a
// failed publish is retried with the message. url maps an output key to its public
// URL ("" or nil without a CDN). It returns h.
func (h *Handler) WithEvents(p imageevents.Publisher, url imageevents.URLFunc) *Handler {
	h.events, h.urls = p, url
	return h
}

// New builds a Handler; the engine is made from cfg's limits and variants.
func New(cfg Config, store ObjectStore, log *slog.Logger, emitter *metrics.Emitter) (*Handler, error) {
	engine, err := imagecore.NewEngine(cfg.Limits, cfg.Variants)
	if err != nil {
		return nil, fmt.Errorf("resize: %w", err)
	}
	return NewWithProcessor(cfg, store, engine, log, emitter)
}

// NewWithProcessor builds a Handler around any Processor.
func NewWithProcessor(cfg Config, store ObjectStore, engine Processor, log *slog.Logger, emitter *metrics.Emitter) (*Handler, error) {
	if store == nil || engine == nil || log == nil {
		return nil, errors.New("resize: store, engine and log are required")
	}
	if cfg.OutputBucket == "" || cfg.UploadPrefix == "" {
		return nil, errors.New("resize: output bucket and upload prefix are required")
	}
	return &Handler{cfg: cfg, store: store, engine: engine, log: log, metrics: emitter, now: time.Now}, nil
}

// Handle processes a batch and reports the messages to retry. Images are processed
// one after another: each is CPU- and memory-heavy, and a function instance has one
// image's worth of memory to spare.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	// Work on an image is cut off half a margin before the invocation deadline, so
	// the answer always arrives in time even when S3 stalls: an invocation that
	// times out fails its whole batch, redoing finished images and pushing healthy
	// messages toward maxReceiveCount and the DLQ.
	work := ctx
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		work, cancel = context.WithDeadline(ctx, deadline.Add(-h.cfg.DeadlineMargin/2))
		defer cancel()
	}
	var resp events.SQSEventResponse
	for i, msg := range ev.Records {
		if h.deadlineNear(ctx) {
			for _, rest := range ev.Records[i:] {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rest.MessageId})
			}
			h.log.WarnContext(ctx, "deadline near: handing messages back", "messages", len(ev.Records)-i)
			break
		}
		if err := h.handleMessageSafely(work, msg); err != nil {
			h.log.ErrorContext(ctx, "message will be retried", "messageId", msg.MessageId,
				"receiveCount", msg.Attributes["ApproximateReceiveCount"], "error", err)
			_ = h.metrics.Emit(metrics.ServiceResize, "", metrics.Value{Name: metrics.TransientErrors, Unit: metrics.Count, Value: 1})
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: msg.MessageId})
		}
	}
	return resp, nil
}

func (h *Handler) deadlineNear(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	deadline, ok := ctx.Deadline()
	return ok && h.now().Add(h.cfg.DeadlineMargin).After(deadline)
}

// handleMessageSafely confines a panic (a decoder bug on a hostile file, say) to its
// own message: it is retried and, if it keeps panicking, waits in the DLQ, while the
// rest of the batch goes on instead of failing with the whole invocation.
func (h *Handler) handleMessageSafely(ctx context.Context, msg events.SQSMessage) (err error) {
	defer func() {
		if p := recover(); p != nil {
			h.log.ErrorContext(ctx, "panic while processing", "messageId", msg.MessageId, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("message %s: panic: %v", msg.MessageId, p)
		}
	}()
	return h.handleMessage(ctx, msg)
}

// testEvent is what S3 sends once when a notification is configured.
type testEvent struct {
	Event string `json:"Event"`
}

// handleMessage returns nil when the message is done with (processed, recorded as
// failed, or deliberately ignored) and an error when it must be retried.
func (h *Handler) handleMessage(ctx context.Context, msg events.SQSMessage) error {
	records, err := ParseBody(msg.Body)
	if errors.Is(err, ErrTestEvent) {
		h.log.InfoContext(ctx, "s3 test event ignored", "messageId", msg.MessageId)
		return nil
	}
	if err != nil {
		return fmt.Errorf("message %s: %w", msg.MessageId, err)
	}
	var errs []error
	for _, rec := range records {
		if !strings.HasPrefix(rec.EventName, "ObjectCreated:") {
			h.log.InfoContext(ctx, "event ignored", "event", rec.EventName, "key", rec.S3.Object.URLDecodedKey)
			continue
		}
		key := rec.S3.Object.URLDecodedKey
		id, ok := manifest.IDForUploadKey(h.cfg.UploadPrefix, key)
		if !ok {
			h.log.InfoContext(ctx, "key outside the uploads prefix ignored", "bucket", rec.S3.Bucket.Name, "key", key, "prefix", h.cfg.UploadPrefix)
			continue
		}
		if err := h.processObject(ctx, rec.S3.Bucket.Name, key, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ErrTestEvent is returned by ParseBody for S3's s3:TestEvent.
var ErrTestEvent = errors.New("s3:TestEvent")

// ParseBody reads an SQS message body as an S3 event notification, with every key
// form-decoded into URLDecodedKey.
func ParseBody(body string) ([]events.S3EventRecord, error) {
	var probe testEvent
	if json.Unmarshal([]byte(body), &probe) == nil && probe.Event == "s3:TestEvent" {
		return nil, ErrTestEvent
	}
	var ev events.S3Event
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		return nil, fmt.Errorf("%w: body is not an S3 event: %v", errMalformed, err)
	}
	if len(ev.Records) == 0 {
		return nil, fmt.Errorf("%w: body has no S3 event records", errMalformed)
	}
	for i, rec := range ev.Records {
		if rec.S3.Bucket.Name == "" || rec.S3.Object.Key == "" {
			return nil, fmt.Errorf("%w: record %d has no bucket or key", errMalformed, i)
		}
		// aws-lambda-go decodes keys when unmarshalling; decode again only if it could not.
		if rec.S3.Object.URLDecodedKey == "" {
			key, err := url.QueryUnescape(rec.S3.Object.Key)
			if err != nil {
				return nil, fmt.Errorf("%w: record %d key %q is not form-encoded: %v", errMalformed, i, rec.S3.Object.Key, err)
			}
			ev.Records[i].S3.Object.URLDecodedKey = key
		}
	}
	return ev.Records, nil
}

// processObject makes the variants and manifest of one upload. It returns an error
// only when the work should be retried; permanent failures are recorded.
func (h *Handler) processObject(ctx context.Context, bucket, key, id string) error {
	start := h.now()
	log := h.log.With("id", id, "bucket", bucket, "key", key)
	src := manifest.Source{Bucket: bucket, Key: key}

	head, err := h.store.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err == nil {
		src.ETag = deref(head.ETag)
		src.Bytes = deref(head.ContentLength)
		src.UploadedAt = deref(head.LastModified)
		src.Filename = filenameOf(head.Metadata)
	}
	existing, mErr := h.readManifest(ctx, id)
	if mErr != nil {
		return mErr
	}
	if existing != nil && (manifest.IsNotFound(err) || existing.Source.ETag == src.ETag && src.ETag != "") {
		// A duplicate delivery, or the original is gone after it was done: keep the
		// result that exists rather than redo or overwrite it.
		log.InfoContext(ctx, "already processed", "status", existing.Status)
		// The event may be what failed last time: publish it again (duplicates are
		// identical, and consumers dedupe on id and status).
		return h.announce(ctx, log, *existing)
	}
	if err != nil {
		return h.settle(ctx, log, id, src, start, fmt.Errorf("head %s: %w", key, err), nil)
	}
	if src.Bytes > h.cfg.Limits.MaxBytes {
		return h.settle(ctx, log, id, src, start, &imagecore.Error{Code: imagecore.CodeTooLarge,
			Message: fmt.Sprintf("the file is %d bytes; the limit is %d", src.Bytes, h.cfg.Limits.MaxBytes)}, nil)
	}
	data, err := h.download(ctx, bucket, key, src.ETag)
	if err != nil {
		return h.settle(ctx, log, id, src, start, err, nil)
	}
	result, err := h.engine.Process(ctx, data)
	if err != nil {
		return h.settle(ctx, log, id, src, start, fmt.Errorf("process %s: %w", key, err), nil)
	}
	src.Format, src.Width, src.Height = result.Source.Format, result.Source.Width, result.Source.Height

	var variants []manifest.Variant
	for _, out := range result.Outputs {
		vkey := manifest.VariantKey(id, out.Name, out.Format.Ext())
		if err := h.put(ctx, vkey, out.Format.ContentType(), out.Data); err != nil {
			return h.settle(ctx, log, id, src, start, err, nil)
		}
		variants = append(variants, manifest.Variant{Name: out.Name, Format: string(out.Format),
			Width: out.Width, Height: out.Height, Bytes: int64(len(out.Data)), Key: vkey})
	}
	return h.settle(ctx, log, id, src, start, nil, variants)
}

// settle is the edge where an outcome is decided once: write the manifest for a
// finished or permanently failed image, or return the error so the message is retried.
func (h *Handler) settle(ctx context.Context, log *slog.Logger, id string, src manifest.Source, start time.Time, err error, variants []manifest.Variant) error {
	kind, code, message := classify(err)
	if kind == retry {
		return fmt.Errorf("image %s: %w", id, err)
	}
	m := manifest.Manifest{Version: manifest.Version, ID: id, Status: manifest.StatusReady, Source: src, Variants: variants}
	if kind == permanent {
		m.Status = manifest.StatusFailed
		m.Variants = []manifest.Variant{}
		m.Error = &manifest.Error{Code: code, Message: message}
	}
	m.CompletedAt = h.now().UTC()
	m.ProcessingMS = m.CompletedAt.Sub(start).Milliseconds()
	body, jerr := json.Marshal(m)
	if jerr != nil {
		return fmt.Errorf("encode manifest %s: %w", id, jerr)
	}
	// The manifest is written last: its presence means every variant is in place.
	if perr := h.put(ctx, manifest.Key(id), "application/json", body); perr != nil {
		return fmt.Errorf("image %s: %w", id, perr)
	}
	h.report(ctx, log, m)
	return h.announce(ctx, log, m)
}

// announce publishes the event of a committed manifest. A failure hands the
// message back: the retry finds the manifest and publishes again.
func (h *Handler) announce(ctx context.Context, log *slog.Logger, m manifest.Manifest) error {
	if h.events == nil {
		return nil
	}
	ev, err := imageevents.FromManifest(m, h.urls)
	if err != nil {
		return fmt.Errorf("image %s: %w", m.ID, err)
	}
	if err := h.events.Publish(ctx, ev); err != nil {
		return fmt.Errorf("image %s: publish %s: %w", m.ID, ev.DetailType, err)
	}
	log.InfoContext(ctx, "event published", "type", ev.DetailType)
	return nil
}

func (h *Handler) report(ctx context.Context, log *slog.Logger, m manifest.Manifest) {
	var out int64
	for _, v := range m.Variants {
		out += v.Bytes
	}
	values := []metrics.Value{
		{Name: metrics.ProcessingTime, Unit: metrics.Milliseconds, Value: float64(m.ProcessingMS)},
		{Name: metrics.BytesIn, Unit: metrics.Bytes, Value: float64(m.Source.Bytes)},
	}
	if m.Status == manifest.StatusFailed {
		log.WarnContext(ctx, "image failed", "code", m.Error.Code, "reason", m.Error.Message,
			"bytes", m.Source.Bytes, "ms", m.ProcessingMS)
		_ = h.metrics.Emit(metrics.ServiceResize, m.Error.Code, append(values, metrics.Value{Name: metrics.ImagesFailed, Unit: metrics.Count, Value: 1})...)
		return
	}
	values = append(values,
		metrics.Value{Name: metrics.ImagesProcessed, Unit: metrics.Count, Value: 1},
		metrics.Value{Name: metrics.BytesOut, Unit: metrics.Bytes, Value: float64(out)})
	if !m.Source.UploadedAt.IsZero() {
		values = append(values, metrics.Value{Name: metrics.UploadToReady, Unit: metrics.Milliseconds,
			Value: float64(m.CompletedAt.Sub(m.Source.UploadedAt).Milliseconds())})
	}
	log.InfoContext(ctx, "image ready", "format", m.Source.Format, "width", m.Source.Width, "height", m.Source.Height,
		"bytesIn", m.Source.Bytes, "bytesOut", out, "variants", len(m.Variants), "ms", m.ProcessingMS)
	_ = h.metrics.Emit(metrics.ServiceResize, "", values...)
}

// download reads the original, never more than the byte limit even if the object
// changed since HEAD; If-Match pins the version HEAD saw.
func (h *Handler) download(ctx context.Context, bucket, key, etag string) ([]byte, error) {
	in := &s3.GetObjectInput{Bucket: &bucket, Key: &key}
	if etag != "" {
		in.IfMatch = &etag
	}
	out, err := h.store.GetObject(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	defer out.Body.Close()
	limit := h.cfg.Limits.MaxBytes
	buf := bytes.NewBuffer(make([]byte, 0, min(max(deref(out.ContentLength), 0), limit)+bytes.MinRead))
	n, err := buf.ReadFrom(io.LimitReader(out.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if n > limit {
		return nil, &imagecore.Error{Code: imagecore.CodeTooLarge, Message: fmt.Sprintf("the file is over the limit of %d bytes", limit)}
	}
	return buf.Bytes(), nil
}

func (h *Handler) put(ctx context.Context, key, contentType string, body []byte) error {
	_, err := h.store.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &h.cfg.OutputBucket,
		Key:           &key,
		Body:          bytes.NewReader(body),
		ContentLength: ptr(int64(len(body))),
		ContentType:   &contentType,
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// readManifest returns the existing manifest, or nil when there is none.
func (h *Handler) readManifest(ctx context.Context, id string) (*manifest.Manifest, error) {
	m, err := manifest.Read(ctx, h.store, h.cfg.OutputBucket, id)
	if errors.Is(err, manifest.ErrUnreadable) {
		// An unreadable manifest is redone, not trusted.
		h.log.WarnContext(ctx, "existing manifest unreadable; redoing", "error", err)
		return nil, nil
	}
	return m, err
}

func filenameOf(meta map[string]string) string {
	raw := meta[manifest.FilenameMetaKey]
	if name, err := url.PathUnescape(raw); err == nil {
		return name
	}
	return raw
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func ptr[T any](v T) *T { return &v }
