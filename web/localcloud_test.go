package web_test

import (
	"context"
	"fmt"
	"image"
	_ "image/jpeg"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/imagepipe/imagepipe/localcloud"
	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// startCloud runs the whole service in-process (S3, SQS, the event source, the
// real resize and API handlers; the API serves the page, the cloud /ops).
func startCloud(t *testing.T, s settings.Settings, tune ...func(*localcloud.Config)) *localcloud.Cloud {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Real photos on a shared machine: the per-image budget is wall-clock time,
	// which load stretches, so one image per invocation with most of its timeout.
	s.Resize.BatchSize, s.Resize.ImageTimeout = 1, 45*time.Second
	cfg := localcloud.Config{
		Settings: s,
		Name:     fmt.Sprintf("webtest%d", time.Now().UnixNano()%1e6),
		PollWait: time.Second,
	}
	for _, f := range tune {
		f(&cfg)
	}
	cloud, err := localcloud.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start local cloud: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := cloud.Close(ctx); err != nil {
			t.Errorf("close local cloud: %v", err)
		}
	})
	return cloud
}

// expectedDims is what the default variants make of a w x h source: cover fills
// its box, inside keeps the aspect, and nothing is ever upscaled.
func expectedDims(v imagecore.Variant, w, h int) (int, int) {
	if v.Fit == imagecore.FitCover {
		return min(v.Width, w), min(v.Height, h)
	}
	if v.Width >= w {
		return w, h
	}
	return v.Width, int(float64(h)*float64(v.Width)/float64(w) + 0.5)
}

func TestUploadPhotosThroughTheLocalCloud(t *testing.T) {
	s := settings.Default()
	s.Resize.BatchWindow = 0 // start resizing as soon as an upload lands
	cloud := startCloud(t, s)
	opsURL := cloud.APIURL
	b := newBrowser(t)
	dir := t.TempDir()
	photos := []string{"friends.jpg", "seeding.jpg", "wine.jpg"}
	var files []string
	size := map[string][2]int{}
	for _, p := range photos {
		path, err := filepath.Abs(filepath.Join("..", "testdata", "images", p))
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatalf("real photo missing: %v", err)
		}
		cfg, _, err := image.DecodeConfig(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		size[p] = [2]int{cfg.Width, cfg.Height}
		files = append(files, path)
	}
	files = append(files,
		writeFile(t, dir, "notes.txt", []byte("shopping list\n"), 0),
		writeFile(t, dir, "huge.jpg", []byte{0xff, 0xd8, 0xff}, 26<<20),
		// Named like a JPEG, so the page and the API let it through; the resize
		// function sniffs the bytes and refuses it.
		writeFile(t, dir, "fake.jpg", []byte("this is not a picture, whatever its name says"), 0),
	)

	b.run(t,
		network.EmulateNetworkConditions(false, 0, -1, 100<<10), // slow enough to see progress on a busy machine
		signIn(cloud.APIURL, "alice"),
		chromedp.SetUploadFiles("#files", files, chromedp.ByID),
	)
	b.expectProgressPartway(t, "friends.jpg")
	items := b.waitSettled(t, len(files), 2*time.Minute)

	for _, p := range photos {
		it := items[p]
		if it.State != "ready" || it.Progress != "100" {
			t.Errorf("%s: %s (%s / %s), progress %q; want ready after a full progress bar", p, it.State, it.Text, it.Detail, it.Progress)
			continue
		}
		wantDetail := fmt.Sprintf("Original: %d × %d px, JPEG", size[p][0], size[p][1])
		if it.Detail != wantDetail {
			t.Errorf("%s: detail %q, want %q", p, it.Detail, wantDetail)
		}
		byName := map[string]variantItem{}
		for _, v := range it.Variants {
			byName[v.Name] = v
		}
		for _, v := range imagecore.DefaultVariants() {
			got, ok := byName[v.Name]
			if !ok {
				t.Errorf("%s: variant %s not shown", p, v.Name)
				continue
			}
			w, h := expectedDims(v, size[p][0], size[p][1])
			want := fmt.Sprintf("%d × %d px", w, h)
			// The page prints what the API reports; the thumbnail is the real file.
			if got.Dims != want || got.NaturalW != w || got.NaturalH != h {
				t.Errorf("%s/%s: page says %q, image is %dx%d; want %s", p, v.Name, got.Dims, got.NaturalW, got.NaturalH, want)
			}
			// Chromium takes AVIF where the variant has it, else the JPEG primary.
			shown := "jpeg"
			if slices.Contains(v.Formats, imagecore.FormatAVIF) {
				shown = "avif"
			}
			if !strings.HasPrefix(got.Src, cloud.CDNURL+"/") || strings.Contains(got.Src, "X-Amz-") || got.Href != got.Src ||
				got.CopyURL != got.Src || !strings.Contains(got.Bytes, "JPEG") || got.Shown != shown {
				t.Errorf("%s/%s: src %q href %q copy %q bytes %q shown %q; want one lasting CDN link, a size and the format shown",
					p, v.Name, got.Src, got.Href, got.CopyURL, got.Bytes, got.Shown)
			}
		}
	}
	for name, want := range map[string][2]string{
		"notes.txt": {"refused", "Not an accepted image type (text/plain)"},
		"huge.jpg":  {"refused", "Too big: 26.0 MiB. The limit is 25.0 MiB per image."},
		"fake.jpg":  {"failed", "This file is not a JPEG, PNG, GIF, WebP, HEIC or AVIF image"},
	} {
		it, ok := items[name]
		if !ok || it.State != want[0] || !strings.Contains(it.Text+" "+it.Detail, want[1]) {
			t.Errorf("%s: %q %q / %q; want %s saying %q", name, it.State, it.Text, it.Detail, want[0], want[1])
		}
	}
	b.screenshot(t, "upload-localcloud.png")
	expectNoPageErrors(t, b)

	// The operations view saw the same work through the resize handler's EMF records.
	b.run(t, chromedp.Navigate(opsURL+"/ops"), chromedp.WaitVisible("#updated", chromedp.ByID))
	waitText(t, b, "processed", "3")
	waitText(t, b, "failed", "1")
	waitText(t, b, "dlq", "0")
	var codes, processing string
	b.run(t, chromedp.Text("#codes", &codes, chromedp.ByID), chromedp.Text("#processing", &processing, chromedp.ByID))
	if !strings.Contains(codes, "unsupported_format") || !(strings.Contains(processing, "ms") || strings.Contains(processing, " s")) {
		t.Errorf("ops view: codes %q, processing %q", codes, processing)
	}
	b.screenshot(t, "ops-localcloud.png")
	expectNoPageErrors(t, b)
}

