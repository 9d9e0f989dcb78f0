package api

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// TestVariantURLsThroughTheCDN: with a CDN the status API hands out lasting,
// unsigned URLs, the variant's own URL listing every encoding it has and each
// alternate at its fixed-format URL; the page may show images from the CDN.
func TestVariantURLsThroughTheCDN(t *testing.T) {
	const cdn = "https://images.example.com"
	id := manifest.NewID()
	key := func(ext string) string { return manifest.VariantKey(id, "thumb", "0a1b2c3d", ext) }
	objects := &fakeObjects{objects: map[string]fakeObject{}}
	putManifest(t, objects, manifest.Manifest{ID: id, Status: manifest.StatusReady, Owner: settings.AnonymousSubject, Variants: []manifest.Variant{
		{Name: "thumb", Format: "jpeg", Width: 200, Height: 200, Bytes: 1234, Key: key("jpg"), Alternates: []manifest.Alternate{
			{Format: "webp", Key: key("webp"), Bytes: 800}, {Format: "avif", Key: key("avif"), Bytes: 600}}},
		{Name: "small", Format: "png", Width: 480, Height: 300, Bytes: 99, Key: manifest.VariantKey(id, "small", "0a1b2c3d", "png")},
		// Written before keys carried a tag: the CDN would not serve it, so it is presigned.
		{Name: "old", Format: "jpeg", Width: 10, Height: 10, Bytes: 9, Key: manifest.VariantsPrefix + id + "/old.jpg"},
	}})
	cfg := testConfig()
	cfg.CDNURL = cdn
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://127.0.0.1:9000"),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
	a, err := New(cfg, objects, s3.NewPresignClient(client), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	for range 2 {
		rec := do(t, a, "GET", "/v1/images/"+id, "", nil)
		if rec.Code != 200 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		var r imageResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if len(r.Variants) != 3 {
			t.Fatalf("variants %+v", r.Variants)
		}
		thumb := r.Variants[0]
		if want := cdn + "/" + id + "/thumb-0a1b2c3d.avif.webp.jpg"; thumb.URL != want {
			t.Errorf("thumb url %q, want %q", thumb.URL, want)
		}
		if len(thumb.Alternates) != 2 || thumb.Alternates[0].URL != cdn+"/"+id+"/thumb-0a1b2c3d.webp" ||
			thumb.Alternates[1].Format != "avif" || thumb.Alternates[1].Bytes != 600 {
			t.Errorf("thumb alternates %+v", thumb.Alternates)
		}
		if want := cdn + "/" + id + "/small-0a1b2c3d.png"; r.Variants[1].URL != want {
			t.Errorf("small url %q, want %q", r.Variants[1].URL, want)
		}
		if old := r.Variants[2].URL; !strings.Contains(old, "X-Amz-Signature=") || !strings.Contains(old, "/old.jpg") {
			t.Errorf("untagged variant url %q: want a presigned URL", old)
		}
		urls = append(urls, thumb.URL)
	}
	// The page's CSP (web.New) admits the output origin the API reports.
	if _, output := a.Origins(); output != cdn {
		t.Errorf("output origin %q, want the CDN %s so the page may show its images", output, cdn)
	}
	if urls[0] != urls[1] || strings.Contains(urls[0], "X-Amz") {
		t.Errorf("URLs %q: want the same unsigned URL on every call", urls)
	}
}

func TestCDNConfig(t *testing.T) {
	env := map[string]string{"UPLOADS_BUCKET": "u", "OUTPUT_BUCKET": "o", "CDN_URL": "https://d1.cloudfront.net/", "CDN_DISTRIBUTION_ID": "E1"}
	if _, err := ConfigFromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "CDN_URL") {
		t.Errorf("a CDN_URL with a trailing slash: err %v, want one naming CDN_URL", err)
	}
	env["CDN_URL"] = "https://d1.cloudfront.net"
	cfg, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil || cfg.CDNURL != env["CDN_URL"] || cfg.CDNDistributionID != "E1" {
		t.Errorf("config %+v, %v", cfg, err)
	}
}
