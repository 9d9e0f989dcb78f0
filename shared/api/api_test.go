package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/settings"
)

const testOrigin = "https://app.example.com"

func testConfig() Config {
	return Config{UploadsBucket: "up", OutputBucket: "out", UploadPrefix: "uploads/", MaxUploadBytes: 1000,
		UploadURLTTL: 5 * time.Minute, DownloadURLTTL: 10 * time.Minute, AllowedOrigins: []string{testOrigin},
		AuthMode: settings.AuthNone, UploadScope: "imagepipe/upload", QuotaUploadsPerDay: 100, QuotaBytesPerDay: 1 << 20}
}

func newTestAPI(t *testing.T, objects *fakeObjects) *API {
	t.Helper()
	return newTestAPIWith(t, objects, testConfig())
}

func newTestAPIWith(t *testing.T, objects *fakeObjects, cfg Config) *API {
	t.Helper()
	if objects.objects == nil {
		objects.objects = map[string]fakeObject{}
	}
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://127.0.0.1:9000"),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
	a, err := New(cfg, objects, s3.NewPresignClient(client), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func do(t *testing.T, h http.Handler, method, target, body string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func errorCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var body errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, rec.Body)
	}
	if body.Error.Message == "" {
		t.Errorf("error %q has no message", body.Error.Code)
	}
	return body.Error.Code
}

func TestCreateUploadRefusals(t *testing.T) {
	tests := []struct {
		name, body string
		status     int
		code       string
	}{
		{"not json", `{"filename":`, 400, "bad_request"},
		{"empty body", ``, 400, "bad_request"},
		{"two objects", `{"filename":"a.jpg","contentType":"image/jpeg","size":1}{}`, 400, "bad_request"},
		{"size is a string", `{"filename":"a.jpg","contentType":"image/jpeg","size":"12"}`, 400, "bad_request"},
		{"missing filename", `{"contentType":"image/jpeg","size":10}`, 400, "bad_filename"},
		{"control character", `{"filename":"a\u0007.jpg","contentType":"image/jpeg","size":10}`, 400, "bad_filename"},
		{"only a path", `{"filename":"dir/","contentType":"image/jpeg","size":10}`, 400, "bad_filename"},
		{"long filename", `{"filename":"` + strings.Repeat("a", 256) + `","contentType":"image/jpeg","size":10}`, 400, "bad_filename"},
		{"missing size", `{"filename":"a.jpg","contentType":"image/jpeg"}`, 400, "bad_size"},
		{"zero size", `{"filename":"a.jpg","contentType":"image/jpeg","size":0}`, 400, "bad_size"},
		{"negative size", `{"filename":"a.jpg","contentType":"image/jpeg","size":-5}`, 400, "bad_size"},
		{"over the limit", `{"filename":"a.jpg","contentType":"image/jpeg","size":1001}`, 413, "too_large"},
		{"tiff", `{"filename":"a.tif","contentType":"image/tiff","size":10}`, 415, "unsupported_type"},
		{"missing type", `{"filename":"a.jpg","size":10}`, 415, "unsupported_type"},
		{"html", `{"filename":"a.jpg","contentType":"text/html","size":10}`, 415, "unsupported_type"},
	}
	a := newTestAPI(t, &fakeObjects{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(t, a, "POST", "/v1/uploads", tc.body, nil)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if got := errorCode(t, rec); got != tc.code {
				t.Errorf("code %q, want %q", got, tc.code)
			}
		})
	}
}

