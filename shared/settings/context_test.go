package settings

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/shared/imagecore"
)

// lookupFrom serves context values the way the CDK hands them over: JSON-decoded
// values for cdk.json entries, strings for -c overrides.
func lookupFrom(t *testing.T, values map[string]any) func(string) any {
	t.Helper()
	for k := range values {
		known := false
		for _, key := range ContextKeys {
			known = known || key == k
		}
		if !known {
			t.Fatalf("test uses %q, which is not in ContextKeys", k)
		}
	}
	return func(key string) any { return values[key] }
}

// fromJSON decodes like the CDK does for cdk.json context values.
func fromJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

func TestFromContextNothingSetIsDefault(t *testing.T) {
	got, err := FromContext(func(string) any { return nil })
	if err != nil {
		t.Fatalf("FromContext: %v", err)
	}
	if !reflect.DeepEqual(got, Default()) {
		t.Errorf("got %+v, want Default() %+v", got, Default())
	}
}

func TestFromContextValues(t *testing.T) {
	tests := []struct {
		name   string
		values map[string]any
		check  func(s Settings) bool
	}{
		{"origins from cdk.json list", map[string]any{"allowedOrigins": fromJSON(t, `["https://a.example","https://b.example"]`)},
			func(s Settings) bool {
				return reflect.DeepEqual(s.AllowedOrigins, []string{"https://a.example", "https://b.example"})
			}},
		{"origins comma separated from -c", map[string]any{"allowedOrigins": "https://a.example, https://b.example"},
			func(s Settings) bool {
				return reflect.DeepEqual(s.AllowedOrigins, []string{"https://a.example", "https://b.example"})
			}},
		{"origins JSON list in a string", map[string]any{"allowedOrigins": `["https://a.example"]`},
			func(s Settings) bool { return reflect.DeepEqual(s.AllowedOrigins, []string{"https://a.example"}) }},
		{"no origins", map[string]any{"allowedOrigins": fromJSON(t, `[]`)},
			func(s Settings) bool { return len(s.AllowedOrigins) == 0 }},
		{"variants from cdk.json", map[string]any{"variants": fromJSON(t, `[{"name":"thumb","width":100,"height":100,"fit":"cover","format":"png"}]`)},
			func(s Settings) bool {
				return reflect.DeepEqual(s.Variants, []imagecore.Variant{{Name: "thumb", Width: 100, Height: 100, Fit: imagecore.FitCover, Format: imagecore.FormatPNG}})
			}},
		{"variants with formats from cdk.json", map[string]any{"variants": fromJSON(t, `[{"name":"m","width":100,"formats":["avif","webp"]}]`)},
			func(s Settings) bool {
				return reflect.DeepEqual(s.Variants, []imagecore.Variant{{Name: "m", Width: 100, Formats: []imagecore.Format{imagecore.FormatAVIF, imagecore.FormatWebP}}})
			}},
		{"variants from -c", map[string]any{"variants": `[{"name":"w300","width":300}]`},
			func(s Settings) bool {
				return reflect.DeepEqual(s.Variants, []imagecore.Variant{{Name: "w300", Width: 300}})
			}},
		{"limits object", map[string]any{"limits": fromJSON(t, `{"maxBytes":1000,"maxPixels":2000,"maxSide":300}`)},
			func(s Settings) bool {
				return s.Limits == imagecore.Limits{MaxBytes: 1000, MaxPixels: 2000, MaxSide: 300}
			}},
		{"single limit overrides the object", map[string]any{
			"limits":  fromJSON(t, `{"maxBytes":1000,"maxPixels":2000,"maxSide":300}`),
			"maxSide": "400"},
			func(s Settings) bool {
				return s.Limits == imagecore.Limits{MaxBytes: 1000, MaxPixels: 2000, MaxSide: 400}
			}},
		{"single limits as numbers", map[string]any{"maxUploadBytes": 5e6, "maxPixels": 1e7},
			func(s Settings) bool { return s.Limits.MaxBytes == 5_000_000 && s.Limits.MaxPixels == 10_000_000 }},
		{"memory from -c", map[string]any{"resizeMemoryMb": "2048"},
			func(s Settings) bool { return s.Resize.MemoryMB == 2048 }},
		{"cdn off from -c", map[string]any{"cdn": "false"}, func(s Settings) bool { return !s.CDN.Enabled }},
		{"cdn from cdk.json", map[string]any{"cdn": true, "cdnPriceClass": "PriceClass_100"},
			func(s Settings) bool { return s.CDN.Enabled && s.CDN.PriceClass == "PriceClass_100" }},
		{"memory from cdk.json", map[string]any{"resizeMemoryMb": 1536.0},
			func(s Settings) bool { return s.Resize.MemoryMB == 1536 }},
		{"durations as Go strings", map[string]any{"resizeTimeout": "2m", "resizeBatchWindow": "1m30s", "oldestMessageAlarm": "1h"},
			func(s Settings) bool {
				return s.Resize.Timeout == 2*time.Minute && s.Resize.BatchWindow == 90*time.Second && s.OldestMessageAlarm == time.Hour
			}},
		{"durations as seconds", map[string]any{"resizeTimeout": 90.0, "uploadUrlTtl": "120"},
			func(s Settings) bool { return s.Resize.Timeout == 90*time.Second && s.UploadURLTTL == 2*time.Minute }},
		{"durations in days", map[string]any{"queueRetention": "2d", "dlqRetention": "14d"},
			func(s Settings) bool {
				return s.Queue.Retention == 48*time.Hour && s.Queue.DLQRetention == 14*24*time.Hour
			}},
		{"event source", map[string]any{"resizeBatchSize": 20.0, "resizeBatchWindow": "5s", "resizeMaxConcurrency": "50", "maxReceiveCount": "3",
			"resizeImageTimeout": "2s"}, // 20 x 2s + the 10s margin fit in 60s
			func(s Settings) bool {
				return s.Resize.BatchSize == 20 && s.Resize.BatchWindow == 5*time.Second && s.Resize.MaxConcurrency == 50 && s.Queue.MaxReceiveCount == 3 &&
					s.Resize.ImageTimeout == 2*time.Second
			}},
		{"retention and e-mail", map[string]any{"originalsExpireDays": "7", "logRetentionDays": 90.0, "alarmEmail": " ops@example.com "},
			func(s Settings) bool {
				return s.OriginalsExpireDays == 7 && s.LogRetentionDays == 90 && s.AlarmEmail == "ops@example.com"
			}},
		{"service levels", map[string]any{"sloApiAvailability": "0.995", "sloApiLatencyP99": "500ms", "sloUploadToReadyP50": "1s",
			"sloUploadToReadyP99": 3.0, "sloTerminalWithin": "30m"},
			func(s Settings) bool {
				o := s.SLO
				return o.APIAvailability == 0.995 && o.APILatencyP99 == 500*time.Millisecond && o.UploadToReadyP50 == time.Second &&
					o.UploadToReadyP99 == 3*time.Second && o.TerminalWithin == 30*time.Minute
			}},
		{"upload prefix and download TTL", map[string]any{"uploadPrefix": "in/", "downloadUrlTtl": "1h"},
			func(s Settings) bool { return s.UploadPrefix == "in/" && s.DownloadURLTTL == time.Hour }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromContext(lookupFrom(t, tt.values))
			if err != nil {
				t.Fatalf("FromContext: %v", err)
			}
			if !tt.check(got) {
				t.Errorf("unexpected settings %+v", got)
			}
		})
	}
}

