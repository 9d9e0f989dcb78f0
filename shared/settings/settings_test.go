package settings_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/shared/api"
	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/resize"
	"github.com/imagepipe/imagepipe/shared/settings"
)

func TestDefaultIsValid(t *testing.T) {
	s := settings.Default()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.Queue.MaxReceiveCount != 5 || s.Queue.DLQRetention != 14*24*time.Hour || s.VisibilityTimeout() != 6*s.Resize.Timeout {
		t.Errorf("defaults %+v", s)
	}
}

func TestValidateNamesEachMistake(t *testing.T) {
	tests := []struct {
		key    string
		mutate func(*settings.Settings)
	}{
		{"uploadPrefix", func(s *settings.Settings) { s.UploadPrefix = "uploads" }},
		{"uploadPrefix", func(s *settings.Settings) { s.UploadPrefix = "variants/" }},
		{"allowedOrigins", func(s *settings.Settings) { s.AllowedOrigins = []string{"https://a.example/path"} }},
		{"limits", func(s *settings.Settings) { s.Limits.MaxPixels = 0 }},
		{"variants", func(s *settings.Settings) {
			s.Variants = []imagecore.Variant{{Name: "x", Fit: imagecore.FitCover, Width: 10}}
		}},
		{"uploadUrlTtl", func(s *settings.Settings) { s.UploadURLTTL = time.Second }},
		{"downloadUrlTtl", func(s *settings.Settings) { s.DownloadURLTTL = 8 * 24 * time.Hour }},
		{"resizeMemoryMb", func(s *settings.Settings) { s.Resize.MemoryMB = 64 }},
		{"resizeTimeout", func(s *settings.Settings) { s.Resize.Timeout = time.Second }},
		{"resizeBatchSize", func(s *settings.Settings) { s.Resize.BatchSize = 0 }},
		{"resizeBatchWindow", func(s *settings.Settings) { s.Resize.BatchSize, s.Resize.BatchWindow = 20, 0 }},
		{"resizeMaxConcurrency", func(s *settings.Settings) { s.Resize.MaxConcurrency = 1 }},
		{"resizeDeadlineMargin", func(s *settings.Settings) { s.Resize.DeadlineMargin = s.Resize.Timeout }},
		{"resizeImageTimeout", func(s *settings.Settings) { s.Resize.ImageTimeout = 0 }},
		{"resizeImageTimeout", func(s *settings.Settings) { s.Resize.BatchSize, s.Resize.ImageTimeout = 5, 11*time.Second }}, // 5 x 11s + 10s > 60s
		{"resizeImageTimeout", func(s *settings.Settings) { s.Resize.BatchSize, s.Resize.BatchWindow = 10, time.Second }},
		{"maxReceiveCount", func(s *settings.Settings) { s.Queue.MaxReceiveCount = 0 }},
		{"dlqRetention", func(s *settings.Settings) { s.Queue.DLQRetention = s.Queue.Retention }},
		{"originalsExpireDays", func(s *settings.Settings) { s.OriginalsExpireDays = 0 }},
		{"alarmEmail", func(s *settings.Settings) { s.AlarmEmail = "ops@example.com, me@example.com" }},
		{"oldestMessageAlarm", func(s *settings.Settings) { s.OldestMessageAlarm = time.Second }},
		{"sloApiAvailability", func(s *settings.Settings) { s.SLO.APIAvailability = 1 }},
		{"sloApiAvailability", func(s *settings.Settings) { s.SLO.APIAvailability = 0.5 }},
		{"sloApiLatencyP99", func(s *settings.Settings) { s.SLO.APILatencyP99 = time.Minute }},
		{"sloUploadToReadyP50", func(s *settings.Settings) { s.SLO.UploadToReadyP50 = 10 * time.Second }},
		{"sloUploadToReadyP99", func(s *settings.Settings) { s.SLO.UploadToReadyP99 = time.Hour }},
		{"sloTerminalWithin", func(s *settings.Settings) { s.SLO.TerminalWithin = s.Queue.Retention }},
	}
	for _, tc := range tests {
		s := settings.Default()
		tc.mutate(&s)
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.key+":") {
			t.Errorf("%s: error %v does not name the key", tc.key, err)
		}
	}
}