func TestCreateUploadSignsWhatTheClientMustSend(t *testing.T) {
	a := newTestAPI(t, &fakeObjects{})
	rec := do(t, a, "POST", "/v1/uploads", `{"filename":"C:\\photos\\my cat+dog é.JPG","contentType":"IMAGE/JPEG","size":1000}`, nil)
	if rec.Code != http.StatusCreated {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var resp uploadResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	if !manifest.ValidID(resp.ID) {
		t.Errorf("id %q is not a server id", resp.ID)
	}
	if resp.StatusURL != "/v1/images/"+resp.ID || rec.Header().Get("Location") != resp.StatusURL {
		t.Errorf("statusUrl %q, Location %q", resp.StatusURL, rec.Header().Get("Location"))
	}
	if d := time.Until(resp.ExpiresAt); d < 4*time.Minute || d > 5*time.Minute+time.Second {
		t.Errorf("expiresAt %s is not about 5 minutes away", resp.ExpiresAt)
	}
	u, err := url.Parse(resp.Upload.URL)
	if err != nil || resp.Upload.Method != "PUT" {
		t.Fatalf("upload %+v: %v", resp.Upload, err)
	}
	if want := "/up/uploads/" + resp.ID; u.Path != want {
		t.Errorf("upload path %q, want %q", u.Path, want)
	}
	signed := u.Query().Get("X-Amz-SignedHeaders")
	wantHeaders := map[string]string{
		"Content-Length":      "1000",
		"Content-Type":        "image/jpeg",
		"If-None-Match":       "*",
		"X-Amz-Meta-Filename": url.PathEscape("my cat+dog é.JPG"),
		"X-Amz-Meta-Owner":    settings.AnonymousSubject,
	}
	for name, value := range wantHeaders {
		if got := resp.Upload.Headers[name]; got != value {
			t.Errorf("header %s = %q, want %q", name, got, value)
		}
		if !strings.Contains(signed, strings.ToLower(name)) {
			t.Errorf("%s is not signed (signed: %s)", name, signed)
		}
	}
	if len(resp.Upload.Headers) != len(wantHeaders) {
		t.Errorf("headers %v: want exactly %v", resp.Upload.Headers, wantHeaders)
	}
	if u.Query().Get("X-Amz-Expires") != "300" {
		t.Errorf("X-Amz-Expires = %q, want 300", u.Query().Get("X-Amz-Expires"))
	}
}

func TestUploadIDsDiffer(t *testing.T) {
	a := newTestAPI(t, &fakeObjects{})
	seen := map[string]bool{}
	for range 50 {
		rec := do(t, a, "POST", "/v1/uploads", `{"filename":"a.png","contentType":"image/png","size":5}`, nil)
		var resp uploadResponse
		_ = json.Unmarshal(rec.Body.Bytes(), &resp)
		if seen[resp.ID] {
			t.Fatalf("id %s issued twice", resp.ID)
		}
		seen[resp.ID] = true
	}
}

func putManifest(t *testing.T, objects *fakeObjects, m manifest.Manifest) {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	objects.objects["out/"+manifest.Key(m.ID)] = fakeObject{body: b}
}

func TestImageStatus(t *testing.T) {
	ready, failed, pending := manifest.NewID(), manifest.NewID(), manifest.NewID()
	uploaded := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	objects := &fakeObjects{objects: map[string]fakeObject{
		"up/uploads/" + pending: {body: []byte("12345"), meta: map[string]string{"filename": url.PathEscape("é cat.jpg"), "owner": settings.AnonymousSubject}, modified: uploaded},
	}}
	putManifest(t, objects, manifest.Manifest{ID: ready, Status: manifest.StatusReady, Owner: settings.AnonymousSubject,
		Source: manifest.Source{Filename: "cat.jpg", Format: "jpeg", Width: 4000, Height: 3000, Bytes: 999, UploadedAt: uploaded},
		Variants: []manifest.Variant{{Name: "thumb", Format: "jpeg", Width: 200, Height: 200, Bytes: 1234, Key: manifest.VariantKey(ready, "thumb", "0a1b2c3d", "jpg"),
			Alternates: []manifest.Alternate{{Format: "avif", Key: manifest.VariantKey(ready, "thumb", "0a1b2c3d", "avif"), Bytes: 500},
				{Format: "webp", Key: manifest.VariantKey(ready, "thumb", "0a1b2c3d", "webp"), Bytes: 800}}}}})
	putManifest(t, objects, manifest.Manifest{ID: failed, Status: manifest.StatusFailed, Owner: settings.AnonymousSubject,
		Source: manifest.Source{Filename: "notes.jpg", Bytes: 12},
		Error:  &manifest.Error{Code: "unsupported_format", Message: "not an image"}})
	cli := manifest.NewID() // uploaded with the AWS CLI, before manifests carried the key's name
	putManifest(t, objects, manifest.Manifest{ID: cli, Status: manifest.StatusReady, Owner: settings.AnonymousSubject,
		Source: manifest.Source{Key: "uploads/holiday/beach.jpg", Format: "jpeg", Bytes: 10}})
	a := newTestAPI(t, objects)

	tests := []struct {
		name   string
		id     string
		status int
		check  func(t *testing.T, r imageResponse)
	}{
		{"ready", ready, 200, func(t *testing.T, r imageResponse) {
			if r.Status != manifest.StatusReady || r.Filename != "cat.jpg" || len(r.Variants) != 1 || r.Source.Width != 4000 {
				t.Fatalf("got %+v", r)
			}
			v := r.Variants[0]
			u, _ := url.Parse(v.URL)
			if v.Width != 200 || u.Path != "/out/"+manifest.VariantKey(ready, "thumb", "0a1b2c3d", "jpg") || u.Query().Get("X-Amz-Expires") != "600" {
				t.Errorf("variant %+v", v)
			}
			if len(v.Alternates) != 2 {
				t.Fatalf("alternates %+v, want avif and webp", v.Alternates)
			}
			for i, want := range []struct {
				format string
				bytes  int64
			}{{"avif", 500}, {"webp", 800}} {
				a := v.Alternates[i]
				au, _ := url.Parse(a.URL)
				if a.Format != want.format || a.Bytes != want.bytes || au.Path != "/out/"+manifest.VariantKey(ready, "thumb", "0a1b2c3d", want.format) || au.Query().Get("X-Amz-Signature") == "" {
					t.Errorf("alternate %d: %+v", i, a)
				}
			}
		}},
		{"failed", failed, 200, func(t *testing.T, r imageResponse) {
			if r.Status != manifest.StatusFailed || r.Error == nil || r.Error.Code != "unsupported_format" || len(r.Variants) != 0 {
				t.Errorf("got %+v", r)
			}
		}},
		{"pending", pending, 200, func(t *testing.T, r imageResponse) {
			if r.Status != manifest.StatusPending || r.Filename != "é cat.jpg" || r.Source.Bytes != 5 || !r.Source.UploadedAt.Equal(uploaded) {
				t.Errorf("got %+v", r)
			}
		}},
		{"no file name: the key's base name", cli, 200, func(t *testing.T, r imageResponse) {
			if r.Filename != "beach.jpg" {
				t.Errorf("filename %q, want beach.jpg", r.Filename)
			}
		}},
		{"unknown", manifest.NewID(), 404, nil},
		{"malformed", "../../etc", 404, nil},
		{"uppercase", strings.ToUpper(ready), 404, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(t, a, "GET", "/v1/images/"+url.PathEscape(tc.id), "", nil)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", rec.Header().Get("Cache-Control"))
			}
			if tc.check == nil {
				if code := errorCode(t, rec); code != "not_found" {
					t.Errorf("code %q", code)
				}
				return
			}
			var r imageResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			tc.check(t, r)
		})
	}
}

