package settings

import (
	"strings"
	"testing"
	"time"
)

func TestEventsValidateNamesEachMistake(t *testing.T) {
	tests := []struct {
		key    string
		mutate func(*Events)
	}{
		{"eventArchiveRetention", func(e *Events) { e.ArchiveRetention = 36 * time.Hour }},
		{"eventArchiveRetention", func(e *Events) { e.ArchiveRetention = -24 * time.Hour }},
		{"webhookUrl", func(e *Events) { e.WebhookURL = "app.example.com/hook" }},
		{"webhookUrl", func(e *Events) { e.WebhookURL = "http://app.example.com/hook" }},
		{"webhookUrl", func(e *Events) { e.WebhookURL = "ftp://app.example.com/hook" }},
		{"webhookUrl", func(e *Events) { e.WebhookURL = "https://user:pw@app.example.com/hook" }},
		{"webhookHeaderName", func(e *Events) { e.WebhookHeaderName = "x api key" }},
		{"webhookHeaderName", func(e *Events) { e.WebhookHeaderName = "" }},
		{"webhookSecretArn", func(e *Events) { e.WebhookSecretArn = "my-secret" }},
		{"webhookRateLimitPerSecond", func(e *Events) { e.WebhookRateLimit = 0 }},
		{"webhookRetryAttempts", func(e *Events) { e.WebhookRetryAttempts = 186 }},
		{"webhookMaxEventAge", func(e *Events) { e.WebhookMaxEventAge = 30 * time.Second }},
		{"webhookMaxEventAge", func(e *Events) { e.WebhookMaxEventAge = 25 * time.Hour }},
	}
	for _, tc := range tests {
		s := Default()
		tc.mutate(&s.Events)
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.key+":") {
			t.Errorf("%s: error %v does not name the key", tc.key, err)
		}
	}
	for _, ok := range []string{"https://app.example.com/hooks/imagepipe?x=1", "http://127.0.0.1:9999/hook", "http://localhost:1/x", "http://[::1]:2/"} {
		s := Default()
		s.Events.WebhookURL = ok
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	s := Default()
	s.Events.ArchiveRetention, s.Events.WebhookSecretArn = 0, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:imagepipe/webhook-AbCdEf"
	if err := s.Validate(); err != nil {
		t.Errorf("archive forever, secret ARN: %v", err)
	}
}

func TestEventsFromContext(t *testing.T) {
	got, err := FromContext(lookupFrom(t, map[string]any{
		"eventArchiveRetention": "30d", "webhookUrl": "https://app.example.com/hook", "webhookHeaderName": "X-Imagepipe-Key",
		"webhookSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:hook-1a2b3c", "webhookRateLimitPerSecond": 50.0,
		"webhookRetryAttempts": "20", "webhookMaxEventAge": "2h",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Events{ArchiveRetention: 30 * 24 * time.Hour, WebhookURL: "https://app.example.com/hook", WebhookHeaderName: "X-Imagepipe-Key",
		WebhookSecretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:hook-1a2b3c", WebhookRateLimit: 50,
		WebhookRetryAttempts: 20, WebhookMaxEventAge: 2 * time.Hour}
	if got.Events != want {
		t.Errorf("got %+v, want %+v", got.Events, want)
	}
	// What the local cloud accepts, an API destination does not.
	_, err = FromContext(lookupFrom(t, map[string]any{"webhookUrl": "http://127.0.0.1:9999/hook"}))
	if err == nil || !strings.Contains(err.Error(), "webhookUrl:") || !strings.Contains(err.Error(), "https") {
		t.Errorf("http webhook on AWS: %v", err)
	}
	_, err = FromContext(lookupFrom(t, map[string]any{"webhookUrl": "http://app.example.com/hook"}))
	if err == nil || strings.Count(err.Error(), "webhookUrl:") != 1 {
		t.Errorf("want one webhookUrl error, got %v", err)
	}
}
