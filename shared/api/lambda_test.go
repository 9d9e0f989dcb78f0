package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/imagepipe/imagepipe/shared/delivery"
	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/ownership"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// gatewayEvent is what API Gateway (HTTP API, payload 2.0) sends the function;
// claims, when not nil, are what its JWT authorizer verified.
func gatewayEvent(method, target, body string, claims map[string]string) events.APIGatewayV2HTTPRequest {
	path, query, _ := strings.Cut(target, "?")
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default", RawPath: path, RawQueryString: query,
		Headers: map[string]string{"content-type": "application/json", "origin": testOrigin},
		Body:    body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path, Protocol: "HTTP/1.1", SourceIP: "203.0.113.7"},
		},
	}
	if claims != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
		}
	}
	return ev
}

func claimsOf(sub string, scopes ...string) map[string]string {
	return map[string]string{"sub": sub, "scope": strings.Join(scopes, " "), "client_id": "page", "token_use": "access"}
}

// call sends one request through the adapter functions/api uses.
func call(t *testing.T, a *API, method, target, body string, claims map[string]string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	resp, err := httpadapter.NewV2(a).ProxyWithContext(context.Background(), gatewayEvent(method, target, body, claims))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// The function runs this handler behind API Gateway through the same adapter
// functions/api uses; these events are what API Gateway sends.
func TestBehindAPIGatewayPayloadV2(t *testing.T) {
	a := newTestAPI(t, &fakeObjects{})
	tests := []struct {
		name, method, path, body string
		status                   int
		bodyHas                  string
	}{
		{"upload", "POST", "/v1/uploads", `{"filename":"cat.jpg","contentType":"image/jpeg","size":10}`, 201, `"statusUrl":"/v1/images/`},
		{"refused", "POST", "/v1/uploads", `{"filename":"cat.jpg","contentType":"image/jpeg","size":100000}`, 413, `"too_large"`},
		{"unknown image", "GET", "/v1/images/" + strings.Repeat("a", 32), "", 404, `"not_found"`},
		{"health", "GET", "/healthz", "", 200, `"ok"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := call(t, a, tc.method, tc.path, tc.body, nil)
			if resp.StatusCode != tc.status || !strings.Contains(resp.Body, tc.bodyHas) {
				t.Fatalf("status %d, body %.200s; want %d with %q", resp.StatusCode, resp.Body, tc.status, tc.bodyHas)
			}
			if resp.Headers["Access-Control-Allow-Origin"] != testOrigin || resp.Headers["Content-Security-Policy"] != apiCSP {
				t.Errorf("headers %v", resp.Headers)
			}
			if tc.status == 201 {
				var up uploadResponse
				if err := json.Unmarshal([]byte(resp.Body), &up); err != nil || up.Upload.Headers["If-None-Match"] != "*" {
					t.Errorf("upload response %s: %v", resp.Body, err)
				}
			}
		})
	}
}

func authConfig() Config {
	cfg := testConfig()
	cfg.AuthMode = settings.AuthCognito
	return cfg
}

// Without the authorizer's claims nothing under /v1 is served in an auth mode,
// and uploading needs the scope.
func TestAuthRequired(t *testing.T) {
	a := newTestAPIWith(t, &fakeObjects{}, authConfig())
	upload := `{"filename":"cat.jpg","contentType":"image/jpeg","size":10}`
	id := ownership.NewID(time.Now())
	tests := []struct {
		name, method, path, body string
		claims                   map[string]string
		status                   int
		code                     string
	}{
		{"upload without claims", "POST", "/v1/uploads", upload, nil, 401, "unauthorized"},
		{"status without claims", "GET", "/v1/images/" + id, "", nil, 401, "unauthorized"},
		{"list without claims", "GET", "/v1/images", "", nil, 401, "unauthorized"},
		{"delete without claims", "DELETE", "/v1/images/" + id, "", nil, 401, "unauthorized"},
		{"claims without a subject", "GET", "/v1/images", "", map[string]string{"scope": "imagepipe/upload"}, 401, "unauthorized"},
		{"upload without the scope", "POST", "/v1/uploads", upload, claimsOf("alice", "openid", "email"), 403, "insufficient_scope"},
		{"an ID token (no scope at all)", "POST", "/v1/uploads", upload, map[string]string{"sub": "alice", "aud": "page", "token_use": "id"}, 403, "insufficient_scope"},
		{"upload with the scope", "POST", "/v1/uploads", upload, claimsOf("alice", "openid", "imagepipe/upload"), 201, ""},
		{"list needs no scope", "GET", "/v1/images", "", claimsOf("alice"), 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := call(t, a, tc.method, tc.path, tc.body, tc.claims)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, resp.Body)
			}
			if tc.code == "" {
				return
			}
			var body errorBody
			if err := json.Unmarshal([]byte(resp.Body), &body); err != nil || body.Error.Code != tc.code || body.Error.Message == "" {
				t.Errorf("body %s, want code %s", resp.Body, tc.code)
			}
			if !strings.HasPrefix(resp.Headers["Www-Authenticate"], "Bearer ") {
				t.Errorf("WWW-Authenticate %q", resp.Headers["Www-Authenticate"])
			}
		})
	}
}

// presignAs asks for an upload as sub and stores the original the way S3 would
// from the presigned PUT: with the metadata the URL signed.
func presignAs(t *testing.T, a *API, objects *fakeObjects, sub string) string {
	t.Helper()
	resp := call(t, a, "POST", "/v1/uploads", `{"filename":"cat.jpg","contentType":"image/jpeg","size":10}`, claimsOf(sub, "imagepipe/upload"))
	if resp.StatusCode != 201 {
		t.Fatalf("presign: %d %s", resp.StatusCode, resp.Body)
	}
	var up uploadResponse
	if err := json.Unmarshal([]byte(resp.Body), &up); err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{}
	for k, v := range up.Upload.Headers {
		if name, ok := strings.CutPrefix(strings.ToLower(k), "x-amz-meta-"); ok {
			meta[name] = v
		}
	}
	objects.mu.Lock()
	objects.objects["up/uploads/"+up.ID] = fakeObject{body: make([]byte, 10), meta: meta, modified: time.Now()}
	objects.mu.Unlock()
	return up.ID
}

// finish writes what the resize function would: variants, an alternate and the
// manifest recording the owner.
func finish(t *testing.T, objects *fakeObjects, id, owner string) {
	t.Helper()
	thumb := manifest.VariantKey(id, "thumb", "0a1b2c3d", "jpg")
	webp := manifest.VariantKey(id, "thumb", "0a1b2c3d", "webp")
	objects.objects["out/"+thumb] = fakeObject{body: []byte("j")}
	objects.objects["out/"+webp] = fakeObject{body: []byte("w")}
	putManifest(t, objects, manifest.Manifest{ID: id, Status: manifest.StatusReady, Owner: owner,
		Variants: []manifest.Variant{{Name: "thumb", Format: "jpeg", Key: thumb, Alternates: []manifest.Alternate{{Format: "webp", Key: webp}}}}})
}

func TestOwnersSeeOnlyTheirOwnImages(t *testing.T) {
	objects := &fakeObjects{}
	a := newTestAPIWith(t, objects, authConfig())
	pending := presignAs(t, a, objects, "alice")
	ready := presignAs(t, a, objects, "alice")
	finish(t, objects, ready, "alice")
	for _, id := range []string{pending, ready} {
		if resp := call(t, a, "GET", "/v1/images/"+id, "", claimsOf("alice")); resp.StatusCode != 200 {
			t.Errorf("alice GET her %s: %d %s", id, resp.StatusCode, resp.Body)
		}
		resp := call(t, a, "GET", "/v1/images/"+id, "", claimsOf("bob"))
		unknown := call(t, a, "GET", "/v1/images/"+ownership.NewID(time.Now()), "", claimsOf("bob"))
		if resp.StatusCode != 404 || resp.StatusCode != unknown.StatusCode ||
			strings.ReplaceAll(resp.Body, id, "") != strings.ReplaceAll(unknown.Body, unknownID(unknown.Body), "") {
			t.Errorf("bob GET alice's %s: %d %s; unknown id: %d %s", id, resp.StatusCode, resp.Body, unknown.StatusCode, unknown.Body)
		}
	}
	if ids := listIDs(t, a, "bob", ""); len(ids) != 0 {
		t.Errorf("bob lists %v", ids)
	}
	// The owner is the token's subject, whatever the client says.
	if got := objects.objects["up/uploads/"+pending].meta["owner"]; got != "alice" {
		t.Errorf("owner metadata %q", got)
	}
}

func unknownID(body string) string {
	var b errorBody
	_ = json.Unmarshal([]byte(body), &b)
	_, rest, _ := strings.Cut(b.Error.Message, `"`)
	id, _, _ := strings.Cut(rest, `"`)
	return id
}

func listIDs(t *testing.T, a *API, sub, query string) []string {
	t.Helper()
	var all []string
	cursor := ""
	for range 20 {
		target := "/v1/images?" + query
		if cursor != "" {
			target += "&cursor=" + url.QueryEscape(cursor)
		}
		resp := call(t, a, "GET", target, "", claimsOf(sub))
		if resp.StatusCode != 200 {
			t.Fatalf("list: %d %s", resp.StatusCode, resp.Body)
		}
		var page listResponse
		if err := json.Unmarshal([]byte(resp.Body), &page); err != nil {
			t.Fatal(err)
		}
		for _, im := range page.Images {
			all = append(all, im.ID)
		}
		if cursor = page.NextCursor; cursor == "" {
			return all
		}
	}
	t.Fatal("listing never ended")
	return nil
}

func TestListNewestFirstInPages(t *testing.T) {
	objects := &fakeObjects{}
	a := newTestAPIWith(t, objects, authConfig())
	clock := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	a.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	var want []string
	for range 5 {
		want = append([]string{presignAs(t, a, objects, "alice")}, want...)
	}
	presignAs(t, a, objects, "bob")
	// A presign whose upload never came is left out.
	ghost := call(t, a, "POST", "/v1/uploads", `{"filename":"x.jpg","contentType":"image/jpeg","size":1}`, claimsOf("alice", "imagepipe/upload"))
	if ghost.StatusCode != 201 {
		t.Fatal(ghost.Body)
	}
	if got := listIDs(t, a, "alice", "limit=2"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("pages of 2: %v\nwant %v", got, want)
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=x"} {
		if resp := call(t, a, "GET", "/v1/images?"+q, "", claimsOf("alice")); resp.StatusCode != 400 || !strings.Contains(resp.Body, "bad_limit") {
			t.Errorf("%s: %d %s", q, resp.StatusCode, resp.Body)
		}
	}
	if resp := call(t, a, "GET", "/v1/images?cursor=../../x", "", claimsOf("alice")); resp.StatusCode != 400 || !strings.Contains(resp.Body, "bad_cursor") {
		t.Errorf("bad cursor: %d %s", resp.StatusCode, resp.Body)
	}
}

type recordingListener struct{ got []ownership.Deletion }

func (l *recordingListener) ImageDeleted(_ context.Context, d ownership.Deletion) error {
	l.got = append(l.got, d)
	return nil
}

func TestDeleteRemovesEverythingAndIsIdempotent(t *testing.T) {
	objects := &fakeObjects{}
	a := newTestAPIWith(t, objects, authConfig())
	listener := &recordingListener{}
	a.Deletions().Listener = listener
	id := presignAs(t, a, objects, "alice")
	finish(t, objects, id, "alice")
	other := presignAs(t, a, objects, "alice")

	// Bob's delete of alice's image answers as for an unknown one and does nothing.
	before := strings.Join(objects.keys(""), ",")
	if resp := call(t, a, "DELETE", "/v1/images/"+id, "", claimsOf("bob")); resp.StatusCode != 204 {
		t.Fatalf("bob: %d %s", resp.StatusCode, resp.Body)
	}
	if strings.Join(objects.keys(""), ",") != before || len(listener.got) != 0 {
		t.Fatalf("bob's delete removed something: %v", objects.keys("out/"))
	}
	for range 2 {
		if resp := call(t, a, "DELETE", "/v1/images/"+id, "", claimsOf("alice")); resp.StatusCode != 204 || resp.Body != "" {
			t.Fatalf("alice: %d %s", resp.StatusCode, resp.Body)
		}
	}
	if left := append(objects.keys("out/"+manifest.Prefix(id)), objects.keys("up/uploads/"+id)...); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	if got := listIDs(t, a, "alice", ""); strings.Join(got, ",") != other {
		t.Errorf("alice lists %v, want only %s", got, other)
	}
	if resp := call(t, a, "GET", "/v1/images/"+id, "", claimsOf("alice")); resp.StatusCode != 404 {
		t.Errorf("GET after delete: %d", resp.StatusCode)
	}
	// The second delete found only the tombstone and ran again; both told the listener.
	if len(listener.got) != 2 || listener.got[0].ID != id || listener.got[0].Owner != "alice" {
		t.Errorf("listener heard %+v", listener.got)
	}
	if resp := call(t, a, "DELETE", "/v1/images/not-an-id", "", claimsOf("alice")); resp.StatusCode != 404 {
		t.Errorf("malformed id: %d", resp.StatusCode)
	}
}

func TestQuota(t *testing.T) {
	objects := &fakeObjects{}
	cfg := authConfig()
	cfg.QuotaUploadsPerDay, cfg.QuotaBytesPerDay = 2, 1500
	a := newTestAPIWith(t, objects, cfg)
	clock := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return clock }
	up := func(sub string, size int) events.APIGatewayV2HTTPResponse {
		return call(t, a, "POST", "/v1/uploads", `{"filename":"a.jpg","contentType":"image/jpeg","size":`+strconv.Itoa(size)+`}`, claimsOf(sub, "imagepipe/upload"))
	}
	if r := up("alice", 1000); r.StatusCode != 201 {
		t.Fatal(r.Body)
	}
	clock = clock.Add(time.Hour)
	// 1000 + 600 bytes is over 1500: wait until the first upload is 24 hours old.
	r := up("alice", 600)
	if r.StatusCode != http.StatusTooManyRequests || !strings.Contains(r.Body, "quota_exceeded") || r.Headers["Retry-After"] != strconv.Itoa(23*3600) {
		t.Fatalf("bytes: %d %v %s", r.StatusCode, r.Headers, r.Body)
	}
	if r := up("alice", 400); r.StatusCode != 201 {
		t.Fatal(r.Body)
	}
	clock = clock.Add(time.Hour)
	r = up("alice", 1)
	if r.StatusCode != http.StatusTooManyRequests || r.Headers["Retry-After"] != strconv.Itoa(22*3600) {
		t.Fatalf("count: %d %v %s", r.StatusCode, r.Headers, r.Body)
	}
	if r := up("bob", 1); r.StatusCode != 201 {
		t.Errorf("bob has his own quota: %d %s", r.StatusCode, r.Body)
	}
	clock = clock.Add(22 * time.Hour) // the first upload has left the window
	if r := up("alice", 1); r.StatusCode != 201 {
		t.Errorf("after a day: %d %s", r.StatusCode, r.Body)
	}
}

type fakeCDN struct{ paths []string }

func (f *fakeCDN) CreateInvalidation(_ context.Context, in *cloudfront.CreateInvalidationInput, _ ...func(*cloudfront.Options)) (*cloudfront.CreateInvalidationOutput, error) {
	if *in.DistributionId != "E123" || in.InvalidationBatch.CallerReference == nil {
		return nil, errors.New("bad invalidation request")
	}
	f.paths = append(f.paths, in.InvalidationBatch.Paths.Items...)
	return &cloudfront.CreateInvalidationOutput{}, nil
}

func TestDeleteInvalidatesTheCDN(t *testing.T) {
	objects := &fakeObjects{}
	a := newTestAPIWith(t, objects, authConfig())
	cdn := &fakeCDN{}
	a.Deletions().CDN, a.Deletions().DistributionID = cdn, "E123"
	id := presignAs(t, a, objects, "alice")
	finish(t, objects, id, "alice")
	if resp := call(t, a, "DELETE", "/v1/images/"+id, "", claimsOf("alice")); resp.StatusCode != 204 {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	if strings.Join(cdn.paths, ",") != strings.Join(delivery.InvalidationPaths(id), ",") {
		t.Errorf("invalidated %v", cdn.paths)
	}
	// Nobody else's delete reaches the CDN.
	other := presignAs(t, a, objects, "alice")
	call(t, a, "DELETE", "/v1/images/"+other, "", claimsOf("bob"))
	if len(cdn.paths) != 1 {
		t.Errorf("bob's delete invalidated %v", cdn.paths)
	}
}
