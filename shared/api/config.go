package api

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/imagepipe/imagepipe/shared/delivery"
	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// Config is the API function's configuration, read once from the environment.
type Config struct {
	// EventBus is the EventBridge bus ImageDeleted goes to (EVENT_BUS_NAME).
	EventBus string

	UploadsBucket  string
	OutputBucket   string
	UploadPrefix   string
	MaxUploadBytes int64
	UploadURLTTL   time.Duration
	DownloadURLTTL time.Duration
	AllowedOrigins []string
	// CDNURL is the base of the variants' lasting URLs (settings.DeliveryEnv);
	// empty means no CDN, and variants get presigned URLs that expire.
	CDNURL string
	// CDNDistributionID names the distribution to invalidate when images go away.
	CDNDistributionID string
	// AuthMode is settings.AuthCognito, AuthJWT or AuthNone; UploadScope the scope
	// an access token needs to upload.
	AuthMode    string
	UploadScope string
	// QuotaUploadsPerDay and QuotaBytesPerDay bound one caller's uploads in any 24 hours.
	QuotaUploadsPerDay int
	QuotaBytesPerDay   int64
}

// ConfigFromEnv reads the variables settings.APIEnv writes; getenv is os.Getenv on Lambda.
// Every mistake is reported, each naming its variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var errs []error
	str := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		if def == "" {
			errs = append(errs, fmt.Errorf("%s is required", name))
		}
		return def
	}
	dur := func(name string, def time.Duration) time.Duration {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s: want a positive duration like 5m, got %q", name, v))
		}
		return d
	}
	cfg := Config{
		UploadsBucket:  str("UPLOADS_BUCKET", ""),
		OutputBucket:   str("OUTPUT_BUCKET", ""),
		UploadPrefix:   str("UPLOAD_PREFIX", "uploads/"),
		MaxUploadBytes: imagecore.DefaultLimits().MaxBytes,
		UploadURLTTL:   dur("UPLOAD_URL_TTL", 5*time.Minute),
		DownloadURLTTL: dur("DOWNLOAD_URL_TTL", 10*time.Minute),
	}
	if v := strings.TrimSpace(getenv("MAX_UPLOAD_BYTES")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("MAX_UPLOAD_BYTES: want a positive number of bytes, got %q", v))
		}
		cfg.MaxUploadBytes = n
	}
	for _, o := range strings.Split(getenv("ALLOWED_ORIGINS"), ",") {
		if o = strings.TrimSpace(o); o != "" {
			cfg.AllowedOrigins = append(cfg.AllowedOrigins, o)
		}
	}
	// The event bus for ImageDeleted (imageevents.DeletionEvents); empty: none.
	cfg.EventBus = strings.TrimSpace(getenv("EVENT_BUS_NAME"))
	// The CDN (settings.DeliveryEnv).
	cfg.CDNURL = strings.TrimSpace(getenv("CDN_URL"))
	cfg.CDNDistributionID = strings.TrimSpace(getenv("CDN_DISTRIBUTION_ID"))
	if cfg.CDNURL != "" {
		if err := delivery.CheckBase(cfg.CDNURL); err != nil {
			errs = append(errs, fmt.Errorf("CDN_URL: %w", err))
		}
	}
	def := settings.Default()
	cfg.AuthMode = str("AUTH_MODE", def.Auth.Mode)
	if cfg.AuthMode != "" && !slices.Contains(settings.AuthModes, cfg.AuthMode) {
		errs = append(errs, fmt.Errorf("AUTH_MODE: want one of %s, got %q", strings.Join(settings.AuthModes, ", "), cfg.AuthMode))
	}
	cfg.UploadScope = str("UPLOAD_SCOPE", def.Auth.UploadScope)
	num := func(name string, def int64) int64 {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return def
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("%s: want a positive whole number, got %q", name, v))
		}
		return n
	}
	cfg.QuotaUploadsPerDay = int(min(num("QUOTA_UPLOADS_PER_DAY", int64(def.Quota.UploadsPerDay)), settings.MaxQuotaUploadsPerDay))
	cfg.QuotaBytesPerDay = num("QUOTA_BYTES_PER_DAY", def.Quota.BytesPerDay)
	if !strings.HasSuffix(cfg.UploadPrefix, "/") {
		errs = append(errs, fmt.Errorf("UPLOAD_PREFIX: want a folder ending in '/', got %q", cfg.UploadPrefix))
	}
	return cfg, errors.Join(errs...)
}
