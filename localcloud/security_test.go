package localcloud

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// signed builds a header-signed request with the SDK's signer.
func signed(t *testing.T, c *Cloud, method, path string, body []byte, akid, secret, payloadHash string, at time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, c.S3URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}
	if err := signer.SignHTTP(context.Background(), creds, req, payloadHash, "s3", DefaultRegion, at); err != nil {
		t.Fatal(err)
	}
	return req
}

// presignedAt presigns a request signed at a chosen time, with the SDK's signer.
func presignedAt(t *testing.T, c *Cloud, method, path string, akid, secret string, at time.Time, expires time.Duration) string {
	t.Helper()
	req, _ := http.NewRequest(method, c.S3URL+path, nil)
	q := req.URL.Query()
	q.Set("X-Amz-Expires", strconv.Itoa(int(expires/time.Second)))
	req.URL.RawQuery = q.Encode()
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	u, _, err := signer.PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret},
		req, "UNSIGNED-PAYLOAD", "s3", DefaultRegion, at)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestS3RefusesWhatS3Refuses(t *testing.T) {
	const uploadLimit = 1 << 20
	c := startCloud(t, func(cfg *Config) {
		cfg.NoEventSource = true
		cfg.Settings.Limits.MaxBytes = uploadLimit
	})
	ctx := context.Background()
	data := pngBytes(t, 64, 48)
	objPath := "/" + c.OutputBucket + "/probe.png"
	if _, err := c.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: &c.OutputBucket, Key: aws.String("probe.png"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatalf("put probe: %v", err)
	}
	victim := "uploads/victim.png"
	if _, err := c.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: &c.UploadsBucket, Key: &victim, Body: bytes.NewReader(data)}); err != nil {
		t.Fatalf("put victim: %v", err)
	}
	now := time.Now()
	empty := sha256Hex(nil)
	ak, sk := DefaultAccessKeyID, DefaultSecretAccessKey

	type attempt func(t *testing.T) *http.Request
	withUpload := func(edit func(up *uploadResponse, req *http.Request, data []byte) []byte) attempt {
		return func(t *testing.T) *http.Request {
			up := presign(t, c, "cat.png", "image/png", len(data))
			body := data
			req, _ := http.NewRequest(up.Upload.Method, up.Upload.URL, nil)
			for k, v := range up.Upload.Headers {
				req.Header.Set(k, v)
			}
			if edit != nil {
				body = edit(&up, req, data)
			}
			req.Body = ioNopCloser(body)
			req.ContentLength = int64(len(body))
			return req
		}
	}
	tests := []struct {
		name    string
		req     attempt
		status  int
		code    string
		message string
	}{
		{"unsigned GET", func(t *testing.T) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, c.S3URL+objPath, nil)
			return r
		}, 403, "AccessDenied", ""},
		{"unsigned PUT", func(t *testing.T) *http.Request {
			r, _ := http.NewRequest(http.MethodPut, c.S3URL+"/"+c.UploadsBucket+"/uploads/x", bytes.NewReader(data))
			return r
		}, 403, "AccessDenied", ""},
		{"header-signed, good", func(t *testing.T) *http.Request {
			return signed(t, c, http.MethodGet, objPath, nil, ak, sk, empty, now)
		}, 200, "", ""},
		{"header-signed, unknown access key", func(t *testing.T) *http.Request {
			return signed(t, c, http.MethodGet, objPath, nil, "AKIDNOBODYKNOWS", sk, empty, now)
		}, 403, "InvalidAccessKeyId", ""},
		{"header-signed, wrong secret", func(t *testing.T) *http.Request {
			return signed(t, c, http.MethodGet, objPath, nil, ak, "not-the-secret", empty, now)
		}, 403, "SignatureDoesNotMatch", ""},
		{"header-signed, path changed after signing", func(t *testing.T) *http.Request {
			r := signed(t, c, http.MethodGet, objPath, nil, ak, sk, empty, now)
			r.URL.Path = "/" + c.OutputBucket + "/other.png"
			return r
		}, 403, "SignatureDoesNotMatch", ""},
		{"header-signed, signed header changed", func(t *testing.T) *http.Request {
			r := signed(t, c, http.MethodGet, objPath, nil, ak, sk, empty, now)
			r.Header.Set("X-Amz-Date", now.Add(time.Second).UTC().Format("20060102T150405Z"))
			return r
		}, 403, "SignatureDoesNotMatch", ""},
		{"header-signed, body differs from signed hash", func(t *testing.T) *http.Request {
			r := signed(t, c, http.MethodPut, "/"+c.OutputBucket+"/h.png", data, ak, sk, sha256Hex(data), now)
			r.Body = ioNopCloser(bytes.Repeat([]byte{'x'}, len(data)))
			return r
		}, 400, "XAmzContentSHA256Mismatch", ""},
		{"header-signed, hashed body over the upload limit", func(t *testing.T) *http.Request {
			big := bytes.Repeat([]byte{'x'}, uploadLimit+1)
			return signed(t, c, http.MethodPut, "/"+c.OutputBucket+"/big.bin", big, ak, sk, sha256Hex(big), now)
		}, 400, "EntityTooLarge", ""},
		{"header-signed, hashed body over the upload limit, length not declared", func(t *testing.T) *http.Request {
			big := bytes.Repeat([]byte{'x'}, uploadLimit+1)
			// Chunked, so the gateway learns the size only by reading.
			r, _ := http.NewRequest(http.MethodPut, c.S3URL+"/"+c.OutputBucket+"/big.bin", io.NopCloser(bytes.NewReader(big)))
			r.Header.Set("X-Amz-Content-Sha256", sha256Hex(big))
			signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
			if err := signer.SignHTTP(ctx, aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk}, r, sha256Hex(big), "s3", DefaultRegion, now); err != nil {
				t.Fatal(err)
			}
			return r
		}, 400, "EntityTooLarge", ""},
		{"header-signed, clock far off", func(t *testing.T) *http.Request {
			return signed(t, c, http.MethodGet, objPath, nil, ak, sk, empty, now.Add(-time.Hour))
		}, 403, "RequestTimeTooSkewed", ""},
		{"presigned GET, good", func(t *testing.T) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, presignedAt(t, c, http.MethodGet, objPath, ak, sk, now, time.Minute), nil)
			return r
		}, 200, "", ""},
		{"presigned GET, expired", func(t *testing.T) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, presignedAt(t, c, http.MethodGet, objPath, ak, sk, now.Add(-10*time.Minute), time.Minute), nil)
			return r
		}, 403, "AccessDenied", "Request has expired"},
		{"presigned GET, unknown access key", func(t *testing.T) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, presignedAt(t, c, http.MethodGet, objPath, "AKIDNOBODYKNOWS", sk, now, time.Minute), nil)
			return r
		}, 403, "InvalidAccessKeyId", ""},
		{"presigned GET, expiry stretched", func(t *testing.T) *http.Request {
			u, _ := url.Parse(presignedAt(t, c, http.MethodGet, objPath, ak, sk, now, time.Minute))
			q := u.Query()
			q.Set("X-Amz-Expires", "604800")
			u.RawQuery = q.Encode()
			r, _ := http.NewRequest(http.MethodGet, u.String(), nil)
			return r
		}, 403, "SignatureDoesNotMatch", ""},
		{"presigned PUT, good", withUpload(nil), 200, "", ""},
		{"presigned PUT, signature tampered", withUpload(func(up *uploadResponse, r *http.Request, d []byte) []byte {
			q := r.URL.Query()
			sig := []byte(q.Get("X-Amz-Signature"))
			sig[0] ^= 1
			q.Set("X-Amz-Signature", string(sig))
			r.URL.RawQuery = q.Encode()
			return d
		}), 403, "SignatureDoesNotMatch", ""},
		{"presigned PUT, other key", withUpload(func(up *uploadResponse, r *http.Request, d []byte) []byte {
			r.URL.Path = strings.Replace(r.URL.Path, "/uploads/", "/uploads/x", 1)
			r.URL.RawPath = ""
			return d
		}), 403, "SignatureDoesNotMatch", ""},
		{"presigned PUT, body longer than signed", withUpload(func(up *uploadResponse, r *http.Request, d []byte) []byte {
			return append(append([]byte{}, d...), 0)
		}), 403, "SignatureDoesNotMatch", ""},
		{"presigned PUT, body shorter than signed", withUpload(func(up *uploadResponse, r *http.Request, d []byte) []byte {
			return d[:len(d)-1]
		}), 403, "SignatureDoesNotMatch", ""},
		{"presigned PUT, other content type", withUpload(func(up *uploadResponse, r *http.Request, d []byte) []byte {
			r.Header.Set("Content-Type", "text/html")
			return d
		}), 403, "SignatureDoesNotMatch", ""},
		{"presigned PUT, If-None-Match dropped", withUpload(func(up *uploadResponse, r *http.Request, d []byte) []byte {
			r.Header.Del("If-None-Match")
			return d
		}), 403, "SignatureDoesNotMatch", ""},
		{"presigned PUT, unsigned x-amz-copy-source and x-amz-meta headers", withUpload(func(up *uploadResponse, r *http.Request, d []byte) []byte {
			// Would turn the upload into a copy of someone else's object.
			r.Header.Set("X-Amz-Copy-Source", "/"+c.UploadsBucket+"/"+victim)
			r.Header.Set("X-Amz-Meta-Extra", "1")
			return d
		}), 403, "AccessDenied", "headers present in the request which were not signed"},
		{"presigned PUT, used twice", withUpload(func(up *uploadResponse, r *http.Request, d []byte) []byte {
			if status, _, body := putUpload(t, *up, d, nil); status != 200 {
				t.Fatalf("first PUT: %d %s", status, body)
			}
			return d
		}), 412, "PreconditionFailed", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := do(t, tc.req(t))
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if tc.code != "" {
				if got := s3ErrorCode(t, body); got != tc.code {
					t.Errorf("code %q, want %q: %s", got, tc.code, body)
				}
			}
			if tc.message != "" && !bytes.Contains(body, []byte(tc.message)) {
				t.Errorf("body lacks %q: %s", tc.message, body)
			}
		})
	}
}

