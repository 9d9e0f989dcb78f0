// Package settings is the one description of an imagepipe deployment. The CDK app
// deploys it and the local cloud runs it, so the two cannot drift apart silently.
package settings

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/imagepipe/imagepipe/shared/imagecore"
)

// Settings holds everything a deployment can tune.
type Settings struct {
	UploadPrefix   string
	AllowedOrigins []string
	Limits         imagecore.Limits
	Variants       []imagecore.Variant
	UploadURLTTL   time.Duration
	DownloadURLTTL time.Duration
	Resize         ResizeFunction
	Queue          Queue
	// OriginalsExpireDays is how long uploaded originals are kept.
	OriginalsExpireDays int
	LogRetentionDays    int
	AlarmEmail          string
	// OldestMessageAlarm is the queue age that means processing has fallen behind.
	OldestMessageAlarm time.Duration
	// Events: the event bus, its archive and the optional webhook (events.go).
	Events Events
	// CDN serves the variants (cdn.go).
	CDN CDN
	// Access control (issue 13): who may call the API, and how much one user uploads.
	Auth  Auth
	Quota Quota
	// SLO is the service levels the SLO alarms watch (docs/slo.md).
	SLO SLO
}

// SLO states the service's objectives; infra/slo.go alarms on each.
type SLO struct {
	// APIAvailability is the fraction of API requests answered without a 5xx.
	APIAvailability float64
	// APILatencyP99 is the API's p99 latency (API Gateway's Latency metric).
	APILatencyP99 time.Duration
	// UploadToReadyP50 and UploadToReadyP99 bound the time from the upload to the
	// manifest (the UploadToReady metric); 99% of images must meet the p99.
	UploadToReadyP50, UploadToReadyP99 time.Duration
	// TerminalWithin is how soon every accepted upload has a terminal manifest
	// (ready or failed): no message may wait longer, in the queue or the DLQ.
	TerminalWithin time.Duration
}

// ResizeFunction tunes the resize function and the event source that feeds it.
type ResizeFunction struct {
	MemoryMB       int
	Timeout        time.Duration
	BatchSize      int
	BatchWindow    time.Duration
	MaxConcurrency int
	// DeadlineMargin is how long before the invocation deadline the function stops
	// starting new images and hands the rest back to the queue.
	DeadlineMargin time.Duration
	// ImageTimeout bounds the engine's work on one image; an image that needs more
	// is refused as too_complex instead of timing out its whole batch.
	ImageTimeout time.Duration
}

// Queue tunes the resize queue and its dead-letter queue.
type Queue struct {
	MaxReceiveCount int
	Retention       time.Duration
	DLQRetention    time.Duration
}

// VisibilityTimeout is six times the function timeout, as AWS recommends for SQS
// event sources, so a message is not redelivered while a retry of it still runs.
func (s Settings) VisibilityTimeout() time.Duration { return 6 * s.Resize.Timeout }

// Default returns the settings of a deployment nobody has tuned.
func Default() Settings {
	return Settings{
		UploadPrefix:   "uploads/",
		AllowedOrigins: []string{"http://127.0.0.1:8080"},
		Limits:         imagecore.DefaultLimits(),
		Variants:       imagecore.DefaultVariants(),
		UploadURLTTL:   5 * time.Minute,
		DownloadURLTTL: 10 * time.Minute,
		// Batch size 1 and no batching window: one image per invocation, invoked as
		// soon as it is received. At idle an upload is ready in its resize time plus
		// tens of milliseconds (the 2 s window used to be most of it), and photos
		// dropped together are resized side by side instead of one after another in
		// a batch; invocations are the cheap part ($0.20 per million). docs/load.md.
		Resize: ResizeFunction{
			MemoryMB:       1769, // one full vCPU: lowest latency at the same cost per image (docs/performance.md)
			Timeout:        60 * time.Second,
			BatchSize:      1,
			BatchWindow:    0,
			MaxConcurrency: 10,
			DeadlineMargin: 10 * time.Second,
			// 5 images x 10s + the 10s margin fit in the 60s timeout (see Validate).
			ImageTimeout: 10 * time.Second,
		},
		Queue: Queue{
			MaxReceiveCount: 5,
			Retention:       4 * 24 * time.Hour,
			DLQRetention:    14 * 24 * time.Hour,
		},
		OriginalsExpireDays: 30,
		LogRetentionDays:    30,
		OldestMessageAlarm:  15 * time.Minute,
		Events:              DefaultEvents(),
		CDN:                 CDN{Enabled: true},
		Auth:                defaultAuth(),
		Quota:               defaultQuota(),
		// Upload to ready on AWS: the resize time of a 12-20 MP photo (0.4-1.1 s,
		// docs/performance.md) plus S3's event delivery, with room for the slow tail.
		SLO: SLO{
			APIAvailability:  0.999,
			APILatencyP99:    time.Second,
			UploadToReadyP50: 2 * time.Second,
			UploadToReadyP99: 5 * time.Second,
			TerminalWithin:   time.Hour,
		},
	}
}

