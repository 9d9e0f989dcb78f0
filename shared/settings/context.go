package settings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/imagepipe/imagepipe/shared/imagecore"
)

// ContextKeys are the configuration keys a deployment may set, in CDK context
// (cdk.json or `cdk synth -c key=value`). The names match those Validate reports.
var ContextKeys = append([]string{
	"uploadPrefix", "allowedOrigins", "variants",
	"limits", "maxUploadBytes", "maxPixels", "maxSide",
	"uploadUrlTtl", "downloadUrlTtl",
	"resizeMemoryMb", "resizeTimeout", "resizeBatchSize", "resizeBatchWindow",
	"resizeMaxConcurrency", "resizeDeadlineMargin",
	"resizeImageTimeout",
	"maxReceiveCount", "queueRetention", "dlqRetention",
	"originalsExpireDays", "logRetentionDays", "alarmEmail", "oldestMessageAlarm",
	// events.go
	"eventArchiveRetention", "webhookUrl", "webhookHeaderName", "webhookSecretArn",
	"webhookRateLimitPerSecond", "webhookRetryAttempts", "webhookMaxEventAge",
	// Service levels (issue 16).
	"sloApiAvailability", "sloApiLatencyP99", "sloUploadToReadyP50", "sloUploadToReadyP99", "sloTerminalWithin",
	// The CDN in front of the variants (cdn.go).
	"cdn", "cdnPriceClass", "cdnDomainName", "cdnCertificateArn",
}, authContextKeys...)

// CheckContextKeys reports keys that look like settings (no "@" prefix, no ":",
// which mark the CDK's own flags) but are not ContextKeys, so a misspelt
// `-c resizeMemoryMB=2048` fails instead of being ignored.
func CheckContextKeys(keys []string) error {
	var errs []error
	for _, k := range keys {
		if strings.HasPrefix(k, "@") || strings.Contains(k, ":") || k == "acknowledged-issue-numbers" || slices.Contains(ContextKeys, k) {
			continue
		}
		hint := ""
		for _, known := range ContextKeys {
			if strings.EqualFold(known, k) {
				hint = fmt.Sprintf(" (did you mean %s?)", known)
			}
		}
		errs = append(errs, fmt.Errorf("%s: not a setting%s; the settings are %s", k, hint, strings.Join(ContextKeys, ", ")))
	}
	return errors.Join(errs...)
}

// LogRetentionDays are the retention periods CloudWatch Logs accepts; any other
// number would only fail at deployment, long after synthesis said yes.
var LogRetentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// FromContext builds Settings from Default() and the values lookup returns for
// ContextKeys (nil when a key is not set). Values come either as strings, from
// `-c key=value` on the command line, or as JSON values, from cdk.json; both forms
// are accepted for every key. Every bad value is reported, each naming its key.
func FromContext(lookup func(key string) any) (Settings, error) {
	s := Default()
	var errs []error
	failed := map[string]bool{}
	set := func(key string, parse func(v any) error) {
		v := lookup(key)
		if v == nil {
			return
		}
		if err := parse(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
			failed[key] = true
		}
	}

	// A value that does not parse leaves the default in place, so validation below
	// does not complain about a zero nobody wrote.
	str := func(key string, dst *string) { set(key, assign(dst, contextString)) }
	integer := func(key string, dst *int) { set(key, assign(dst, contextInt)) }
	dur := func(key string, dst *time.Duration) { set(key, assign(dst, contextDuration)) }

	str("uploadPrefix", &s.UploadPrefix)
	set("allowedOrigins", assign(&s.AllowedOrigins, contextStrings))
	set("variants", assign(&s.Variants, func(v any) (vs []imagecore.Variant, err error) {
		return vs, contextJSON(v, &vs)
	}))
	set("limits", assign(&s.Limits, func(v any) (l imagecore.Limits, err error) {
		l = s.Limits
		return l, contextJSON(v, &l)
	}))
	// The single keys are applied after "limits", so `-c maxSide=8000` tunes one
	// limit without restating the others.
	set("maxUploadBytes", assign(&s.Limits.MaxBytes, contextInt64))
	set("maxPixels", assign(&s.Limits.MaxPixels, contextInt64))
	integer("maxSide", &s.Limits.MaxSide)
	dur("uploadUrlTtl", &s.UploadURLTTL)
	dur("downloadUrlTtl", &s.DownloadURLTTL)
	integer("resizeMemoryMb", &s.Resize.MemoryMB)
	dur("resizeTimeout", &s.Resize.Timeout)
	integer("resizeBatchSize", &s.Resize.BatchSize)
	dur("resizeBatchWindow", &s.Resize.BatchWindow)
	integer("resizeMaxConcurrency", &s.Resize.MaxConcurrency)
	dur("resizeDeadlineMargin", &s.Resize.DeadlineMargin)
	dur("resizeImageTimeout", &s.Resize.ImageTimeout)
	integer("maxReceiveCount", &s.Queue.MaxReceiveCount)
	dur("queueRetention", &s.Queue.Retention)
	dur("dlqRetention", &s.Queue.DLQRetention)
	integer("originalsExpireDays", &s.OriginalsExpireDays)
	set("logRetentionDays", func(v any) error {
		days, err := contextInt(v)
		if err != nil {
			return err
		}
		if !slices.Contains(LogRetentionDays, days) {
			return fmt.Errorf("CloudWatch Logs keeps logs for one of %v days, got %d", LogRetentionDays, days)
		}
		s.LogRetentionDays = days
		return nil
	})
	str("alarmEmail", &s.AlarmEmail)
	dur("oldestMessageAlarm", &s.OldestMessageAlarm)
	eventsFromContext(&s, str, integer, dur)
	// Service levels (issue 16).
	set("sloApiAvailability", assign(&s.SLO.APIAvailability, contextFloat))
	dur("sloApiLatencyP99", &s.SLO.APILatencyP99)
	dur("sloUploadToReadyP50", &s.SLO.UploadToReadyP50)
	dur("sloUploadToReadyP99", &s.SLO.UploadToReadyP99)
	dur("sloTerminalWithin", &s.SLO.TerminalWithin)
	// The CDN in front of the variants (cdn.go).
	set("cdn", assign(&s.CDN.Enabled, contextBool))
	str("cdnPriceClass", &s.CDN.PriceClass)
	str("cdnDomainName", &s.CDN.DomainName)
	str("cdnCertificateArn", &s.CDN.CertificateARN)
	fromContextAuth(&s, set)

	// AWS takes these in whole seconds; a fraction would only fail at deployment.
	for key, d := range map[string]time.Duration{
		"resizeTimeout":     s.Resize.Timeout,
		"resizeBatchWindow": s.Resize.BatchWindow,
		"queueRetention":    s.Queue.Retention,
		"dlqRetention":      s.Queue.DLQRetention,
	} {
		if d%time.Second != 0 && !failed[key] {
			errs = append(errs, fmt.Errorf("%s: must be whole seconds on AWS, got %s", key, d))
		}
	}
	// Validate the rest too, so every mistake shows at once, but drop what it says
	// about keys that did not parse: that would only repeat the parse error.
	if err := s.Validate(); err != nil {
		joined, ok := err.(interface{ Unwrap() []error })
		if !ok {
			errs = append(errs, err)
		} else {
			for _, e := range joined.Unwrap() {
				key, _, _ := strings.Cut(e.Error(), ":")
				if !failed[key] {
					errs = append(errs, e)
				}
			}
		}
	}
	if err := deployedEventsErrors(s); err != nil && !failed["webhookUrl"] {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return Settings{}, errors.Join(errs...)
	}
	return s, nil
}