func TestFromContextRejects(t *testing.T) {
	tests := []struct {
		name   string
		values map[string]any
		// wantKey must open a line of the error, so the message names the key.
		wantKey string
	}{
		{"memory not a number", map[string]any{"resizeMemoryMb": "lots"}, "resizeMemoryMb"},
		{"cdn not a boolean", map[string]any{"cdn": "yes"}, "cdn"},
		{"cdn price class unknown", map[string]any{"cdnPriceClass": "cheap"}, "cdnPriceClass"},
		{"cdn domain without certificate", map[string]any{"cdnDomainName": "images.example.com"}, "cdnDomainName"},
		{"memory fractional", map[string]any{"resizeMemoryMb": 1024.5}, "resizeMemoryMb"},
		{"memory too small", map[string]any{"resizeMemoryMb": "64"}, "resizeMemoryMb"},
		{"memory a list", map[string]any{"resizeMemoryMb": fromJSON(t, `[1]`)}, "resizeMemoryMb"},
		{"timeout not a duration", map[string]any{"resizeTimeout": "soon"}, "resizeTimeout"},
		{"timeout too long", map[string]any{"resizeTimeout": "20m"}, "resizeTimeout"},
		{"timeout a boolean", map[string]any{"resizeTimeout": true}, "resizeTimeout"},
		{"batch size zero", map[string]any{"resizeBatchSize": "0"}, "resizeBatchSize"},
		{"availability not a number", map[string]any{"sloApiAvailability": "three nines"}, "sloApiAvailability"},
		{"availability of 100%", map[string]any{"sloApiAvailability": 1.0}, "sloApiAvailability"},
		{"p50 over p99", map[string]any{"sloUploadToReadyP50": "10s", "sloUploadToReadyP99": "5s"}, "sloUploadToReadyP50"},
		{"large batch without window", map[string]any{"resizeBatchSize": "50", "resizeBatchWindow": "0s"}, "resizeBatchWindow"},
		{"concurrency one", map[string]any{"resizeMaxConcurrency": 1.0}, "resizeMaxConcurrency"},
		{"receive count zero", map[string]any{"maxReceiveCount": "0"}, "maxReceiveCount"},
		{"dlq shorter than queue", map[string]any{"queueRetention": "7d", "dlqRetention": "3d"}, "dlqRetention"},
		{"queue retention too long", map[string]any{"queueRetention": "20d"}, "queueRetention"},
		{"origin with a path", map[string]any{"allowedOrigins": "https://a.example/app"}, "allowedOrigins"},
		{"origins a number", map[string]any{"allowedOrigins": 3.0}, "allowedOrigins"},
		{"variants bad JSON", map[string]any{"variants": `[{"name":`}, "variants"},
		{"variants unknown field", map[string]any{"variants": `[{"name":"a","widht":10}]`}, "variants"},
		{"variants invalid", map[string]any{"variants": fromJSON(t, `[{"name":"a"}]`)}, "variants"},
		{"variants empty", map[string]any{"variants": fromJSON(t, `[]`)}, "variants"},
		{"limits unknown field", map[string]any{"limits": fromJSON(t, `{"maxBytez":1}`)}, "limits"},
		{"limit negative", map[string]any{"maxSide": "-1"}, "limits"},
		{"max upload bytes not a number", map[string]any{"maxUploadBytes": "25MB"}, "maxUploadBytes"},
		{"log retention CloudWatch cannot keep", map[string]any{"logRetentionDays": "10"}, "logRetentionDays"},
		{"e-mail list", map[string]any{"alarmEmail": "a@example.com,b@example.com"}, "alarmEmail"},
		{"e-mail a number", map[string]any{"alarmEmail": 5.0}, "alarmEmail"},
		{"upload URL TTL too long", map[string]any{"uploadUrlTtl": "2h"}, "uploadUrlTtl"},
		{"download URL TTL garbage", map[string]any{"downloadUrlTtl": "x"}, "downloadUrlTtl"},
		{"originals expire zero", map[string]any{"originalsExpireDays": 0.0}, "originalsExpireDays"},
		{"oldest message alarm too short", map[string]any{"oldestMessageAlarm": "10s"}, "oldestMessageAlarm"},
		{"deadline margin over timeout", map[string]any{"resizeDeadlineMargin": "2m"}, "resizeDeadlineMargin"},
		{"batch window fraction of a second", map[string]any{"resizeBatchWindow": "1500ms"}, "resizeBatchWindow"},
		{"timeout fraction of a second", map[string]any{"resizeTimeout": 30.5}, "resizeTimeout"},
		{"prefix without slash", map[string]any{"uploadPrefix": "uploads"}, "uploadPrefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromContext(lookupFrom(t, tt.values))
			if err == nil {
				t.Fatalf("FromContext accepted %v", tt.values)
			}
			named := false
			for line := range strings.SplitSeq(err.Error(), "\n") {
				named = named || strings.HasPrefix(line, tt.wantKey+": ")
			}
			if !named {
				t.Errorf("error does not name %q:\n%v", tt.wantKey, err)
			}
		})
	}
}