// TestExpiredUploadURLInTheLocalCloud holds the browser's PUT until the presigned
// URL has expired, so the local S3 refuses it as AWS would (403 AccessDenied,
// "Request has expired"), then lets the person try again.
func TestExpiredUploadURLInTheLocalCloud(t *testing.T) {
	s := settings.Default()
	s.Resize.BatchWindow = 0
	s.UploadURLTTL = 10 * time.Second // the shortest the settings allow
	cloud := startCloud(t, s)
	b := newBrowser(t)
	photo, err := filepath.Abs(filepath.Join("..", "testdata", "images", "seeding.jpg"))
	if err != nil {
		t.Fatal(err)
	}

	var held atomic.Int32
	chromedp.ListenTarget(b.ctx, func(ev any) {
		if ev, ok := ev.(*fetch.EventRequestPaused); ok {
			held.Add(1)
			go func() {
				time.Sleep(s.UploadURLTTL + 2*time.Second)
				c := chromedp.FromContext(b.ctx)
				_ = fetch.ContinueRequest(ev.RequestID).Do(cdp.WithExecutor(b.ctx, c.Target))
			}()
		}
	})
	b.run(t,
		fetch.Enable().WithPatterns([]*fetch.RequestPattern{{URLPattern: cloud.S3URL + "/*", RequestStage: fetch.RequestStageRequest}}),
		signIn(cloud.APIURL, "alice"),
		chromedp.SetUploadFiles("#files", []string{photo}, chromedp.ByID),
	)
	items := b.waitSettled(t, 1, time.Minute)
	it := items["seeding.jpg"]
	if held.Load() == 0 {
		t.Fatal("the upload was never held; the test proved nothing")
	}
	if it.State != "failed" || !strings.Contains(it.Text, "The upload link expired") || len(it.Buttons) != 1 {
		t.Fatalf("after expiry: %+v; want failed, saying the link expired, with a button to try again", it)
	}
	b.screenshot(t, "expired-localcloud.png")

	// Try again: a fresh URL, no hold this time.
	b.run(t, fetch.Disable(), chromedp.Click("li.file button", chromedp.ByQuery))
	deadline := time.Now().Add(time.Minute)
	for it.State != "ready" && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		it = b.waitSettled(t, 1, time.Minute)["seeding.jpg"]
	}
	if it.State != "ready" || len(it.Variants) != len(imagecore.DefaultVariants()) {
		t.Errorf("after trying again: %+v; want ready with every variant", it)
	}
	expectNoPageErrors(t, b)
}

