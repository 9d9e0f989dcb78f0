package localcloud

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	cdnurl "github.com/imagepipe/imagepipe/shared/delivery"
	"github.com/imagepipe/imagepipe/shared/manifest"
)

const (
	chromeAccept = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
	legacyAccept = "image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
)

func get(t *testing.T, url string, header map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return do(t, req)
}

// TestDeliveryThroughTheLocalCDN: an uploaded image's variant URLs point at the
// local CDN, last across calls, carry no signature, and answer with the deployed
// headers and cache semantics.
func TestDeliveryThroughTheLocalCDN(t *testing.T) {
	c := startCloud(t, nil)
	if c.CDNURL == "" || c.CDN == nil {
		t.Fatal("the default settings have a CDN, but the local cloud started none")
	}
	data := pngBytes(t, 640, 480)
	up := presign(t, c, "cdn.png", "image/png", len(data))
	if status, _, body := putUpload(t, up, data, nil); status != http.StatusOK {
		t.Fatalf("PUT upload: %d %s", status, body)
	}
	st := waitStatus(t, c, up.ID)
	if st.Status != "ready" {
		t.Fatalf("status %+v", st)
	}
	again := waitStatus(t, c, up.ID)
	for i, v := range st.Variants {
		if !strings.HasPrefix(v.URL, c.CDNURL+"/"+up.ID+"/") || strings.Contains(v.URL, "X-Amz") {
			t.Errorf("variant %s URL %q: want an unsigned URL on %s", v.Name, v.URL, c.CDNURL)
		}
		if again.Variants[i].URL != v.URL {
			t.Errorf("variant %s URL changed between calls: %q then %q", v.Name, v.URL, again.Variants[i].URL)
		}
	}
	checkVariants(t, st)

	url := st.Variants[0].URL
	status, hdr, body := get(t, url, map[string]string{"Accept": chromeAccept, "Origin": c.APIURL})
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, status, body)
	}
	want := map[string]string{
		"Cache-Control":               manifest.VariantCacheControl,
		"Vary":                        cdnurl.Vary,
		"X-Content-Type-Options":      "nosniff",
		"Strict-Transport-Security":   cdnurl.HSTS(),
		"Content-Security-Policy":     cdnurl.ContentSecurityPolicy,
		"Access-Control-Allow-Origin": c.APIURL,
		// checkVariants fetched it already, through the CDN.
		"X-Cache": "Hit from localcloud",
	}
	for k, v := range want {
		if got := hdr.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	etag := hdr.Get("ETag")
	if etag == "" || hdr.Get("Last-Modified") == "" {
		t.Fatalf("no ETag or Last-Modified: %v", hdr)
	}
	// The second answer comes from the edge cache, byte for byte.
	status, hdr, again2 := get(t, url, map[string]string{"Accept": chromeAccept})
	if status != http.StatusOK || hdr.Get("X-Cache") != "Hit from localcloud" || !bytes.Equal(again2, body) || hdr.Get("ETag") != etag {
		t.Errorf("second GET: %d, X-Cache %q, same bytes %v", status, hdr.Get("X-Cache"), bytes.Equal(again2, body))
	}
	if hdr.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS header %q without an Origin", hdr.Get("Access-Control-Allow-Origin"))
	}
	status, hdr, body = get(t, url, map[string]string{"Accept": chromeAccept, "If-None-Match": etag})
	if status != http.StatusNotModified || len(body) != 0 || hdr.Get("ETag") != etag || hdr.Get("Vary") != cdnurl.Vary ||
		hdr.Get("Cache-Control") != manifest.VariantCacheControl {
		t.Errorf("If-None-Match: %d, ETag %q, Vary %q, Cache-Control %q, %d bytes; want 304 with the same validators",
			status, hdr.Get("ETag"), hdr.Get("Vary"), hdr.Get("Cache-Control"), len(body))
	}
	if status, _, _ := get(t, url, map[string]string{"If-None-Match": `"something-else"`}); status != http.StatusOK {
		t.Errorf("If-None-Match with another ETag: %d, want 200", status)
	}
	if status, _, _ = get(t, url, map[string]string{"Origin": "https://evil.example"}); status != http.StatusOK {
		t.Errorf("GET from another origin: %d", status)
	}

	// Nothing but variants: not the manifest, not a made-up name, not another method.
	for _, path := range []string{"/manifests/" + up.ID + ".json", "/" + up.ID + "/manifest.json", "/../" + manifest.Key(up.ID), "/"} {
		if status, _, body := get(t, c.CDNURL+path, nil); status == http.StatusOK {
			t.Errorf("GET %s served: %s", path, body)
		}
	}
	missing := strings.Replace(url, up.ID, manifest.NewID(), 1)
	if status, _, _ := get(t, missing, nil); status != http.StatusForbidden {
		t.Errorf("GET of a variant that does not exist: %d, want 403 as S3 answers a distribution that may not list", status)
	}
	req, _ := http.NewRequest(http.MethodDelete, url, nil)
	if status, _, _ := do(t, req); status != http.StatusForbidden {
		t.Errorf("DELETE through the CDN: %d, want 403", status)
	}
}