// Validate reports every mistake, each naming the setting.
func (s Settings) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	if s.UploadPrefix == "" || !strings.HasSuffix(s.UploadPrefix, "/") || strings.HasPrefix(s.UploadPrefix, "/") {
		bad("uploadPrefix", "must be a non-empty folder like %q, got %q", "uploads/", s.UploadPrefix)
	}
	if s.UploadPrefix == "variants/" {
		bad("uploadPrefix", "must not be %q, where outputs are written", s.UploadPrefix)
	}
	for _, o := range s.AllowedOrigins {
		if !(strings.HasPrefix(o, "https://") || strings.HasPrefix(o, "http://")) || strings.Count(o, "/") != 2 {
			bad("allowedOrigins", "%q is not an origin like https://example.com (scheme and host, no path)", o)
		}
	}
	if err := s.Limits.Validate(); err != nil {
		bad("limits", "%v", err)
	}
	if err := imagecore.ValidateVariants(s.Variants); err != nil {
		bad("variants", "%v", err)
	}
	if s.UploadURLTTL < 10*time.Second || s.UploadURLTTL > time.Hour {
		bad("uploadUrlTtl", "must be between 10s and 1h, got %s", s.UploadURLTTL)
	}
	if s.DownloadURLTTL < 10*time.Second || s.DownloadURLTTL > 7*24*time.Hour {
		bad("downloadUrlTtl", "must be between 10s and 7 days, got %s", s.DownloadURLTTL)
	}
	r := s.Resize
	if r.MemoryMB < 128 || r.MemoryMB > 10240 {
		bad("resizeMemoryMb", "must be between 128 and 10240, got %d", r.MemoryMB)
	}
	if r.Timeout < 3*time.Second || r.Timeout > 15*time.Minute {
		bad("resizeTimeout", "must be between 3s and 15m, got %s", r.Timeout)
	}
	if r.BatchSize < 1 || r.BatchSize > 10000 {
		bad("resizeBatchSize", "must be between 1 and 10000, got %d", r.BatchSize)
	}
	if r.BatchWindow < 0 || r.BatchWindow > 5*time.Minute {
		bad("resizeBatchWindow", "must be between 0 and 5m, got %s", r.BatchWindow)
	}
	if r.BatchSize > 10 && r.BatchWindow == 0 {
		bad("resizeBatchWindow", "must be set when the batch size is over 10 (an SQS event source rule)")
	}
	if r.MaxConcurrency < 2 || r.MaxConcurrency > 1000 {
		bad("resizeMaxConcurrency", "must be between 2 and 1000 (an SQS event source rule), got %d", r.MaxConcurrency)
	}
	if r.DeadlineMargin <= 0 || r.DeadlineMargin >= r.Timeout {
		bad("resizeDeadlineMargin", "must be positive and less than the timeout %s, got %s", r.Timeout, r.DeadlineMargin)
	}
	// Per-image deadline: a full batch of images that each use their whole budget
	// must still fit before the margin, or the last messages of a batch would be
	// handed back untried (they still count a receive) instead of attempted.
	if r.ImageTimeout < 100*time.Millisecond {
		bad("resizeImageTimeout", "must be at least 100ms, got %s", r.ImageTimeout)
	} else if r.BatchSize >= 1 && r.DeadlineMargin > 0 &&
		time.Duration(r.BatchSize)*r.ImageTimeout+r.DeadlineMargin > r.Timeout {
		bad("resizeImageTimeout", "resizeBatchSize (%d) x resizeImageTimeout (%s) + resizeDeadlineMargin (%s) must fit in resizeTimeout (%s), so every message of a batch is attempted; lower resizeImageTimeout or resizeBatchSize, or raise resizeTimeout",
			r.BatchSize, r.ImageTimeout, r.DeadlineMargin, r.Timeout)
	}
	q := s.Queue
	if q.MaxReceiveCount < 1 || q.MaxReceiveCount > 1000 {
		bad("maxReceiveCount", "must be between 1 and 1000, got %d", q.MaxReceiveCount)
	}
	if q.Retention < time.Minute || q.Retention > 14*24*time.Hour {
		bad("queueRetention", "must be between 1m and 14 days, got %s", q.Retention)
	}
	if q.DLQRetention <= q.Retention || q.DLQRetention > 14*24*time.Hour {
		bad("dlqRetention", "must be longer than queueRetention (%s) and at most 14 days, got %s", q.Retention, q.DLQRetention)
	}
	if s.VisibilityTimeout() > 12*time.Hour {
		bad("resizeTimeout", "six times it (the queue visibility timeout) must be at most 12h")
	}
	if s.OriginalsExpireDays < 1 {
		bad("originalsExpireDays", "must be at least 1, got %d", s.OriginalsExpireDays)
	}
	if s.LogRetentionDays < 1 {
		bad("logRetentionDays", "must be at least 1, got %d", s.LogRetentionDays)
	}
	if s.AlarmEmail != "" && (!strings.Contains(s.AlarmEmail, "@") || strings.ContainsAny(s.AlarmEmail, " ,;")) {
		bad("alarmEmail", "%q is not one e-mail address", s.AlarmEmail)
	}
	if s.OldestMessageAlarm < time.Minute {
		bad("oldestMessageAlarm", "must be at least 1m, got %s", s.OldestMessageAlarm)
	}
	s.Events.validate(bad)
	// Service levels (issue 16).
	o := s.SLO
	if !(o.APIAvailability >= 0.9 && o.APIAvailability < 1) {
		bad("sloApiAvailability", "must be at least 0.9 and below 1 (an objective of 100%% leaves no error budget), got %v", o.APIAvailability)
	}
	if o.APILatencyP99 < 50*time.Millisecond || o.APILatencyP99 > 30*time.Second {
		bad("sloApiLatencyP99", "must be between 50ms and 30s (the HTTP API's timeout), got %s", o.APILatencyP99)
	}
	if o.UploadToReadyP50 < 100*time.Millisecond || o.UploadToReadyP50 > o.UploadToReadyP99 {
		bad("sloUploadToReadyP50", "must be at least 100ms and at most sloUploadToReadyP99 (%s), got %s", o.UploadToReadyP99, o.UploadToReadyP50)
	}
	if o.UploadToReadyP99 < 100*time.Millisecond || o.UploadToReadyP99 > s.Resize.Timeout*time.Duration(max(s.Queue.MaxReceiveCount, 1)) {
		bad("sloUploadToReadyP99", "must be at least 100ms and at most resizeTimeout x maxReceiveCount, got %s", o.UploadToReadyP99)
	}
	if o.TerminalWithin < time.Minute || o.TerminalWithin >= s.Queue.Retention {
		bad("sloTerminalWithin", "must be at least 1m and shorter than queueRetention (%s), got %s", s.Queue.Retention, o.TerminalWithin)
	}
	s.CDN.validate(bad)
	s.validateAuth(bad)
	return errors.Join(errs...)
}