// TestRedriveFromTheOpsViewInTheLocalCloud breaks S3 reads of uploads until the
// message lands in the DLQ, shows it on the ops view, heals S3, presses the
// redrive button and watches the image become ready on the upload page.
func TestRedriveFromTheOpsViewInTheLocalCloud(t *testing.T) {
	s := settings.Default()
	// Primaries only: this is about the DLQ and redrive, and a 1 s visibility
	// timeout leaves no room for AVIF encoding on a loaded machine.
	for i := range s.Variants {
		s.Variants[i].Formats = nil
	}
	s.Resize.BatchWindow = 0
	s.Queue.MaxReceiveCount = 2
	var broken atomic.Bool
	broken.Store(true)
	cloud := startCloud(t, s, func(c *localcloud.Config) {
		c.VisibilityTimeout = time.Second // retry quickly
		c.S3RetryMaxAttempts = 1
	})
	opsURL := cloud.APIURL
	cloud.Faults.Add(func(method, bucket, key string, n int) *localcloud.Fault {
		if broken.Load() && method == "GET" && bucket == cloud.UploadsBucket {
			return &localcloud.InternalError
		}
		return nil
	})
	photo, err := filepath.Abs(filepath.Join("..", "testdata", "images", "wine.jpg"))
	if err != nil {
		t.Fatal(err)
	}

	page, ops := newBrowser(t), newBrowser(t)
	page.run(t,
		signIn(cloud.APIURL, "alice"),
		chromedp.SetUploadFiles("#files", []string{photo}, chromedp.ByID),
	)
	ops.run(t, chromedp.Navigate(opsURL+"/ops"), chromedp.WaitVisible("#updated", chromedp.ByID))
	waitText(t, ops, "dlq", "1")
	var transient string
	ops.run(t, chromedp.Text("#transient", &transient, chromedp.ByID))
	if transient != "2" {
		t.Errorf("transient errors %q, want 2 (one per receive before the DLQ)", transient)
	}
	// In the DLQ the image is not pending for ever: it was given up with a reason
	// (processing_failed), and the page keeps watching for a retry.
	if it := page.waitState(t, "wine.jpg", "failed", time.Minute); !strings.Contains(it.Text, "set aside") {
		t.Errorf("upload page shows %+v while the image sits in the DLQ, want failed, set aside for a retry", it)
	}

	broken.Store(false)
	ops.run(t, chromedp.WaitEnabled("#redrive", chromedp.ByID), chromedp.Click("#redrive", chromedp.ByID))
	waitText(t, ops, "redrive-result", "Moved 1 message back to the resize queue.")
	it := page.waitState(t, "wine.jpg", "ready", time.Minute)
	if it.State != "ready" || len(it.Variants) != len(imagecore.DefaultVariants()) {
		t.Errorf("after redrive the page shows %+v, want ready with every variant", it)
	}
	waitText(t, ops, "processed", "1")
	waitText(t, ops, "dlq", "0")
	ops.screenshot(t, "ops-after-redrive.png")
	expectNoPageErrors(t, page)
	expectNoPageErrors(t, ops)
}

// TestOfflineThenTryAgainInTheLocalCloud picks a photo while the browser is
// offline, expects a clear message instead of a silent drop, then reconnects and
// tries again. (A PUT that fails part way is covered against a dead endpoint in
// page_test.go: Chromium's offline emulation lets requests already sent finish.)
func TestOfflineThenTryAgainInTheLocalCloud(t *testing.T) {
	s := settings.Default()
	s.Resize.BatchWindow = 0
	cloud := startCloud(t, s)
	b := newBrowser(t)
	photo, err := filepath.Abs(filepath.Join("..", "testdata", "images", "friends.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	b.run(t,
		signIn(cloud.APIURL, "alice"),
		network.EmulateNetworkConditions(true, 0, 0, 0),
		chromedp.SetUploadFiles("#files", []string{photo}, chromedp.ByID),
	)
	it := b.waitSettled(t, 1, time.Minute)["friends.jpg"]
	if it.State != "failed" || !strings.Contains(it.Text, "Could not reach the server") || len(it.Buttons) != 1 {
		t.Fatalf("offline: %+v; want a message that the server is unreachable, with a button to try again", it)
	}
	b.run(t,
		network.EmulateNetworkConditions(false, 0, -1, -1),
		chromedp.Click("li.file button", chromedp.ByQuery),
	)
	deadline := time.Now().Add(time.Minute)
	for it.State != "ready" && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		it = b.waitSettled(t, 1, time.Minute)["friends.jpg"]
	}
	if it.State != "ready" || len(it.Variants) != len(imagecore.DefaultVariants()) {
		t.Errorf("after reconnecting and trying again: %+v; want ready with every variant", it)
	}
	expectNoPageErrors(t, b)
}

// waitState waits until the page shows the file in state (with its variants
// loaded, for ready) and returns it.
func (b *browser) waitState(t *testing.T, name, state string, timeout time.Duration) fileItem {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var items []fileItem
		b.run(t, chromedp.Evaluate(readItems, &items))
		for _, it := range items {
			loaded := true
			for _, v := range it.Variants {
				loaded = loaded && v.Loaded
			}
			if it.Name == name && it.State == state && loaded {
				return it
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page did not show %s as %s in %s; it shows %+v", name, state, timeout, items)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
