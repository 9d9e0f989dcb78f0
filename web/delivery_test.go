package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/imagepipe/imagepipe/localcloud"
	"github.com/imagepipe/imagepipe/shared/delivery"
	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/ownership"
	"github.com/imagepipe/imagepipe/shared/resize"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// fixtureVariant is one variant written from testdata/delivery, with its encodings.
type fixtureVariant struct {
	name          string
	width, height int
	primary       string   // file extension of the primary (jpg)
	alternates    []string // manifest formats of the alternates
}

var fixtureVariants = []fixtureVariant{
	{"thumb", 200, 200, "jpg", []string{"webp", "avif"}},
	{"small", 320, 481, "jpg", []string{"webp"}},
}

// alternatesResize stands in for the resize function once it writes AVIF and
// WebP alternates: for each upload it writes testdata/delivery's encodings under
// the real variant keys, with the real Cache-Control, and a manifest listing them.
func alternatesResize(t *testing.T, cloud *atomic.Pointer[localcloud.Cloud]) func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	t.Helper()
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		c := cloud.Load()
		var resp events.SQSEventResponse
		for _, msg := range ev.Records {
			if err := writeFixtures(ctx, c, msg); err != nil {
				t.Logf("fixture resize: %v", err)
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: msg.MessageId})
			}
		}
		return resp, nil
	}
}

func writeFixtures(ctx context.Context, c *localcloud.Cloud, msg events.SQSMessage) error {
	records, err := resize.ParseBody(msg.Body)
	if err != nil {
		return nil // the test event
	}
	put := func(key, ctype, cache string, body []byte) error {
		_, err := c.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: &c.OutputBucket, Key: &key, Body: strings.NewReader(string(body)),
			ContentType: &ctype, CacheControl: &cache})
		return err
	}
	for _, r := range records {
		id, ok := manifest.IDForUploadKey(c.Settings().UploadPrefix, r.S3.Object.URLDecodedKey)
		if !ok {
			continue
		}
		// The owner is what the API signed into the upload, as the real resize reads it.
		key := r.S3.Object.URLDecodedKey
		head, err := c.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &c.UploadsBucket, Key: &key})
		if err != nil {
			return err
		}
		m := manifest.Manifest{Version: manifest.Version, ID: id, Status: manifest.StatusReady, CompletedAt: time.Now().UTC(),
			Owner:  head.Metadata[ownership.OwnerMetaKey],
			Source: manifest.Source{Key: key, Filename: "friends.jpg", Format: "jpeg", Width: 640, Height: 963}}
		for _, fv := range fixtureVariants {
			read := func(ext string) ([]byte, error) {
				return os.ReadFile(filepath.Join("..", "testdata", "delivery", fv.name+"."+ext))
			}
			tag := "0a1b2c3d"
			body, err := read(fv.primary)
			if err != nil {
				return err
			}
			v := manifest.Variant{Name: fv.name, Format: "jpeg", Width: fv.width, Height: fv.height, Bytes: int64(len(body)),
				Key: manifest.VariantKey(id, fv.name, tag, fv.primary)}
			if err := put(v.Key, "image/jpeg", manifest.VariantCacheControl, body); err != nil {
				return err
			}
			for _, f := range fv.alternates {
				body, err := read(f)
				if err != nil {
					return err
				}
				a := manifest.Alternate{Format: f, Key: manifest.VariantKey(id, fv.name, tag, f), Bytes: int64(len(body))}
				if err := put(a.Key, "image/"+f, manifest.VariantCacheControl, body); err != nil {
					return err
				}
				v.Alternates = append(v.Alternates, a)
			}
			m.Variants = append(m.Variants, v)
		}
		raw, _ := json.Marshal(m)
		if err := put(manifest.Key(id), "application/json", manifest.ManifestCacheControl, raw); err != nil {
			return err
		}
	}
	return nil
}

// fetched is what Chromium received for one URL.
type fetched struct {
	status  int64
	mime    string
	headers map[string]string
}

// recordResponses notes every response Chromium receives, by URL.
func recordResponses(t *testing.T, b *browser) func(url string) (fetched, bool) {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]fetched{}
	chromedp.ListenTarget(b.ctx, func(ev any) {
		if e, ok := ev.(*network.EventResponseReceived); ok {
			h := map[string]string{}
			for k, v := range e.Response.Headers {
				h[strings.ToLower(k)] = fmt.Sprint(v)
			}
			mu.Lock()
			seen[e.Response.URL] = fetched{status: e.Response.Status, mime: e.Response.MimeType, headers: h}
			mu.Unlock()
		}
	})
	b.run(t, network.Enable())
	return func(url string) (fetched, bool) {
		mu.Lock()
		defer mu.Unlock()
		f, ok := seen[url]
		return f, ok
	}
}

