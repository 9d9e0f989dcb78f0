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
	"golang.org/x/sync/errgroup"

	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/imageevents"
	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/metrics"
	"github.com/imagepipe/imagepipe/shared/ownership"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// ObjectStore is the part of *s3.Client the resize function uses.
type ObjectStore interface {
	HeadObject(ctx context.Context, params *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, params *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	// DeleteObject and ListObjectsV2 remove what was made for an image deleted
	// while it was being processed (ownership.Deleter.PurgeOutputs).
	DeleteObject(ctx context.Context, params *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	ListObjectsV2(ctx context.Context, params *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// Processor turns an original into its variants; *imagecore.Engine is the real one.
type Processor interface {
	Process(ctx context.Context, data []byte) (*imagecore.Result, error)
}

// preparer is a Processor with one-off per-process work (compiling codecs) to
// do before an image's time budget starts; *imagecore.Engine is one.
type preparer interface {
	Prepare(data []byte)
}

// warmer is a Processor that can compile all its codecs up front;
// *imagecore.Engine is one.
type warmer interface {
	Warm() error
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
	// settingsHash is what this configuration records in manifests.
	settingsHash string
	// deletions checks tombstones, so a delete racing this function leaves nothing.
	deletions *ownership.Deleter
	// events hears of every committed manifest (nil: no bus configured); urls
	// gives the variants' public URLs in the events.
	events imageevents.Publisher
	urls   imageevents.URLs
}

// WithEvents makes the handler publish ImageReady or ImageFailed once a manifest is
// committed, and again whenever a delivery finds the manifest already there, so a
// failed publish is retried with the message. url maps an output key to its public
// URLs (imageevents.CDNURLs; none without a CDN). It returns h.
func (h *Handler) WithEvents(p imageevents.Publisher, url imageevents.URLs) *Handler {
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
	if cfg.OutputBucket == "" || cfg.UploadPrefix == "" || cfg.UploadsBucket == "" {
		return nil, errors.New("resize: uploads bucket, output bucket and upload prefix are required")
	}
	if cfg.ImageTimeout <= 0 {
		return nil, errors.New("resize: the per-image timeout must be positive")
	}
	return &Handler{cfg: cfg, store: store, engine: engine, log: log, metrics: emitter, now: time.Now,
		settingsHash: settings.OutputHash(cfg.Limits, cfg.Variants, cfg.ImageTimeout),
		deletions:    &ownership.Deleter{Store: store, OutputBucket: cfg.OutputBucket, UploadPrefix: cfg.UploadPrefix}}, nil
}

// Warm compiles the engine's WASM codecs (a few seconds of CPU, once per
// function instance). The function's start calls it before the first
// invocation (on Lambda, in the init phase), so that the first upload is not
// seconds slower than the rest. An error names a codec that cannot be compiled;
// the handler still works, and the images that need that codec fail as they
// would without Warm.
func (h *Handler) Warm() error {
	w, ok := h.engine.(warmer)
	if !ok {
		return nil
	}
	start := h.now()
	if err := w.Warm(); err != nil {
		return fmt.Errorf("resize: warm codecs: %w", err)
	}
	h.log.Info("codecs compiled", "ms", h.now().Sub(start).Milliseconds())
	return nil
}

// Handle processes a batch and reports the messages to retry. Images are processed
// one after another: each is CPU- and memory-heavy, and a function instance has one
// image's worth of memory to spare.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	// Work on an image is cut off half a margin before the invocation deadline, so
	// the answer always arrives in time even when S3 stalls: an invocation that
	// times out fails its whole batch, redoing finished images and pushing healthy
	// messages toward maxReceiveCount and the DLQ. Terminal manifests of messages
	// on their last receive are written in the quarter margin after that.
	work, final := ctx, ctx
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		work, cancel = context.WithDeadline(ctx, deadline.Add(-h.cfg.DeadlineMargin/2))
		defer cancel()
		final, cancel = context.WithDeadline(ctx, deadline.Add(-h.cfg.DeadlineMargin/4))
		defer cancel()
	}
	var resp events.SQSEventResponse
	for i, msg := range ev.Records {
		if h.deadlineNear(ctx) {
			for _, rest := range ev.Records[i:] {
				// A hand-back still counts a receive: on the last one it would reach
				// the DLQ untried, so its images get their terminal manifest now.
				if h.lastReceive(rest) {
					h.giveUpMessage(final, rest, errNotStarted)
				}
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rest.MessageId})
			}
			h.log.WarnContext(ctx, "deadline near: handing messages back", "messages", len(ev.Records)-i)
			break
		}
		if err := h.handleMessageSafely(work, final, msg); err != nil {
			h.log.ErrorContext(ctx, "message will be retried", "messageId", msg.MessageId,
				"receiveCount", msg.Attributes["ApproximateReceiveCount"], "lastReceive", h.lastReceive(msg), "error", err)
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

// handleMessageSafely confines a panic to its own message: it is retried and, if
// it keeps panicking, waits in the DLQ, while the rest of the batch goes on instead
// of failing with the whole invocation. (Panics while processing an image are
// caught closer, per image, so that image can get its terminal manifest.)
func (h *Handler) handleMessageSafely(ctx, final context.Context, msg events.SQSMessage) (err error) {
	defer func() {
		if p := recover(); p != nil {
			h.log.ErrorContext(ctx, "panic while processing", "messageId", msg.MessageId, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("message %s: panic: %v", msg.MessageId, p)
		}
	}()
	return h.handleMessage(ctx, final, msg)
}

// testEvent is what S3 sends once when a notification is configured.
type testEvent struct {
	Event string `json:"Event"`
}

// upload is one image an event names.
type upload struct{ bucket, key, id string }

// uploads returns the images a message's records name, skipping (with a log line)
// what is deliberately ignored; an error means the body is not an S3 event.
func (h *Handler) uploads(ctx context.Context, msg events.SQSMessage) ([]upload, error) {
	records, err := ParseBody(msg.Body)
	if errors.Is(err, ErrTestEvent) {
		h.log.InfoContext(ctx, "s3 test event ignored", "messageId", msg.MessageId)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("message %s: %w", msg.MessageId, err)
	}
	var out []upload
	for _, rec := range records {
		if !strings.HasPrefix(rec.EventName, "ObjectCreated:") {
			h.log.InfoContext(ctx, "event ignored", "event", rec.EventName, "key", rec.S3.Object.URLDecodedKey)
			continue
		}
		key := rec.S3.Object.URLDecodedKey
		if rec.S3.Bucket.Name != h.cfg.UploadsBucket {
			// Only the configured bucket's uploads are ours; anything else on the
			// queue was sent by someone else and is never read.
			h.log.WarnContext(ctx, "event from another bucket ignored", "bucket", rec.S3.Bucket.Name, "key", key, "uploadsBucket", h.cfg.UploadsBucket)
			continue
		}
		id, ok := manifest.IDForUploadKey(h.cfg.UploadPrefix, key)
		if !ok {
			h.log.InfoContext(ctx, "key outside the uploads prefix ignored", "bucket", rec.S3.Bucket.Name, "key", key, "prefix", h.cfg.UploadPrefix)
			continue
		}
		out = append(out, upload{bucket: rec.S3.Bucket.Name, key: key, id: id})
	}
	return out, nil
}

// handleMessage returns nil when the message is done with (processed, recorded as
// failed, or deliberately ignored) and an error when it must be retried. On the
// last receive each image gets a terminal manifest before its work starts (so a
// worker that dies still leaves one) and again, with the error, if the work fails.
func (h *Handler) handleMessage(ctx, final context.Context, msg events.SQSMessage) error {
	ups, err := h.uploads(ctx, msg)
	if err != nil {
		return err
	}
	last := h.lastReceive(msg)
	var errs []error
	for _, up := range ups {
		if last {
			h.markLastAttempt(ctx, up)
		}
		if err := h.processObjectSafely(ctx, up); err != nil {
			if last {
				h.giveUp(final, up, err)
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// processObjectSafely turns a panic on one image (a decoder bug on a hostile file,
// say) into a retryable error for that image.
func (h *Handler) processObjectSafely(ctx context.Context, up upload) (err error) {
	defer func() {
		if p := recover(); p != nil {
			h.log.ErrorContext(ctx, "panic while processing", "id", up.id, "key", up.key, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("image %s: panic: %v", up.id, p)
		}
	}()
	return h.processObject(ctx, up.bucket, up.key, up.id)
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
	j := &job{id: id, start: h.now(), log: h.log.With("id", id, "bucket", bucket, "key", key)}
	j.src = manifest.Source{Bucket: bucket, Key: key}

	if gone, terr := h.deletions.Tombstoned(ctx, id); terr != nil || gone {
		// Deleted (a redelivery after a delete, say): make nothing, and remove what
		// an earlier attempt may have left.
		if terr != nil {
			return terr
		}
		// The original may still arrive after the delete, through a presigned URL
		// that had not expired: it goes too.
		j.log.InfoContext(ctx, "image was deleted; removing its original and anything made for it")
		if _, err := h.store.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: &key}); err != nil {
			return fmt.Errorf("image %s: delete original of a deleted image: %w", id, err)
		}
		return h.deletions.PurgeOutputs(ctx, id, "")
	}
	head, err := h.store.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err == nil {
		j.owner = ownership.DecodeOwner(head.Metadata)
		j.src.ETag = deref(head.ETag)
		j.src.Bytes = deref(head.ContentLength)
		j.src.UploadedAt = deref(head.LastModified)
		j.src.Filename = filenameOf(head.Metadata, key)
	}
	var mErr error
	if j.prev, mErr = h.readManifest(ctx, id); mErr != nil {
		return mErr
	}
	if existing := j.prev.m; existing != nil {
		// A duplicate delivery of finished work, or the original is gone after it
		// was done: keep the result that exists rather than redo or overwrite it.
		// A provisional or given-up manifest (processing_failed) settles nothing.
		gone := manifest.IsNotFound(err) && !givenUp(existing)
		if gone || h.settledFor(existing, j.src) {
			j.log.InfoContext(ctx, "already processed", "status", existing.Status,
				"engineVersion", existing.EngineVersion, "settingsHash", existing.SettingsHash)
			// The event may be what failed last time: publish it again (duplicates
			// are identical, and consumers dedupe on id and status).
			return h.announce(ctx, j.log, *existing)
		}
	}
	if err != nil {
		return h.settle(ctx, j, fmt.Errorf("head %s: %w", key, err), nil)
	}
	if j.src.Bytes > h.cfg.Limits.MaxBytes {
		return h.settle(ctx, j, &imagecore.Error{Code: imagecore.CodeTooLarge,
			Message: fmt.Sprintf("the file is %d bytes; the limit is %d", j.src.Bytes, h.cfg.Limits.MaxBytes)}, nil)
	}
	data, err := h.download(ctx, bucket, key, j.src.ETag)
	if err != nil {
		return h.settle(ctx, j, err, nil)
	}
	result, err := h.process(ctx, data)
	if err != nil {
		return h.settle(ctx, j, fmt.Errorf("process %s: %w", key, err), nil)
	}
	j.src.Format, j.src.Width, j.src.Height = result.Source.Format, result.Source.Width, result.Source.Height

	var variants []manifest.Variant
	var files []outputFile
	for _, out := range result.Outputs {
		// Every encoding of a variant shares one tagged name and differs only in
		// its extension, so the CDN can choose among them from the URL alone.
		tag := manifest.VariantTag(h.variant(out.Name), j.src.ETag)
		vkey := manifest.VariantKey(id, out.Name, tag, out.Format.Ext())
		files = append(files, outputFile{key: vkey, contentType: out.Format.ContentType(), body: out.Data})
		mv := manifest.Variant{Name: out.Name, Format: string(out.Format),
			Width: out.Width, Height: out.Height, Bytes: int64(len(out.Data)), Key: vkey}
		// Alternates (WebP, AVIF) sit beside the primary, keyed by their extension.
		for _, alt := range out.Alternates {
			akey := manifest.VariantKey(id, out.Name, tag, alt.Format.Ext())
			files = append(files, outputFile{key: akey, contentType: alt.Format.ContentType(), body: alt.Data})
			mv.Alternates = append(mv.Alternates, manifest.Alternate{Format: string(alt.Format), Key: akey, Bytes: int64(len(alt.Data))})
		}
		variants = append(variants, mv)
	}
	if err := h.putAll(ctx, files); err != nil {
		return h.settle(ctx, j, err, nil)
	}
	// Engine notes (an unusable colour profile, say) go to the log and the manifest.
	for _, n := range result.Notes {
		j.log.WarnContext(ctx, "image note", "note", n)
	}
	j.notes = result.Notes
	return h.settle(ctx, j, nil, variants)
}

// process runs the engine under the per-image deadline. Running out of that budget
// while the invocation still has time is the image's fault (too much work for its
// bytes), so it is a permanent too_complex refusal; running out of the
// invocation's time is not, and is retried.
func (h *Handler) process(ctx context.Context, data []byte) (*imagecore.Result, error) {
	// A process compiles its WASM codecs on first use; that one-off cost must not
	// count against this image's budget.
	if p, ok := h.engine.(preparer); ok {
		p.Prepare(data)
	}
	pctx, cancel := context.WithTimeout(ctx, h.cfg.ImageTimeout)
	defer cancel()
	result, err := h.engine.Process(pctx, data)
	if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return nil, &imagecore.Error{Code: imagecore.CodeTooComplex, Err: err, Message: fmt.Sprintf(
			"the image needs more work than the %s allowed for one image, though its size is within the limits "+
				"(for example a JPEG with an unusual number of scans); it was not processed", h.cfg.ImageTimeout)}
	}
	return result, err
}

// job is the state of one image while it is processed.
type job struct {
	id    string
	start time.Time
	log   *slog.Logger
	src   manifest.Source
	// prev is the manifest as last read, which a write must replace exactly.
	prev stored
	// notes are the engine's notes for the manifest.
	notes []string
	// owner is the subject the API signed into the upload (x-amz-meta-owner).
	owner string
}

// settle is the edge where an outcome is decided once: write the manifest for a
// finished or permanently failed image, or return the error so the message is retried.
func (h *Handler) settle(ctx context.Context, j *job, err error, variants []manifest.Variant) error {
	kind, code, message := classify(err)
	if kind == retry {
		return fmt.Errorf("image %s: %w", j.id, err)
	}
	m := h.newManifest(j, manifest.StatusReady, nil)
	m.Variants = variants
	if kind == permanent {
		m = h.newManifest(j, manifest.StatusFailed, &manifest.Error{Code: code, Message: message})
	}
	written, err := h.commit(ctx, j, m)
	if err != nil {
		return err
	}
	if written {
		h.report(ctx, j.log, m)
	}
	// The event tells what the bucket now holds: this outcome, or the one kept.
	committed := m
	if !written && j.prev.m != nil {
		committed = *j.prev.m
	}
	return h.announce(ctx, j.log, committed)
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

// newManifest is the manifest of j with what made it: the engine and settings.
func (h *Handler) newManifest(j *job, status manifest.Status, e *manifest.Error) manifest.Manifest {
	m := manifest.Manifest{Version: manifest.Version, ID: j.id, Status: status, Source: j.src, Variants: []manifest.Variant{},
		Error: e, EngineVersion: imagecore.EngineVersion, SettingsHash: h.settingsHash, Notes: j.notes}
	// The owner is the subject the API signed into the upload, never the
	// client's word; when the original could not be read, the one recorded before.
	m.Owner = j.owner
	if m.Owner == "" && j.prev.m != nil {
		m.Owner = j.prev.m.Owner
	}
	m.CompletedAt = h.now().UTC()
	m.ProcessingMS = m.CompletedAt.Sub(j.start).Milliseconds()
	return m
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

// variant is the configured variant an output was made from; a processor that
// is not the configured engine (tests) may name others, tagged by name alone.
func (h *Handler) variant(name string) imagecore.Variant {
	for _, v := range h.cfg.Variants {
		if v.Name == name {
			return v
		}
	}
	return imagecore.Variant{Name: name}
}

// outputFile is one encoding to store under variants/.
type outputFile struct {
	key, contentType string
	body             []byte
}

// putConcurrency bounds the variant PUTs in flight for one image. Written one
// after another, an image's seven files (four variants, three AVIF) cost
// seven S3 round trips, 20-50 ms each on AWS; side by side about one.
const putConcurrency = 8

// putAll stores every file, side by side; the first failure stops the rest and
// is returned. The manifest is written only after all of them (its presence
// means every listed encoding exists).
func (h *Handler) putAll(ctx context.Context, files []outputFile) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(putConcurrency)
	for _, f := range files {
		g.Go(func() error {
			return h.put(gctx, f.key, f.contentType, manifest.VariantCacheControl, f.body)
		})
	}
	return g.Wait()
}

func (h *Handler) put(ctx context.Context, key, contentType, cacheControl string, body []byte) error {
	_, err := h.store.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &h.cfg.OutputBucket,
		Key:           &key,
		Body:          bytes.NewReader(body),
		ContentLength: ptr(int64(len(body))),
		ContentType:   &contentType,
		CacheControl:  &cacheControl,
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// readManifest returns the existing manifest and its ETag. An unreadable one is
// redone (its ETag is kept so the rewrite replaces exactly it); a failed read is
// an error, retried, never taken for "no manifest".
func (h *Handler) readManifest(ctx context.Context, id string) (stored, error) {
	m, etag, err := manifest.ReadVersion(ctx, h.store, h.cfg.OutputBucket, id)
	if errors.Is(err, manifest.ErrUnreadable) {
		h.log.WarnContext(ctx, "existing manifest unreadable; redoing", "id", id, "error", err)
		return stored{etag: etag}, nil
	}
	if err != nil {
		return stored{}, fmt.Errorf("image %s: read manifest: %w", id, err)
	}
	return stored{m: m, etag: etag}, nil
}

// filenameOf is the client's file name from the upload's metadata, or, for an
// upload made without the API (the AWS CLI, the console), the key's base name.
func filenameOf(meta map[string]string, key string) string {
	raw := meta[manifest.FilenameMetaKey]
	if raw == "" {
		return manifest.KeyBaseName(key)
	}
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
