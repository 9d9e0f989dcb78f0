package localcloud

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/shared/settings"
)

var cloudSeq atomic.Int64

// testSettings are the default settings with every timeout cut to seconds.
func testSettings() settings.Settings {
	s := settings.Default()
	// Primaries only: the default AVIF alternates cost more CPU than these
	// cut-down budgets give a test image on a loaded machine; the tests of
	// alternates set their own variants.
	for i := range s.Variants {
		s.Variants[i].Formats = nil
	}
	s.Resize.Timeout = 5 * time.Second
	s.Resize.DeadlineMargin = time.Second
	s.Resize.BatchSize = 5
	s.Resize.BatchWindow = 100 * time.Millisecond
	s.Resize.MaxConcurrency = 2
	s.Queue.MaxReceiveCount = 3
	// A batch of five within the 5s timeout less the 1s margin; the test images
	// are small.
	s.Resize.ImageTimeout = 800 * time.Millisecond
	return s
}

// startCloud starts an in-memory local cloud on free ports; edit adjusts its config.
func startCloud(t *testing.T, edit func(*Config)) *Cloud {
	t.Helper()
	cfg := Config{
		Settings:           testSettings(),
		Name:               fmt.Sprintf("t%d", cloudSeq.Add(1)),
		VisibilityTimeout:  2 * time.Second,
		PollWait:           time.Second,
		StopGrace:          2 * time.Second,
		S3RetryMaxAttempts: 1,
		Log:                slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if edit != nil {
		edit(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start local cloud: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

// testWriter sends logs to t.Log, so they show only for failing tests.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// pngBytes draws a small gradient PNG of w x h.
func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// eventually retries check until it passes or the timeout ends.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// s3ErrorCode reads the Code of an S3 XML error body.
func s3ErrorCode(t *testing.T, body []byte) string {
	t.Helper()
	var e s3Error
	if err := xml.Unmarshal(body, &e); err != nil {
		return "(not an S3 error: " + string(body) + ")"
	}
	return e.Code
}

// do sends req and returns the status and body.
func do(t *testing.T, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, resp.Header, body
}

func jsonBody(t *testing.T, v any) io.Reader {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

func ioNopCloser(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }

func fmtStats(s QueueStats) string {
	return fmt.Sprintf("visible %d, in flight %d, DLQ %d", s.Visible, s.InFlight, s.DLQ)
}

// testUser is who the flow tests sign in as.
const testUser = "tester"

// authorize adds an access token for user, as the signed-in page sends it.
func authorize(t *testing.T, c *Cloud, req *http.Request, user string) {
	t.Helper()
	tok, err := c.AccessToken(user)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
}