// ResizeEnv is the environment of the resize function, read by resize.ConfigFromEnv.
func (s Settings) ResizeEnv(uploadsBucket, outputBucket string) map[string]string {
	variants, _ := json.Marshal(s.Variants) // plain structs: cannot fail
	env := map[string]string{
		"OUTPUT_BUCKET":    outputBucket,
		"UPLOAD_PREFIX":    s.UploadPrefix,
		"MAX_UPLOAD_BYTES": strconv.FormatInt(s.Limits.MaxBytes, 10),
		"MAX_PIXELS":       strconv.FormatInt(s.Limits.MaxPixels, 10),
		"MAX_SIDE":         strconv.Itoa(s.Limits.MaxSide),
		"VARIANTS":         string(variants),
		"DEADLINE_MARGIN":  s.Resize.DeadlineMargin.String(),
	}
	// Settling: the bucket events must name, the per-image budget, and the receive
	// count at which a failure is final.
	env["UPLOADS_BUCKET"] = uploadsBucket
	env["IMAGE_TIMEOUT"] = s.Resize.ImageTimeout.String()
	env["MAX_RECEIVE_COUNT"] = strconv.Itoa(s.Queue.MaxReceiveCount)
	return env
}

// APIEnv is the environment of the API function, read by api.ConfigFromEnv.
func (s Settings) APIEnv(uploadsBucket, outputBucket string) map[string]string {
	env := map[string]string{
		"UPLOADS_BUCKET":   uploadsBucket,
		"OUTPUT_BUCKET":    outputBucket,
		"UPLOAD_PREFIX":    s.UploadPrefix,
		"MAX_UPLOAD_BYTES": strconv.FormatInt(s.Limits.MaxBytes, 10),
		"UPLOAD_URL_TTL":   s.UploadURLTTL.String(),
		"DOWNLOAD_URL_TTL": s.DownloadURLTTL.String(),
		"ALLOWED_ORIGINS":  strings.Join(s.AllowedOrigins, ","),
	}
	for k, v := range s.authEnv() {
		env[k] = v
	}
	return env
}