// The environment the CDK app gives the functions must read back, unchanged, through
// the functions' own configuration readers.
func TestEnvironmentReadsBackThroughTheFunctions(t *testing.T) {
	s := settings.Default()
	s.Limits = imagecore.Limits{MaxBytes: 1234, MaxPixels: 5678, MaxSide: 90}
	s.Variants = []imagecore.Variant{{Name: "tiny", Width: 64, Height: 64, Fit: imagecore.FitCover, Format: imagecore.FormatPNG, Quality: 70}}
	s.AllowedOrigins = []string{"https://a.example", "https://b.example"}
	lookup := func(env map[string]string) func(string) string { return func(k string) string { return env[k] } }

	rc, err := resize.ConfigFromEnv(lookup(s.ResizeEnv("up", "out")))
	if err != nil {
		t.Fatal(err)
	}
	if rc.OutputBucket != "out" || rc.Limits != s.Limits || len(rc.Variants) != 1 || !reflect.DeepEqual(rc.Variants[0], s.Variants[0]) ||
		rc.UploadPrefix != s.UploadPrefix || rc.DeadlineMargin != s.Resize.DeadlineMargin {
		t.Errorf("resize config %+v from %+v", rc, s)
	}
	if rc.UploadsBucket != "up" || rc.ImageTimeout != s.Resize.ImageTimeout || rc.MaxReceiveCount != s.Queue.MaxReceiveCount {
		t.Errorf("resize settling config %+v from %+v", rc, s)
	}
	apiEnv := s.APIEnv("up", "out")
	for k, v := range s.DeliveryEnv("https://d111111abcdef8.cloudfront.net", "E2EXAMPLE") {
		apiEnv[k] = v
	}
	ac, err := api.ConfigFromEnv(lookup(apiEnv))
	if err != nil {
		t.Fatal(err)
	}
	if ac.UploadsBucket != "up" || ac.OutputBucket != "out" || ac.MaxUploadBytes != 1234 || ac.UploadURLTTL != s.UploadURLTTL ||
		ac.DownloadURLTTL != s.DownloadURLTTL || strings.Join(ac.AllowedOrigins, ",") != "https://a.example,https://b.example" ||
		ac.CDNURL != "https://d111111abcdef8.cloudfront.net" || ac.CDNDistributionID != "E2EXAMPLE" {
		t.Errorf("api config %+v", ac)
	}
}

func TestCDNSettings(t *testing.T) {
	const cert = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-0a1b-0a1b-0a1b-0a1b2c3d4e5f"
	tests := []struct {
		cdn     settings.CDN
		wantKey string // empty: valid
	}{
		{settings.CDN{Enabled: true}, ""},
		{settings.CDN{Enabled: false}, ""},
		{settings.CDN{Enabled: true, PriceClass: "PriceClass_100"}, ""},
		{settings.CDN{Enabled: true, DomainName: "images.example.com", CertificateARN: cert}, ""},
		{settings.CDN{Enabled: true, PriceClass: "PriceClass_50"}, "cdnPriceClass"},
		{settings.CDN{Enabled: true, DomainName: "Images.Example.com", CertificateARN: cert}, "cdnDomainName"},
		{settings.CDN{Enabled: true, DomainName: "https://images.example.com", CertificateARN: cert}, "cdnDomainName"},
		{settings.CDN{Enabled: true, DomainName: "images.example.com"}, "cdnDomainName"},
		{settings.CDN{Enabled: true, CertificateARN: cert}, "cdnDomainName"},
		{settings.CDN{Enabled: true, DomainName: "images.example.com", CertificateARN: strings.Replace(cert, "us-east-1", "eu-west-1", 1)}, "cdnCertificateArn"},
		{settings.CDN{Enabled: true, DomainName: "images.example.com", CertificateARN: "arn:aws:iam::123456789012:server-certificate/x"}, "cdnCertificateArn"},
		{settings.CDN{Enabled: false, PriceClass: "PriceClass_100"}, "cdn"},
	}
	for _, tc := range tests {
		s := settings.Default()
		s.CDN = tc.cdn
		err := s.Validate()
		if tc.wantKey == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.cdn, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantKey+":") {
			t.Errorf("%+v: error %v does not name %s", tc.cdn, err, tc.wantKey)
		}
	}
	s := settings.Default()
	if env := s.DeliveryEnv("https://d1.cloudfront.net", "E1"); env["CDN_URL"] != "https://d1.cloudfront.net" || env["CDN_DISTRIBUTION_ID"] != "E1" {
		t.Errorf("DeliveryEnv with the CDN on = %v", env)
	}
	s.CDN.Enabled = false
	if env := s.DeliveryEnv("https://d1.cloudfront.net", "E1"); len(env) != 0 {
		t.Errorf("DeliveryEnv with the CDN off = %v, want nothing (presigned URLs)", env)
	}
}