// assign adapts a parser to set: dst changes only when the value parses.
func assign[T any](dst *T, parse func(v any) (T, error)) func(v any) error {
	return func(v any) error {
		x, err := parse(v)
		if err == nil {
			*dst = x
		}
		return err
	}
}

func contextString(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("want a string, got %s", describe(v))
	}
	return strings.TrimSpace(s), nil
}

// contextStrings accepts a JSON list, a JSON list in a string, or a comma-separated
// string (`-c allowedOrigins=https://a.example,https://b.example`).
func contextStrings(v any) ([]string, error) {
	if s, ok := v.(string); ok && !strings.HasPrefix(strings.TrimSpace(s), "[") {
		out := []string{}
		for part := range strings.SplitSeq(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
		return out, nil
	}
	out := []string{}
	if err := contextJSON(v, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// contextJSON decodes a JSON value (from cdk.json) or a string holding JSON (from -c)
// into dst, refusing unknown fields so a misspelt field is not silently ignored.
func contextJSON(v any, dst any) error {
	var raw []byte
	if s, ok := v.(string); ok {
		raw = []byte(s)
	} else {
		var err error
		if raw, err = json.Marshal(v); err != nil {
			return fmt.Errorf("not a JSON value: %w", err)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("invalid JSON %s: %w", abbreviate(raw), err)
	}
	if dec.More() {
		return fmt.Errorf("invalid JSON %s: more than one value", abbreviate(raw))
	}
	return nil
}

func contextInt64(v any) (int64, error) {
	switch x := v.(type) {
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, fmt.Errorf("want a whole number, got %v", x)
		}
		return int64(x), nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("want a whole number, got %q", x)
		}
		return n, nil
	}
	return 0, fmt.Errorf("want a whole number, got %s", describe(v))
}

// contextFloat accepts a JSON number or a decimal string (`-c sloApiAvailability=0.999`).
func contextFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("want a number like 0.999, got %q", x)
		}
		return f, nil
	}
	return 0, fmt.Errorf("want a number like 0.999, got %s", describe(v))
}

func contextInt(v any) (int, error) {
	n, err := contextInt64(v)
	if err != nil {
		return 0, err
	}
	if n < math.MinInt32 || n > math.MaxInt32 {
		return 0, fmt.Errorf("%d is out of range", n)
	}
	return int(n), nil
}

// contextDuration accepts Go durations ("90s", "15m", "1h30m"), whole days ("14d")
// and plain numbers, which are seconds, as in CloudFormation.
func contextDuration(v any) (time.Duration, error) {
	if f, ok := v.(float64); ok {
		return time.Duration(f * float64(time.Second)), nil
	}
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("want a duration like \"90s\", \"15m\" or \"14d\", got %s", describe(v))
	}
	s = strings.TrimSpace(s)
	if days, found := strings.CutSuffix(s, "d"); found {
		n, err := strconv.Atoi(days)
		if err == nil && n >= 0 && n <= 3650 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(secs * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("want a duration like \"90s\", \"15m\" or \"14d\", got %q", s)
	}
	return d, nil
}

func describe(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%T", v)
	}
	return fmt.Sprintf("%T %s", v, abbreviate(raw))
}

func abbreviate(raw []byte) string {
	if len(raw) > 80 {
		return string(raw[:77]) + "..."
	}
	return string(raw)
}