func TestImageStatusS3Failure(t *testing.T) {
	a := newTestAPI(t, &fakeObjects{err: errors.New("connection reset")})
	rec := do(t, a, "GET", "/v1/images/"+manifest.NewID(), "", nil)
	if rec.Code != 500 || errorCode(t, rec) != "internal_error" {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
}

func TestRoutesHeadersAndCORS(t *testing.T) {
	a := newTestAPI(t, &fakeObjects{})
	tests := []struct {
		name, method, path string
		header             map[string]string
		status             int
		allowOrigin        string
	}{
		{"health", "GET", "/healthz", nil, 200, ""},
		{"the page is not the API's", "GET", "/", nil, 404, ""},
		{"unknown api path", "GET", "/v1/nothing", nil, 404, ""},
		{"wrong method", "GET", "/v1/uploads", nil, 405, ""},
		{"allowed origin", "GET", "/healthz", map[string]string{"Origin": testOrigin}, 200, testOrigin},
		{"other origin", "GET", "/healthz", map[string]string{"Origin": "https://evil.example"}, 200, ""},
		{"preflight", "OPTIONS", "/v1/uploads", map[string]string{"Origin": testOrigin, "Access-Control-Request-Method": "POST"}, 204, testOrigin},
		{"preflight other origin", "OPTIONS", "/v1/uploads", map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}, 403, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(t, a, tc.method, tc.path, "", tc.header)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != tc.allowOrigin {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tc.allowOrigin)
			}
			csp := rec.Header().Get("Content-Security-Policy")
			if csp != apiCSP {
				t.Errorf("CSP %q", csp)
			}
			if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no nosniff")
			}
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cfg, err := ConfigFromEnv(env(map[string]string{"UPLOADS_BUCKET": "u", "OUTPUT_BUCKET": "o", "ALLOWED_ORIGINS": "https://a.example, https://b.example"}))
	if err != nil || cfg.MaxUploadBytes != 25<<20 || cfg.UploadURLTTL != 5*time.Minute || len(cfg.AllowedOrigins) != 2 || cfg.UploadPrefix != "uploads/" {
		t.Fatalf("defaults: %+v, %v", cfg, err)
	}
	_, err = ConfigFromEnv(env(map[string]string{"MAX_UPLOAD_BYTES": "lots", "UPLOAD_URL_TTL": "soon", "UPLOAD_PREFIX": "x"}))
	for _, name := range []string{"UPLOADS_BUCKET", "OUTPUT_BUCKET", "MAX_UPLOAD_BYTES", "UPLOAD_URL_TTL", "UPLOAD_PREFIX"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}