func TestConditionalPutRace(t *testing.T) {
	c := startCloud(t, func(cfg *Config) { cfg.NoEventSource = true })
	const racers = 8
	for round := range 5 {
		key := "uploads/race" + strconv.Itoa(round)
		var urls []*http.Request
		for i := range racers {
			body := []byte(strings.Repeat(string(rune('a'+i)), 100))
			p, err := c.Presigner.PresignPutObject(context.Background(), &s3.PutObjectInput{
				Bucket: &c.UploadsBucket, Key: &key, IfNoneMatch: aws.String("*"),
				ContentLength: aws.Int64(int64(len(body))), ContentType: aws.String("image/png"),
			})
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(p.Method, p.URL, bytes.NewReader(body))
			for k, v := range p.SignedHeader {
				if k != "Host" {
					req.Header[k] = v
				}
			}
			urls = append(urls, req)
		}
		var wg sync.WaitGroup
		statuses := make([]int, racers)
		for i, req := range urls {
			wg.Go(func() { statuses[i], _, _ = do(t, req) })
		}
		wg.Wait()
		won, lost := 0, 0
		for _, s := range statuses {
			switch s {
			case 200:
				won++
			case 412:
				lost++
			}
		}
		if won != 1 || lost != racers-1 {
			t.Fatalf("round %d: %d PUTs won and %d got 412, want 1 and %d (%v)", round, won, lost, racers-1, statuses)
		}
	}
}