// TestPictureThroughTheLocalCDN: the page shows each variant through <picture>;
// Chromium, which decodes AVIF and WebP, fetches the AVIF where there is one and
// the WebP where there is not, from the CDN, with the CDN's headers, and never
// the fallback; opened directly, the variant's own URL answers AVIF, and the
// image shows under the CDN's strict CSP.
func TestPictureThroughTheLocalCDN(t *testing.T) {
	var ptr atomic.Pointer[localcloud.Cloud]
	s := settings.Default()
	s.Resize.BatchWindow = 0
	cloud := startCloud(t, s, func(cfg *localcloud.Config) { cfg.Handler = alternatesResize(t, &ptr) })
	ptr.Store(cloud)
	if cloud.CDNURL == "" {
		t.Fatal("no local CDN")
	}
	b := newBrowser(t)
	responses := recordResponses(t, b)
	photo, err := filepath.Abs(filepath.Join("..", "testdata", "images", "friends.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	b.run(t,
		signIn(cloud.APIURL, "alice"),
		chromedp.SetUploadFiles("#files", []string{photo}, chromedp.ByID),
	)
	items := b.waitSettled(t, 1, time.Minute)
	it := items["friends.jpg"]
	if it.State != "ready" || len(it.Variants) != len(fixtureVariants) {
		t.Fatalf("page shows %+v", it)
	}
	want := map[string]struct {
		shown   string
		sources int
		bytes   string
	}{
		"thumb": {"avif", 2, "8.4 KiB · JPEG, 3.7 KiB · AVIF, 5.4 KiB · WEBP"},
		"small": {"webp", 1, "25.2 KiB · JPEG, 14.7 KiB · WEBP"},
	}
	var gallery []string
	b.run(t, chromedp.Evaluate(`Array.from(document.querySelectorAll("#gallery img")).map(function (i) { return i.src; })`, &gallery))
	for _, v := range it.Variants {
		w := want[v.Name]
		if !strings.HasPrefix(v.Src, cloud.CDNURL+"/") || v.CopyURL != v.Src || len(v.Sources) != w.sources {
			t.Errorf("%s: src %q, copy %q, sources %v", v.Name, v.Src, v.CopyURL, v.Sources)
		}
		if v.Shown != w.shown || !strings.HasSuffix(v.CurrentSrc, "."+w.shown) || v.Bytes != w.bytes {
			t.Errorf("%s: shows %q from %q, sizes %q; want %s, %q", v.Name, v.Shown, v.CurrentSrc, v.Bytes, w.shown, w.bytes)
		}
		got, ok := responses(v.CurrentSrc)
		if !ok {
			t.Errorf("%s: Chromium never fetched %s", v.Name, v.CurrentSrc)
			continue
		}
		if got.status != 200 || got.mime != "image/"+w.shown || got.headers["cache-control"] != manifest.VariantCacheControl ||
			got.headers["vary"] != delivery.Vary || got.headers["x-content-type-options"] != "nosniff" {
			t.Errorf("%s: Chromium got %+v", v.Name, got)
		}
		// The "my images" gallery shows each image's thumb by its one negotiated
		// URL on purpose; only the upload list's <picture> must not fetch it.
		if _, ok := responses(v.Src); ok && !slices.Contains(gallery, v.Src) {
			t.Errorf("%s: Chromium fetched the fallback %s too", v.Name, v.Src)
		}
	}
	b.screenshot(t, "picture-localcdn.png")
	expectNoPageErrors(t, b)

	// The variant's one URL, opened as a page: Chromium's Accept names AVIF.
	thumb := it.Variants[0].Src
	var natural int
	b.run(t,
		chromedp.Navigate(thumb),
		chromedp.Poll(`document.images.length > 0 && document.images[0].complete ? document.images[0].naturalWidth : 0`, &natural,
			chromedp.WithPollingTimeout(20*time.Second)),
	)
	if got, _ := responses(thumb); got.status != 200 || got.mime != "image/avif" {
		t.Errorf("the variant's URL opened directly: %+v, want AVIF", got)
	}
	if natural != 200 {
		t.Errorf("the variant opened directly shows %d px wide, want 200 (does the CSP block it?)", natural)
	}
	expectNoPageErrors(t, b)
}
