package localcloud

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/localcloud/oidc"
	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/ownership"
	"github.com/imagepipe/imagepipe/shared/resize"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// Every bad token answers 401 (403 for a missing scope) with the JSON error body
// and WWW-Authenticate, through the local gateway as through API Gateway.
func TestBadTokensAreRefused(t *testing.T) {
	c := startCloud(t, nil)
	other, err := oidc.New(oidc.Options{URL: c.Issuer.URL(), ClientID: PageClientID, UploadScope: "imagepipe/upload"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	base := func(edit func(m map[string]any)) map[string]any {
		m := map[string]any{"iss": c.Issuer.URL(), "sub": "mallory", "client_id": PageClientID, "token_use": "access",
			"scope": "openid imagepipe/upload", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if edit != nil {
			edit(m)
		}
		return m
	}
	sign := func(is *oidc.Issuer, claims map[string]any) string {
		t.Helper()
		tok, err := is.Sign(claims)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	valid := sign(c.Issuer, base(nil))
	header, payload, _ := strings.Cut(valid, ".")
	payload, _, _ = strings.Cut(payload, ".")
	algNone := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + payload + "."
	_ = header
	tampered := func() string {
		raw, _ := json.Marshal(base(func(m map[string]any) { m["sub"] = "admin" }))
		parts := strings.Split(valid, ".")
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw) + "." + parts[2]
	}()
	upload := `{"filename":"a.png","contentType":"image/png","size":10}`
	tests := []struct {
		name, auth string
		status     int
		code       string
	}{
		{"missing", "", 401, "unauthorized"},
		{"not bearer", "Basic YWxpY2U6c2VjcmV0", 401, "unauthorized"},
		{"garbage", "Bearer not-a-jwt", 401, "unauthorized"},
		{"expired", "Bearer " + sign(c.Issuer, base(func(m map[string]any) { m["exp"] = now.Add(-time.Minute).Unix() })), 401, "unauthorized"},
		{"no exp", "Bearer " + sign(c.Issuer, base(func(m map[string]any) { delete(m, "exp") })), 401, "unauthorized"},
		{"not yet valid", "Bearer " + sign(c.Issuer, base(func(m map[string]any) { m["nbf"] = now.Add(time.Hour).Unix() })), 401, "unauthorized"},
		{"forged (another key, same kid space)", "Bearer " + sign(other, base(nil)), 401, "unauthorized"},
		{"tampered payload", "Bearer " + tampered, 401, "unauthorized"},
		{"alg none", "Bearer " + algNone, 401, "unauthorized"},
		{"wrong issuer", "Bearer " + sign(c.Issuer, base(func(m map[string]any) { m["iss"] = "https://evil.example" })), 401, "unauthorized"},
		{"wrong client_id", "Bearer " + sign(c.Issuer, base(func(m map[string]any) { m["client_id"] = "someone-else" })), 401, "unauthorized"},
		{"wrong audience", "Bearer " + sign(c.Issuer, base(func(m map[string]any) { m["aud"] = "someone-else" })), 401, "unauthorized"},
		{"wrong scope", "Bearer " + sign(c.Issuer, base(func(m map[string]any) { m["scope"] = "openid email" })), 403, "insufficient_scope"},
		{"ID token as access token", "Bearer " + sign(c.Issuer, base(func(m map[string]any) {
			delete(m, "scope")
			delete(m, "client_id")
			m["aud"], m["token_use"] = PageClientID, "id"
		})), 403, "insufficient_scope"},
		{"valid", "Bearer " + valid, 201, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, c.APIURL+"/v1/uploads", strings.NewReader(upload))
			req.Header.Set("Content-Type", "application/json")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			status, hdr, body := do(t, req)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if tc.code == "" {
				return
			}
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != tc.code || e.Error.Message == "" {
				t.Errorf("body %s, want error code %s", body, tc.code)
			}
			if !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q", hdr.Get("WWW-Authenticate"))
			}
			if bytes.Contains(body, []byte("mallory")) || bytes.Contains(body, []byte("admin")) {
				t.Errorf("the answer repeats the token's claims: %s", body)
			}
		})
	}
	// Every /v1 route is behind the authorizer; the page, /healthz and preflights are not.
	for _, p := range []struct{ method, path string }{{"GET", "/v1/images"}, {"GET", "/v1/images/" + manifest.NewID()}, {"DELETE", "/v1/images/" + manifest.NewID()}, {"GET", "/v1/nothing"}} {
		req, _ := http.NewRequest(p.method, c.APIURL+p.path, nil)
		if status, _, body := do(t, req); status != 401 {
			t.Errorf("%s %s without a token: %d %s", p.method, p.path, status, body)
		}
	}
	for _, p := range []string{"/", "/healthz"} {
		req, _ := http.NewRequest(http.MethodGet, c.APIURL+p, nil)
		if status, _, _ := do(t, req); status != 200 {
			t.Errorf("GET %s: %d", p, status)
		}
	}
	req, _ := http.NewRequest(http.MethodOptions, c.APIURL+"/v1/uploads", nil)
	req.Header.Set("Origin", c.APIURL)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	if status, hdr, body := do(t, req); status != 204 || !strings.Contains(hdr.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v %s", status, hdr, body)
	}
}