// TestNegotiationThroughTheLocalCDN: a variant with AVIF and WebP alternates has
// one URL that answers each browser with the best encoding it accepts.
func TestNegotiationThroughTheLocalCDN(t *testing.T) {
	c := startCloud(t, nil)
	ctx := context.Background()
	id := manifest.NewID()
	tag := "0a1b2c3d"
	put := func(key, ctype, body, cache string) {
		t.Helper()
		if _, err := c.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: &c.OutputBucket, Key: &key, Body: strings.NewReader(body),
			ContentType: &ctype, CacheControl: &cache}); err != nil {
			t.Fatal(err)
		}
	}
	key := func(name, ext string) string { return manifest.VariantKey(id, name, tag, ext) }
	put(key("thumb", "jpg"), "image/jpeg", "jpeg bytes", manifest.VariantCacheControl)
	put(key("thumb", "webp"), "image/webp", "webp bytes", manifest.VariantCacheControl)
	put(key("thumb", "avif"), "image/avif", "avif bytes", manifest.VariantCacheControl)
	put(key("small", "jpg"), "image/jpeg", "small jpeg", manifest.VariantCacheControl)
	put(key("small", "webp"), "image/webp", "small webp", manifest.VariantCacheControl)
	m := manifest.Manifest{Version: manifest.Version, ID: id, Status: manifest.StatusReady, Owner: testUser, CompletedAt: time.Now(), Variants: []manifest.Variant{
		{Name: "thumb", Format: "jpeg", Width: 2, Height: 2, Bytes: 10, Key: key("thumb", "jpg"), Alternates: []manifest.Alternate{
			{Format: "webp", Key: key("thumb", "webp"), Bytes: 10}, {Format: "avif", Key: key("thumb", "avif"), Bytes: 10}}},
		{Name: "small", Format: "jpeg", Width: 2, Height: 2, Bytes: 10, Key: key("small", "jpg"), Alternates: []manifest.Alternate{
			{Format: "webp", Key: key("small", "webp"), Bytes: 10}}},
	}}
	raw, _ := json.Marshal(m)
	put(manifest.Key(id), "application/json", string(raw), manifest.ManifestCacheControl)

	req, _ := http.NewRequest(http.MethodGet, c.APIURL+"/v1/images/"+id, nil)
	authorize(t, c, req, testUser)
	status, _, body := do(t, req)
	if status != http.StatusOK {
		t.Fatalf("status API: %d %s", status, body)
	}
	var resp struct {
		Variants []struct {
			Name       string `json:"name"`
			URL        string `json:"url"`
			Alternates []struct {
				Format string `json:"format"`
				URL    string `json:"url"`
			} `json:"alternates"`
		} `json:"variants"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || len(resp.Variants) != 2 {
		t.Fatalf("status API: %v %s", err, body)
	}
	thumb, small := resp.Variants[0], resp.Variants[1]
	tests := []struct {
		name, url, accept, wantType, wantBody string
	}{
		{"chrome gets avif", thumb.URL, chromeAccept, "image/avif", "avif bytes"},
		{"a legacy browser gets jpeg", thumb.URL, legacyAccept, "image/jpeg", "jpeg bytes"},
		{"no Accept gets jpeg", thumb.URL, "", "image/jpeg", "jpeg bytes"},
		{"avif refused gets webp", thumb.URL, "image/avif;q=0,image/webp,*/*", "image/webp", "webp bytes"},
		{"chrome again, from the cache", thumb.URL, chromeAccept, "image/avif", "avif bytes"},
		{"avif missing: webp, never a 404", small.URL, chromeAccept, "image/webp", "small webp"},
		{"avif missing, legacy browser", small.URL, legacyAccept, "image/jpeg", "small jpeg"},
	}
	for _, alt := range thumb.Alternates {
		tests = append(tests, struct{ name, url, accept, wantType, wantBody string }{
			"fixed-format " + alt.Format + " URL for any browser", alt.URL, legacyAccept, "image/" + alt.Format, alt.Format + " bytes"})
	}
	if len(thumb.Alternates) != 2 {
		t.Fatalf("thumb alternates %+v", thumb.Alternates)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			header := map[string]string{}
			if tc.accept != "" {
				header["Accept"] = tc.accept
			}
			status, hdr, body := get(t, tc.url, header)
			if status != http.StatusOK || hdr.Get("Content-Type") != tc.wantType || string(body) != tc.wantBody {
				t.Errorf("GET %s (Accept %q): %d %s %q, want %s %q", tc.url, tc.accept, status, hdr.Get("Content-Type"), body, tc.wantType, tc.wantBody)
			}
			if hdr.Get("Vary") != cdnurl.Vary || hdr.Get("Cache-Control") != manifest.VariantCacheControl {
				t.Errorf("Vary %q, Cache-Control %q", hdr.Get("Vary"), hdr.Get("Cache-Control"))
			}
		})
	}

	// Invalidation (the hook a deletion uses) empties the edge cache for the image.
	if _, hdr, _ := get(t, thumb.URL, map[string]string{"Accept": chromeAccept}); hdr.Get("X-Cache") != "Hit from localcloud" {
		t.Fatalf("X-Cache %q before the invalidation, want a hit", hdr.Get("X-Cache"))
	}
	if _, err := c.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &c.OutputBucket, Key: aws.String(key("thumb", "avif"))}); err != nil {
		t.Fatal(err)
	}
	if _, err := cdnurl.InvalidateImage(ctx, c.CDN, localDistributionID, id, time.Now()); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := get(t, thumb.URL, map[string]string{"Accept": chromeAccept}); status != http.StatusForbidden {
		t.Errorf("after deleting the AVIF and invalidating: %d, want 403 (nothing cached, nothing at the origin)", status)
	}
}

// TestNoCDNMeansPresignedURLs: with the CDN turned off, the status API hands out
// presigned S3 URLs as before, and no CDN listens.
func TestNoCDNMeansPresignedURLs(t *testing.T) {
	c := startCloud(t, func(cfg *Config) { cfg.Settings.CDN.Enabled = false })
	if c.CDNURL != "" || c.CDN != nil {
		t.Fatalf("CDN %q started with the cdn setting off", c.CDNURL)
	}
	data := pngBytes(t, 320, 200)
	up := presign(t, c, "nocdn.png", "image/png", len(data))
	if status, _, body := putUpload(t, up, data, nil); status != http.StatusOK {
		t.Fatalf("PUT upload: %d %s", status, body)
	}
	st := waitStatus(t, c, up.ID)
	for _, v := range st.Variants {
		if !strings.HasPrefix(v.URL, c.S3URL+"/") || !strings.Contains(v.URL, "X-Amz-Signature=") {
			t.Errorf("variant %s URL %q: want a presigned S3 URL", v.Name, v.URL)
		}
	}
	checkVariants(t, st)
}
