package sigv4

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	region = "us-east-1"
	akid   = "AKIDTEST"
	secret = "secret"
)

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func verifier() *Verifier {
	v := New(region, "s3", map[string]string{akid: secret})
	v.Now = func() time.Time { return now }
	return v
}

var sdkSigner = v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })

func headerSigned(t *testing.T, edit func(*http.Request), signRegion string, at time.Time) *http.Request {
	t.Helper()
	r, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1:9000/bucket/uploads/a%20b%2Bc%C3%A9?x=1", strings.NewReader("hello"))
	r.Header.Set("Content-Type", "image/png")
	r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	if err := sdkSigner.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}, r, "UNSIGNED-PAYLOAD", "s3", signRegion, at); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(r)
	}
	return r
}

func presigned(t *testing.T, expires string, at time.Time, edit func(url.Values)) *http.Request {
	t.Helper()
	r, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:9000/bucket/key", nil)
	r.URL.RawQuery = url.Values{"X-Amz-Expires": {expires}}.Encode()
	u, _, err := sdkSigner.PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}, r, "UNSIGNED-PAYLOAD", "s3", region, at)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := http.NewRequest(http.MethodGet, u, nil)
	if edit != nil {
		q := out.URL.Query()
		edit(q)
		out.URL.RawQuery = q.Encode()
	}
	return out
}

func TestVerify(t *testing.T) {
	tests := []struct {
		name string
		req  func(t *testing.T) *http.Request
		code string // "" means accepted
	}{
		{"header-signed, escaped key", func(t *testing.T) *http.Request { return headerSigned(t, nil, region, now) }, ""},
		{"header-signed, content length changed", func(t *testing.T) *http.Request {
			return headerSigned(t, func(r *http.Request) { r.ContentLength = 6 }, region, now)
		}, "SignatureDoesNotMatch"},
		{"header-signed, unsigned header added", func(t *testing.T) *http.Request {
			// Headers outside SignedHeaders are not covered, as in S3.
			return headerSigned(t, func(r *http.Request) { r.Header.Set("X-Extra", "1") }, region, now)
		}, ""},
		{"header-signed, unsigned x-amz-meta header added", func(t *testing.T) *http.Request {
			return headerSigned(t, func(r *http.Request) { r.Header.Set("X-Amz-Meta-Extra", "1") }, region, now)
		}, "AccessDenied"},
		{"header-signed, unsigned x-amz-copy-source added", func(t *testing.T) *http.Request {
			return headerSigned(t, func(r *http.Request) { r.Header.Set("X-Amz-Copy-Source", "/bucket/uploads/victim") }, region, now)
		}, "AccessDenied"},
		{"header-signed, signed x-amz-meta header", func(t *testing.T) *http.Request {
			r, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1:9000/bucket/key", strings.NewReader("hello"))
			r.Header.Set("X-Amz-Meta-Filename", "a.png")
			r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			if err := sdkSigner.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}, r, "UNSIGNED-PAYLOAD", "s3", region, now); err != nil {
				t.Fatal(err)
			}
			return r
		}, ""},
		{"header-signed, signed header removed", func(t *testing.T) *http.Request {
			return headerSigned(t, func(r *http.Request) { r.Header.Del("Content-Type") }, region, now)
		}, "SignatureDoesNotMatch"},
		{"header-signed, other region", func(t *testing.T) *http.Request { return headerSigned(t, nil, "eu-west-1", now) }, "AuthorizationHeaderMalformed"},
		{"header-signed, no payload hash", func(t *testing.T) *http.Request {
			return headerSigned(t, func(r *http.Request) { r.Header.Del("X-Amz-Content-Sha256") }, region, now)
		}, "InvalidRequest"},
		{"header-signed, garbled", func(t *testing.T) *http.Request {
			return headerSigned(t, func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 nonsense") }, region, now)
		}, "AuthorizationHeaderMalformed"},
		{"header-signed, SigV2", func(t *testing.T) *http.Request {
			return headerSigned(t, func(r *http.Request) { r.Header.Set("Authorization", "AWS AKIDTEST:abc") }, region, now)
		}, "InvalidArgument"},
		{"both header and query", func(t *testing.T) *http.Request {
			r := presigned(t, "60", now, nil)
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
			return r
		}, "InvalidArgument"},
		{"presigned, good", func(t *testing.T) *http.Request { return presigned(t, "60", now, nil) }, ""},
		{"presigned, last valid second", func(t *testing.T) *http.Request { return presigned(t, "60", now.Add(-60*time.Second), nil) }, ""},
		{"presigned, one second late", func(t *testing.T) *http.Request { return presigned(t, "60", now.Add(-61*time.Second), nil) }, "AccessDenied"},
		{"presigned, signed in the future", func(t *testing.T) *http.Request { return presigned(t, "60", now.Add(time.Hour), nil) }, "AccessDenied"},
		{"presigned, over a week", func(t *testing.T) *http.Request { return presigned(t, "604801", now, nil) }, "AuthorizationQueryParametersError"},
		{"presigned, parameter added", func(t *testing.T) *http.Request {
			return presigned(t, "60", now, func(q url.Values) { q.Set("response-content-type", "text/html") })
		}, "SignatureDoesNotMatch"},
		{"presigned, unsigned x-amz-copy-source header", func(t *testing.T) *http.Request {
			r := presigned(t, "60", now, nil)
			r.Header.Set("X-Amz-Copy-Source", "/bucket/uploads/victim")
			return r
		}, "AccessDenied"},
		{"presigned, unsigned x-amz-content-sha256 header", func(t *testing.T) *http.Request {
			r := presigned(t, "60", now, nil)
			r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			return r
		}, "AccessDenied"},
		{"presigned, unsigned ordinary header", func(t *testing.T) *http.Request {
			r := presigned(t, "60", now, nil)
			r.Header.Set("Accept", "*/*")
			return r
		}, ""},
		{"presigned, algorithm changed", func(t *testing.T) *http.Request {
			return presigned(t, "60", now, func(q url.Values) { q.Set("X-Amz-Algorithm", "AWS4-HMAC-SHA1") })
		}, "AuthorizationQueryParametersError"},
		{"presigned, no signature", func(t *testing.T) *http.Request {
			return presigned(t, "60", now, func(q url.Values) { q.Del("X-Amz-Signature") })
		}, "AuthorizationQueryParametersError"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			signed, refusal := verifier().Verify(tc.req(t))
			switch {
			case tc.code == "" && refusal != nil:
				t.Fatalf("refused: %v", refusal)
			case tc.code == "" && signed.AccessKeyID != akid:
				t.Fatalf("accepted as %q", signed.AccessKeyID)
			case tc.code != "" && refusal == nil:
				t.Fatalf("accepted, want %s", tc.code)
			case tc.code != "" && refusal.Code != tc.code:
				t.Fatalf("refused with %v, want %s", refusal, tc.code)
			}
		})
	}
}
