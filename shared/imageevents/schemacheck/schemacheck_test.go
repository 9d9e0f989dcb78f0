package schemacheck

import (
	"strings"
	"testing"
)

const goodDetail = `{"version":"1","id":"5b0c1f0e9f7d4c3a8e2a6b1d0c9e8f7a","owner":"","status":"ready",` +
	`"source":{"key":"uploads/5b0c1f0e9f7d4c3a8e2a6b1d0c9e8f7a","bytes":10},` +
	`"variants":[{"name":"thumb","format":"jpeg","width":2,"height":2,"bytes":5,"key":"variants/x/thumb.jpg","url":"https://cdn.example.com/variants/x/thumb.jpg"}],` +
	`"completedAt":"2026-11-22T10:00:02Z"}`

// TestSchemasRefuse makes sure the schemas (and the validator's format checks)
// can fail, so the tests that pass through them mean something.
func TestSchemasRefuse(t *testing.T) {
	if err := Validate(Envelope("ImageReady", []byte(goodDetail), "2026-11-22T10:00:02Z")); err != nil {
		t.Fatalf("the good event: %v", err)
	}
	tests := []struct{ name, from, to, time string }{
		{"bad time", "", "", "yesterday"},
		{"bad id", `"id":"5b0c`, `"id":"XX0c`, ""},
		{"unknown detail field", `"owner":""`, `"owner":"","extra":1`, ""},
		{"bad url", `"url":"https://`, `"url":"ftp://`, ""},
		{"wrong status", `"status":"ready"`, `"status":"failed"`, ""},
		{"no variants", `"variants":[{`, `"variants":[],"x":[{`, ""},
		{"wrong version", `"version":"1"`, `"version":"2"`, ""},
		{"error on ready", `"owner":""`, `"owner":"","error":{"code":"x","message":"y"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			detail := strings.Replace(goodDetail, tt.from, tt.to, 1)
			when := tt.time
			if when == "" {
				when = "2026-11-22T10:00:02Z"
			}
			if err := Validate(Envelope("ImageReady", []byte(detail), when)); err == nil {
				t.Errorf("accepted %s", detail)
			}
		})
	}
	if err := Validate([]byte(`{"detail-type":"ImageLost"}`)); err == nil {
		t.Error("an unknown detail-type was accepted")
	}
}