func TestFromContextReportsEveryBadKey(t *testing.T) {
	_, err := FromContext(lookupFrom(t, map[string]any{"resizeMemoryMb": "x", "resizeTimeout": "y", "maxReceiveCount": true}))
	if err == nil {
		t.Fatal("FromContext accepted three bad values")
	}
	for _, key := range []string{"resizeMemoryMb", "resizeTimeout", "maxReceiveCount"} {
		if !strings.Contains(err.Error(), key+": ") {
			t.Errorf("error does not name %s:\n%v", key, err)
		}
	}
}

func TestFromContextReportsParseAndValidationErrorsOnce(t *testing.T) {
	_, err := FromContext(lookupFrom(t, map[string]any{"resizeMemoryMb": "lots", "allowedOrigins": "photos.example"}))
	if err == nil {
		t.Fatal("FromContext accepted two bad values")
	}
	msg := err.Error()
	if !strings.Contains(msg, "allowedOrigins: ") {
		t.Errorf("validation error for allowedOrigins missing beside the parse error:\n%s", msg)
	}
	if n := strings.Count(msg, "resizeMemoryMb: "); n != 1 {
		t.Errorf("resizeMemoryMb reported %d times, want once (no follow-on range error):\n%s", n, msg)
	}
}

func TestCheckContextKeys(t *testing.T) {
	tests := []struct {
		keys    []string
		wantErr string
	}{
		{[]string{"resizeMemoryMb", "alarmEmail"}, ""},
		{[]string{"@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy", "aws:cdk:version-reporting", "acknowledged-issue-numbers"}, ""},
		{[]string{"resizeMemoryMB"}, "resizeMemoryMB: not a setting (did you mean resizeMemoryMb?)"},
		{[]string{"memory"}, "memory: not a setting;"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.keys, ","), func(t *testing.T) {
			err := CheckContextKeys(tt.keys)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
