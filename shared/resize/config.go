package resize

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/imagepipe/imagepipe/shared/delivery"
	"github.com/imagepipe/imagepipe/shared/imagecore"
)

// Config is the resize function's configuration, read once from the environment.
type Config struct {
	OutputBucket   string
	UploadPrefix   string
	Limits         imagecore.Limits
	Variants       []imagecore.Variant
	DeadlineMargin time.Duration
	// EventBus is the EventBridge bus for ImageReady and ImageFailed (EVENT_BUS_NAME);
	// empty publishes none. CDNURL (CDN_URL, settings.DeliveryEnv) is the base of
	// the variant URLs the events carry; empty gives none.
	EventBus string
	CDNURL   string
	// UploadsBucket is the only bucket whose events are processed; events naming
	// any other bucket are logged and dropped.
	UploadsBucket string
	// ImageTimeout bounds the engine's work on one image: running out of it is a
	// permanent too_complex failure, not a timeout of the whole batch.
	ImageTimeout time.Duration
	// MaxReceiveCount is the queue's redrive maxReceiveCount: a message received
	// that many times goes to the DLQ if it fails again, so its images get a
	// terminal manifest first.
	MaxReceiveCount int
}

// ConfigFromEnv reads the variables settings.ResizeEnv writes; getenv is os.Getenv on
// Lambda. Every mistake is reported, each naming its variable, so a bad deployment
// fails at start-up instead of on the first image.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var errs []error
	cfg := Config{
		OutputBucket:   strings.TrimSpace(getenv("OUTPUT_BUCKET")),
		UploadPrefix:   "uploads/",
		DeadlineMargin: 10 * time.Second,
	}
	if cfg.OutputBucket == "" {
		errs = append(errs, errors.New("OUTPUT_BUCKET is required"))
	}
	if v := strings.TrimSpace(getenv("UPLOAD_PREFIX")); v != "" {
		cfg.UploadPrefix = v
	}
	if !strings.HasSuffix(cfg.UploadPrefix, "/") {
		errs = append(errs, fmt.Errorf("UPLOAD_PREFIX: want a folder ending in '/', got %q", cfg.UploadPrefix))
	}
	cfg.EventBus = strings.TrimSpace(getenv("EVENT_BUS_NAME"))
	if cfg.CDNURL = strings.TrimSpace(getenv("CDN_URL")); cfg.CDNURL != "" {
		if err := delivery.CheckBase(cfg.CDNURL); err != nil {
			errs = append(errs, fmt.Errorf("CDN_URL: %w", err))
		}
	}
	limits, variants, err := EngineSettingsFromEnv(getenv)
	cfg.Limits, cfg.Variants = limits, variants
	errs = append(errs, err)
	if v := strings.TrimSpace(getenv("DEADLINE_MARGIN")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("DEADLINE_MARGIN: want a positive duration like 10s, got %q", v))
		}
		cfg.DeadlineMargin = d
	}
	errs = append(errs, settleFromEnv(getenv, &cfg))
	return cfg, errors.Join(errs...)
}

// settleFromEnv reads what makes every upload settle: the uploads bucket events
// must name, the per-image budget and the queue's maxReceiveCount. The last two
// are required because a wrong guess would silently give up the guarantees.
func settleFromEnv(getenv func(string) string, cfg *Config) error {
	var errs []error
	cfg.UploadsBucket = strings.TrimSpace(getenv("UPLOADS_BUCKET"))
	if cfg.UploadsBucket == "" {
		errs = append(errs, errors.New("UPLOADS_BUCKET is required: events from any other bucket are ignored"))
	}
	cfg.ImageTimeout = 10 * time.Second
	if v := strings.TrimSpace(getenv("IMAGE_TIMEOUT")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("IMAGE_TIMEOUT: want a positive duration like 10s, got %q", v))
		} else {
			cfg.ImageTimeout = d
		}
	}
	v := strings.TrimSpace(getenv("MAX_RECEIVE_COUNT"))
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		errs = append(errs, fmt.Errorf("MAX_RECEIVE_COUNT: want the queue's maxReceiveCount, a whole number of at least 1, got %q", v))
	}
	cfg.MaxReceiveCount = n
	return errors.Join(errs...)
}

// EngineSettingsFromEnv reads what the image engine needs (MAX_UPLOAD_BYTES,
// MAX_PIXELS, MAX_SIDE, VARIANTS), so tools that run the engine on local files use
// exactly the function's configuration.
func EngineSettingsFromEnv(getenv func(string) string) (imagecore.Limits, []imagecore.Variant, error) {
	var errs []error
	limits, variants := imagecore.DefaultLimits(), imagecore.DefaultVariants()
	positive := func(name string, set func(int64)) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("%s: want a positive whole number, got %q", name, v))
			return
		}
		set(n)
	}
	positive("MAX_UPLOAD_BYTES", func(n int64) { limits.MaxBytes = n })
	positive("MAX_PIXELS", func(n int64) { limits.MaxPixels = n })
	positive("MAX_SIDE", func(n int64) { limits.MaxSide = int(min(n, 1<<30)) })
	if v := strings.TrimSpace(getenv("VARIANTS")); v != "" {
		var vs []imagecore.Variant
		dec := json.NewDecoder(strings.NewReader(v))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&vs); err != nil {
			errs = append(errs, fmt.Errorf("VARIANTS: want a JSON list like [{\"name\":\"thumb\",\"width\":200,\"height\":200,\"fit\":\"cover\"}]: %w", err))
		} else if err := imagecore.ValidateVariants(vs); err != nil {
			errs = append(errs, fmt.Errorf("VARIANTS: %w", err))
		} else {
			variants = vs
		}
	}
	return limits, variants, errors.Join(errs...)
}
