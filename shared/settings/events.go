package settings

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Events tunes the EventBridge bus the stack creates for ImageReady, ImageFailed
// and ImageDeleted, and the optional webhook (an API destination) it feeds.
type Events struct {
	// ArchiveRetention is how long the bus's archive keeps events for replay
	// (whole days; 0 keeps them forever).
	ArchiveRetention time.Duration
	// WebhookURL, when set, gets every event (POST, the whole event as JSON).
	WebhookURL string
	// WebhookHeaderName carries the API key on each webhook request.
	WebhookHeaderName string
	// WebhookSecretArn names a Secrets Manager secret whose value is the API key;
	// empty makes the stack generate one in a secret of its own. The key itself is
	// never a setting.
	WebhookSecretArn string
	// WebhookRateLimit is the most webhook requests a second (API destination).
	WebhookRateLimit int
	// WebhookRetryAttempts and WebhookMaxEventAge bound EventBridge's retries of
	// a failing webhook before the event goes to the events DLQ.
	WebhookRetryAttempts int
	WebhookMaxEventAge   time.Duration
}

// DefaultEvents: no webhook; a two-week archive; EventBridge's longest retries.
func DefaultEvents() Events {
	return Events{
		ArchiveRetention:     14 * 24 * time.Hour,
		WebhookHeaderName:    "x-api-key",
		WebhookRateLimit:     10,
		WebhookRetryAttempts: 185,
		WebhookMaxEventAge:   24 * time.Hour,
	}
}

var (
	headerNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)
	secretArnPattern  = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$`)
)

// validate reports the mistakes in e through bad.
func (e Events) validate(bad func(key, format string, args ...any)) {
	if e.ArchiveRetention < 0 || e.ArchiveRetention%(24*time.Hour) != 0 || e.ArchiveRetention > 3650*24*time.Hour {
		bad("eventArchiveRetention", "must be whole days up to 3650d, or 0 to keep events forever, got %s", e.ArchiveRetention)
	}
	if e.WebhookURL != "" {
		if err := checkWebhookURL(e.WebhookURL, false); err != nil {
			bad("webhookUrl", "%v", err)
		}
	}
	if !headerNamePattern.MatchString(e.WebhookHeaderName) {
		bad("webhookHeaderName", "must be an HTTP header name like x-api-key, got %q", e.WebhookHeaderName)
	}
	if e.WebhookSecretArn != "" && !secretArnPattern.MatchString(e.WebhookSecretArn) {
		bad("webhookSecretArn", "must be a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME), got %q", e.WebhookSecretArn)
	}
	if e.WebhookRateLimit < 1 || e.WebhookRateLimit > 300 {
		bad("webhookRateLimitPerSecond", "must be between 1 and 300, got %d", e.WebhookRateLimit)
	}
	if e.WebhookRetryAttempts < 0 || e.WebhookRetryAttempts > 185 {
		bad("webhookRetryAttempts", "must be between 0 and 185 (EventBridge's limit), got %d", e.WebhookRetryAttempts)
	}
	if e.WebhookMaxEventAge < time.Minute || e.WebhookMaxEventAge > 24*time.Hour || e.WebhookMaxEventAge%time.Second != 0 {
		bad("webhookMaxEventAge", "must be whole seconds between 1m and 24h (EventBridge's limits), got %s", e.WebhookMaxEventAge)
	}
}

// checkWebhookURL accepts an absolute https URL; http too, but only to this
// machine (the local cloud), unless httpsOnly (an API destination on AWS).
func checkWebhookURL(raw string, httpsOnly bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%q is not an absolute URL like https://app.example.com/hooks/imagepipe", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		ip := net.ParseIP(host)
		if httpsOnly || !(strings.EqualFold(host, "localhost") || ip != nil && ip.IsLoopback()) {
			return fmt.Errorf("%q: an API destination needs https (http only to 127.0.0.1, for the local cloud)", raw)
		}
		return nil
	}
	return fmt.Errorf("%q: want an https URL", raw)
}

// eventsFromContext reads the Events keys (see FromContext).
func eventsFromContext(s *Settings, str func(string, *string), integer func(string, *int), dur func(string, *time.Duration)) {
	dur("eventArchiveRetention", &s.Events.ArchiveRetention)
	str("webhookUrl", &s.Events.WebhookURL)
	str("webhookHeaderName", &s.Events.WebhookHeaderName)
	str("webhookSecretArn", &s.Events.WebhookSecretArn)
	integer("webhookRateLimitPerSecond", &s.Events.WebhookRateLimit)
	integer("webhookRetryAttempts", &s.Events.WebhookRetryAttempts)
	dur("webhookMaxEventAge", &s.Events.WebhookMaxEventAge)
}

// deployedEventsErrors are what only AWS refuses: an API destination is https.
func deployedEventsErrors(s Settings) error {
	if s.Events.WebhookURL == "" || checkWebhookURL(s.Events.WebhookURL, false) != nil {
		return nil // none, or Validate has said what is wrong with it
	}
	if err := checkWebhookURL(s.Events.WebhookURL, true); err != nil {
		return fmt.Errorf("webhookUrl: %w", err)
	}
	return nil
}
