package cdn

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/imagepipe/imagepipe/shared/delivery"
	"github.com/imagepipe/imagepipe/shared/manifest"
)

type fakeObject struct {
	body, ctype, cache, etag string
}

// fakeBucket is the origin: objects by key, and a count of GETs.
type fakeBucket struct {
	mu      sync.Mutex
	objects map[string]fakeObject
	gets    int
}

func (b *fakeBucket) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.gets++
	o, ok := b.objects[*in.Key]
	if !ok {
		return nil, &types.NoSuchKey{}
	}
	modified := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return &s3.GetObjectOutput{Body: io.NopCloser(strings.NewReader(o.body)), ContentType: &o.ctype, CacheControl: &o.cache,
		ETag: &o.etag, LastModified: &modified}, nil
}

func (b *fakeBucket) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.gets
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestCDN(t *testing.T, objects map[string]fakeObject, tune func(*Config)) (*CDN, *fakeBucket, *clock) {
	t.Helper()
	bucket := &fakeBucket{objects: objects}
	clk := &clock{t: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}
	cfg := Config{Bucket: "out", OriginPath: DefaultOriginPath, Objects: bucket, AllowedOrigins: []string{"https://app.example"}, Now: clk.now}
	if tune != nil {
		tune(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, bucket, clk
}

func serve(c *CDN, method, path string, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	req.RemoteAddr = "[::1]:4321"
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, req)
	return rec
}

func TestEdgeCache(t *testing.T) {
	key := manifest.VariantKey(testID, "thumb", "0a1b2c3d", "jpg")
	mutable := manifest.VariantKey(testID, "thumb", "0a1b2c3d", "png")
	c, bucket, clk := newTestCDN(t, map[string]fakeObject{
		key:     {body: "jpeg bytes", ctype: "image/jpeg", cache: manifest.VariantCacheControl, etag: `"e1"`},
		mutable: {body: "png bytes", ctype: "image/png", cache: "no-cache", etag: `"e2"`},
	}, nil)
	url := testStem + ".jpg"
	tests := []struct {
		name      string
		method    string
		path      string
		header    map[string]string
		advance   time.Duration
		status    int
		xcache    string
		body      string
		originGet int // GETs the origin has seen after this request
	}{
		{"miss", "GET", url, nil, 0, 200, "Miss from localcloud", "jpeg bytes", 1},
		{"hit", "GET", url, nil, 0, 200, "Hit from localcloud", "jpeg bytes", 1},
		{"HEAD hits without a body", "HEAD", url, nil, 0, 200, "Hit from localcloud", "", 1},
		{"304 from the cache", "GET", url, map[string]string{"If-None-Match": `"e1"`}, 0, 304, "Hit from localcloud", "", 1},
		{"If-Modified-Since", "GET", url, map[string]string{"If-Modified-Since": "Sat, 03 Jan 2026 00:00:00 GMT"}, 0, 304, "Hit from localcloud", "", 1},
		{"range", "GET", url, map[string]string{"Range": "bytes=0-3"}, 0, 206, "Hit from localcloud", "jpeg", 1},
		{"expired after a year", "GET", url, nil, 366 * 24 * time.Hour, 200, "Miss from localcloud", "jpeg bytes", 2},
		{"no-cache is fetched each time", "GET", testStem + ".png", nil, 0, 200, "Miss from localcloud", "png bytes", 3},
		{"no-cache again", "GET", testStem + ".png", nil, 0, 200, "Miss from localcloud", "png bytes", 4},
		{"missing object is 403", "GET", testStem + ".webp", nil, 0, 403, "", "", 5},
		{"not a variant URL is the function's 404", "GET", "/manifests/" + testID + ".json", nil, 0, 404, "", "not a variant URL\n", 5},
		{"POST is refused", "POST", url, nil, 0, 403, "", "", 5},
	}
	for _, tc := range tests {
		clk.t = clk.t.Add(tc.advance)
		rec := serve(c, tc.method, tc.path, tc.header)
		if rec.Code != tc.status || rec.Header().Get("X-Cache") != tc.xcache || (tc.body != "" && rec.Body.String() != tc.body) {
			t.Errorf("%s: %d %q %q, want %d %q %q", tc.name, rec.Code, rec.Header().Get("X-Cache"), rec.Body.String(), tc.status, tc.xcache, tc.body)
		}
		if tc.method == "HEAD" && rec.Body.Len() != 0 {
			t.Errorf("%s: HEAD answered %d bytes", tc.name, rec.Body.Len())
		}
		if got := bucket.count(); got != tc.originGet {
			t.Errorf("%s: the origin saw %d GETs, want %d", tc.name, got, tc.originGet)
		}
		// The response headers policy is on every answer, errors included.
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("Content-Security-Policy") != delivery.ContentSecurityPolicy ||
			rec.Header().Get("Vary") != delivery.Vary {
			t.Errorf("%s: policy headers missing: %v", tc.name, rec.Header())
		}
	}
}

func TestCORS(t *testing.T) {
	key := manifest.VariantKey(testID, "thumb", "0a1b2c3d", "jpg")
	c, _, _ := newTestCDN(t, map[string]fakeObject{key: {body: "x", ctype: "image/jpeg", cache: manifest.VariantCacheControl, etag: `"e"`}}, nil)
	for origin, want := range map[string]string{"https://app.example": "https://app.example", "https://evil.example": "", "": ""} {
		rec := serve(c, "GET", testStem+".jpg", map[string]string{"Origin": origin})
		if got := rec.Header().Get("Access-Control-Allow-Origin"); got != want {
			t.Errorf("Origin %q: Access-Control-Allow-Origin %q, want %q", origin, got, want)
		}
	}
}

func TestCacheBoundAndInvalidation(t *testing.T) {
	objects := map[string]fakeObject{}
	for _, name := range []string{"a", "b", "c"} {
		objects[manifest.VariantKey(testID, name, "0a1b2c3d", "jpg")] = fakeObject{body: strings.Repeat(name, 40), ctype: "image/jpeg", cache: manifest.VariantCacheControl, etag: `"` + name + `"`}
	}
	other := "ffffffffffffffffffffffffffffffff"
	objects[manifest.VariantKey(other, "a", "0a1b2c3d", "jpg")] = fakeObject{body: "other", ctype: "image/jpeg", cache: manifest.VariantCacheControl, etag: `"o"`}
	c, bucket, _ := newTestCDN(t, objects, func(cfg *Config) { cfg.CacheBytes = 100 })
	get := func(id, name string) string {
		return serve(c, "GET", "/"+id+"/"+name+"-0a1b2c3d.jpg", nil).Header().Get("X-Cache")
	}
	get(testID, "a")
	get(testID, "b")
	get(testID, "c") // 120 bytes > 100: a, the least recently used, goes
	if x := get(testID, "a"); x != "Miss from localcloud" {
		t.Errorf("a after the cache filled: %q, want a miss (evicted)", x)
	}
	if x := get(testID, "c"); x != "Hit from localcloud" {
		t.Errorf("c: %q, want a hit", x)
	}
	get(other, "a")
	before := bucket.count()
	if _, err := delivery.InvalidateImage(context.Background(), c, "ELOCALCLOUD", testID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if x := get(testID, "c"); x != "Miss from localcloud" {
		t.Errorf("c after invalidating its image: %q, want a miss", x)
	}
	if x := get(other, "a"); x != "Hit from localcloud" {
		t.Errorf("another image after the invalidation: %q, want a hit (only /%s/* was invalidated)", x, testID)
	}
	if bucket.count() != before+1 {
		t.Errorf("origin GETs %d, want %d", bucket.count(), before+1)
	}
	if _, err := c.CreateInvalidation(context.Background(), &cloudfront.CreateInvalidationInput{DistributionId: strPtr("EOTHER")}); err == nil {
		t.Error("an invalidation of another distribution succeeded")
	}
}

func strPtr(s string) *string { return &s }