// An image is its owner's alone: another user gets 404 as for an unknown id,
// lists none of it and cannot delete it.
func TestOwnershipThroughTheLocalCloud(t *testing.T) {
	c := startCloud(t, nil)
	up := presign(t, c, "cat.png", "image/png", len(pngBytes(t, 64, 48)))
	if status, _, body := putUpload(t, up, pngBytes(t, 64, 48), nil); status != 200 {
		t.Fatalf("PUT: %d %s", status, body)
	}
	if st := waitStatus(t, c, up.ID); st.Status != "ready" {
		t.Fatalf("status %+v", st)
	}
	m, err := manifest.Read(context.Background(), c.S3, c.OutputBucket, up.ID)
	if err != nil || m == nil || m.Owner != testUser {
		t.Fatalf("manifest owner: %+v %v", m, err)
	}
	get := func(user, path, method string) (int, []byte) {
		req, _ := http.NewRequest(method, c.APIURL+path, nil)
		authorize(t, c, req, user)
		status, _, body := do(t, req)
		return status, body
	}
	if status, body := get("eve", "/v1/images/"+up.ID, "GET"); status != 404 || bytes.Contains(body, []byte(testUser)) {
		t.Errorf("eve GET: %d %s", status, body)
	}
	if status, body := get("eve", "/v1/images", "GET"); status != 200 || bytes.Contains(body, []byte(up.ID)) {
		t.Errorf("eve lists: %d %s", status, body)
	}
	if status, body := get(testUser, "/v1/images", "GET"); status != 200 || !bytes.Contains(body, []byte(up.ID)) {
		t.Errorf("owner lists: %d %s", status, body)
	}
	if status, _ := get("eve", "/v1/images/"+up.ID, "DELETE"); status != 204 {
		t.Errorf("eve DELETE: %d", status)
	}
	if status, _ := get(testUser, "/v1/images/"+up.ID, "GET"); status != 200 {
		t.Fatalf("eve's delete removed the image: %d", status)
	}
	if status, _ := get(testUser, "/v1/images/"+up.ID, "DELETE"); status != 204 {
		t.Errorf("owner DELETE: %d", status)
	}
	if left := listKeys(t, c, c.OutputBucket, manifest.Prefix(up.ID)); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	if left := listKeys(t, c, c.UploadsBucket, manifest.UploadKey(c.Settings().UploadPrefix, up.ID)); len(left) != 0 {
		t.Errorf("original left: %v", left)
	}
}

func listKeys(t *testing.T, c *Cloud, bucket, prefix string) []string {
	t.Helper()
	out, err := c.S3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, *o.Key)
	}
	return keys
}

