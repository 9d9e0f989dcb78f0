package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/localcloud"
	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// TestReprocessAfterRaisingALimit is the operator's story end to end through the
// local cloud: an image refused under a low pixel limit, the limit raised (a new
// deployment: the local cloud restarted with other settings on the same data), and
// `imagepipe reprocess -failed too_many_pixels` run as an operator would, configured
// only through the SDK's environment. The image becomes ready; the one that was
// already ready is not chosen.
func TestReprocessAfterRaisingALimit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	low := settings.Default()
	low.Resize.BatchWindow = 0
	low.Limits.MaxPixels = 10_000
	start := func(s settings.Settings) *localcloud.Cloud {
		t.Helper()
		c, err := localcloud.Start(ctx, localcloud.Config{Settings: s, Name: "reprocesscli", DataDir: dir,
			VisibilityTimeout: 5 * time.Second, PollWait: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := start(low)
	big := upload(t, c, "big.png", 200, 100) // 20000 pixels: over the low limit
	small := upload(t, c, "small.png", 80, 60)
	if m := waitManifest(t, c, big); m.Status != manifest.StatusFailed || m.Error.Code != "too_many_pixels" {
		t.Fatalf("under the low limit: %+v", m)
	}
	if m := waitManifest(t, c, small); m.Status != manifest.StatusReady {
		t.Fatalf("small image: %+v", m)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}

	c = start(settings.Default()) // the limit raised
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	for k, v := range c.Env() {
		t.Setenv(k, v)
	}
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	queueName := c.ResizeQueueURL[strings.LastIndex(c.ResizeQueueURL, "/")+1:]
	var stdout, stderr bytes.Buffer
	if err := reprocessCommand(ctx, []string{"-uploads", c.UploadsBucket, "-output", c.OutputBucket, "-queue", queueName,
		"-failed", "too_many_pixels"}, &stdout, &stderr); err != nil {
		t.Fatalf("reprocess: %v\nstderr: %s", err, stderr.String())
	}
	if out := stdout.String(); !strings.Contains(out, "queued 1 of 1 chosen originals (2 scanned)") || !strings.Contains(out, "failed:too_many_pixels") {
		t.Errorf("summary:\n%s", out)
	}
	if !strings.Contains(stderr.String(), "scanned 2 originals") {
		t.Errorf("no progress on stderr: %s", stderr.String())
	}
	eventually(t, 30*time.Second, "the reprocessed image ready", func() error {
		m, err := manifest.Read(ctx, c.S3, c.OutputBucket, big)
		if err != nil || m == nil || m.Status != manifest.StatusReady {
			return fmt.Errorf("manifest %+v, %v", m, err)
		}
		if m.SettingsHash != c.Settings().OutputHash() {
			return fmt.Errorf("settings hash %s, want the raised limit's %s", m.SettingsHash, c.Settings().OutputHash())
		}
		return nil
	})

	// Bad invocations are refused with a reason.
	for _, args := range [][]string{
		{"-uploads", c.UploadsBucket, "-queue", queueName},
		{"-uploads", c.UploadsBucket, "-queue", queueName, "-all", "-id", big},
		{"-uploads", c.UploadsBucket, "-queue", queueName, "-failed", "too_large"},
		{"-uploads", c.UploadsBucket, "-all"},
	} {
		stderr.Reset()
		if err := reprocessCommand(ctx, args, &stdout, &stderr); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

func upload(t *testing.T, c *localcloud.Cloud, name string, w, h int) string {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x), uint8(y), 90, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	key := c.Settings().UploadPrefix + name
	if _, err := c.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &c.UploadsBucket, Key: &key,
		Body: bytes.NewReader(buf.Bytes()), ContentType: aws.String("image/png")}); err != nil {
		t.Fatal(err)
	}
	id, _ := manifest.IDForUploadKey(c.Settings().UploadPrefix, key)
	return id
}

func waitManifest(t *testing.T, c *localcloud.Cloud, id string) *manifest.Manifest {
	t.Helper()
	var m *manifest.Manifest
	eventually(t, 30*time.Second, "manifest of "+id, func() error {
		var err error
		if m, err = manifest.Read(context.Background(), c.S3, c.OutputBucket, id); err != nil || m == nil {
			return fmt.Errorf("no manifest yet (%v)", err)
		}
		return nil
	})
	return m
}

func eventually(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v after %s", what, err, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