func TestCORS(t *testing.T) {
	c := startCloud(t, func(cfg *Config) { cfg.NoEventSource = true })
	page := c.APIURL
	upload := c.S3URL + "/" + c.UploadsBucket + "/uploads/x"
	variant := c.S3URL + "/" + c.OutputBucket + "/variants/x/thumb.jpg"
	tests := []struct {
		name, path, origin, method, headers string
		status                              int
	}{
		{"page origin may PUT with the signed headers", upload, page, "PUT", "content-type,if-none-match,x-amz-meta-filename", 200},
		// The page only PUTs to the uploads bucket.
		{"GET is not allowed", upload, page, "GET", "", 403},
		{"other origin", upload, "http://evil.example", "PUT", "content-type", 403},
		{"DELETE is not allowed", upload, page, "DELETE", "", 403},
		{"POST is not allowed", upload, page, "POST", "", 403},
		{"unsigned header is not allowed", upload, page, "PUT", "content-type,x-amz-acl", 403},
		// Variants are shown with <img>, which needs no CORS; as in AWS, no rule.
		{"output bucket has no CORS rule", variant, page, "GET", "", 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodOptions, tc.path, nil)
			req.Header.Set("Origin", tc.origin)
			req.Header.Set("Access-Control-Request-Method", tc.method)
			if tc.headers != "" {
				req.Header.Set("Access-Control-Request-Headers", tc.headers)
			}
			status, h, body := do(t, req)
			if status != tc.status {
				t.Fatalf("preflight: %d, want %d: %s", status, tc.status, body)
			}
			allow := h.Get("Access-Control-Allow-Origin")
			if tc.status != 200 {
				if allow != "" {
					t.Errorf("refused preflight still allows origin %q", allow)
				}
				return
			}
			if allow != tc.origin || h.Get("Access-Control-Expose-Headers") != "ETag" || h.Get("Access-Control-Max-Age") != "3000" ||
				!strings.Contains(h.Get("Access-Control-Allow-Methods"), tc.method) {
				t.Errorf("preflight headers: %v", h)
			}
		})
	}
	t.Run("page origin gets no CORS headers from the output bucket", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, presignedAt(t, c, http.MethodGet, "/"+c.OutputBucket+"/variants/none", DefaultAccessKeyID, DefaultSecretAccessKey, time.Now(), time.Minute), nil)
		req.Header.Set("Origin", page)
		_, h, _ := do(t, req)
		if v := h.Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("Access-Control-Allow-Origin %q from the output bucket", v)
		}
	})
	t.Run("other origin gets no CORS headers on a real request", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, presignedAt(t, c, http.MethodGet, "/"+c.UploadsBucket+"/uploads/none", DefaultAccessKeyID, DefaultSecretAccessKey, time.Now(), time.Minute), nil)
		req.Header.Set("Origin", "http://evil.example")
		_, h, _ := do(t, req)
		if v := h.Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("Access-Control-Allow-Origin %q for a foreign origin", v)
		}
	})
}