// pausingStore holds the resize function's manifest write until released: the
// delete then runs entirely between the variants and the manifest, the worst
// moment, and the image must still vanish.
type pausingStore struct {
	*s3.Client
	once     sync.Once
	paused   chan struct{}
	release  chan struct{}
	manifest string
}

func (p *pausingStore) PutObject(ctx context.Context, in *s3.PutObjectInput, opt ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if *in.Key == p.manifest {
		p.once.Do(func() { close(p.paused) })
		<-p.release
	}
	return p.Client.PutObject(ctx, in, opt...)
}

func TestDeleteRacingAnInFlightResizeLeavesNothing(t *testing.T) {
	c := startCloud(t, func(cfg *Config) { cfg.NoEventSource = true })
	data := pngBytes(t, 64, 48)
	up := presign(t, c, "race.png", "image/png", len(data))
	if status, _, body := putUpload(t, up, data, nil); status != 200 {
		t.Fatalf("PUT: %d %s", status, body)
	}
	store := &pausingStore{Client: c.S3, paused: make(chan struct{}), release: make(chan struct{}), manifest: manifest.Key(up.ID)}
	h := newResizeHandler(t, c, store)
	done := make(chan error, 1)
	go func() {
		key := manifest.UploadKey(c.Settings().UploadPrefix, up.ID)
		_, err := h(context.Background(), events.SQSEvent{Records: []events.SQSMessage{s3EventMessage(c, key)}})
		done <- err
	}()
	<-store.paused // variants are written; the manifest is not
	req, _ := http.NewRequest(http.MethodDelete, c.APIURL+"/v1/images/"+up.ID, nil)
	authorize(t, c, req, testUser)
	if status, _, body := do(t, req); status != 204 {
		t.Fatalf("DELETE: %d %s", status, body)
	}
	close(store.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if left := listKeys(t, c, c.OutputBucket, manifest.Prefix(up.ID)); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	if left := listKeys(t, c, c.OutputBucket, ownership.OwnerIndexPrefix(testUser)); len(left) != 0 {
		t.Errorf("index left: %v", left)
	}
	req, _ = http.NewRequest(http.MethodGet, c.APIURL+"/v1/images/"+up.ID, nil)
	authorize(t, c, req, testUser)
	if status, _, _ := do(t, req); status != 404 {
		t.Errorf("GET after the race: %d", status)
	}
}

func TestNoneModeIsOpen(t *testing.T) {
	c := startCloud(t, func(cfg *Config) { cfg.Settings.Auth.Mode = settings.AuthNone })
	if c.Issuer != nil {
		t.Fatal("an issuer in none mode")
	}
	up := presign(t, c, "a.png", "image/png", 10)
	if !manifest.ValidID(up.ID) {
		t.Fatalf("upload %+v", up)
	}
}

// newResizeHandler builds the real resize handler over store, as the cloud does.
func newResizeHandler(t *testing.T, c *Cloud, store resize.ObjectStore) func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	t.Helper()
	cfg, err := resize.ConfigFromEnv(getenv(c.Settings().ResizeEnv(c.UploadsBucket, c.OutputBucket)))
	if err != nil {
		t.Fatal(err)
	}
	h, err := resize.New(cfg, store, c.log, c.Metrics())
	if err != nil {
		t.Fatal(err)
	}
	return h.Handle
}

// s3EventMessage is the SQS message S3 sends for a PUT of key.
func s3EventMessage(c *Cloud, key string) events.SQSMessage {
	ev := events.S3Event{Records: []events.S3EventRecord{{EventVersion: "2.1", EventSource: "aws:s3", AWSRegion: DefaultRegion,
		EventName: "ObjectCreated:Put", S3: events.S3Entity{Bucket: events.S3Bucket{Name: c.UploadsBucket},
			Object: events.S3Object{Key: EncodeEventKey(key), URLDecodedKey: key}}}}}
	body, _ := json.Marshal(ev)
	return events.SQSMessage{MessageId: "race", Body: string(body)}
}
