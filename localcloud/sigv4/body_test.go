package sigv4

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// TestVerifyBody: a JSON-protocol request signs its body's hash without sending
// it; the hash is recomputed from the body read, so another body fails.
func TestVerifyBody(t *testing.T) {
	v := New(region, "events", map[string]string{akid: secret})
	v.Now = func() time.Time { return now }
	signed := func(body string) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:9000/", strings.NewReader(body))
		r.Header.Set("X-Amz-Target", "AWSEvents.PutEvents")
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret},
			r, hex.EncodeToString(sum[:]), "events", region, now); err != nil {
			t.Fatal(err)
		}
		return r
	}
	good := `{"Entries":[]}`
	if _, e := v.VerifyBody(signed(good), []byte(good)); e != nil {
		t.Fatalf("good request: %v", e)
	}
	tests := []struct {
		name string
		req  func() *http.Request
		body string
		code string
	}{
		{"other body", func() *http.Request { return signed(good) }, `{"Entries":[{}]}`, "SignatureDoesNotMatch"},
		{"unsigned", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:9000/", nil)
			return r
		}, good, "AccessDenied"},
		{"target changed", func() *http.Request {
			r := signed(good)
			r.Header.Set("X-Amz-Target", "AWSEvents.DeleteRule")
			return r
		}, good, "SignatureDoesNotMatch"},
		{"hash header disagrees", func() *http.Request {
			r := signed(good)
			r.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64))
			return r
		}, good, "XAmzContentSHA256Mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, e := v.VerifyBody(tt.req(), []byte(tt.body))
			if e == nil || e.Code != tt.code {
				t.Errorf("got %v, want %s", e, tt.code)
			}
		})
	}
}
