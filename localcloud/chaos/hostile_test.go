package chaos

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/localcloud"
	"github.com/imagepipe/imagepipe/shared/imagecore"
)

// TestHostileFilesEndToEnd uploads every file of testdata/hostile as a lying
// browser would (each declared image/jpeg) through the API, S3, the queue and
// the resize function, and checks that the status the API reports is the image
// core's verdict on the same bytes (shared/hostile pins those verdicts): ready,
// or failed with the same code. An empty file is refused at the API already.
func TestHostileFilesEndToEnd(t *testing.T) {
	// Verdicts, not speed: the largest files the limits accept (a 49 MP
	// lossless WebP, a 7000x7000 JPEG of 16 scans) and the WASM decoders' first
	// compilation take seconds, and the budget is wall-clock time, which a shared
	// machine under load stretches tenfold; none of that may turn them into
	// too_complex or a timed-out invocation. One image per invocation, with a
	// budget far above it; the budget has its own tests.
	c := startCloud(t, func(cfg *localcloud.Config) {
		cfg.Settings.Resize.Timeout = 10 * time.Minute
		cfg.Settings.Resize.BatchSize = 1
		cfg.Settings.Resize.ImageTimeout = 9 * time.Minute
		cfg.VisibilityTimeout = 11 * time.Minute
	})
	b := newBrowser(c)
	engine, err := imagecore.NewEngine(c.Settings().Limits, c.Settings().Variants)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "..", "testdata", "hostile")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := map[string]string{} // id -> "ready" or the refusal code
	names := map[string]string{}
	var ids []string
	for _, e := range entries {
		if e.Name() == "README.md" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		id, err := b.upload(ctx, e.Name(), "image/jpeg", data)
		if len(data) == 0 {
			if err == nil || !strings.Contains(err.Error(), "400") {
				t.Errorf("empty %s: upload %v, want the API to refuse it (400)", e.Name(), err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		verdict := "ready"
		if _, err := engine.Process(context.Background(), data); err != nil {
			var refusal *imagecore.Error
			if !errors.As(err, &refusal) {
				t.Fatalf("%s: engine error %v", e.Name(), err)
			}
			verdict = string(refusal.Code)
		}
		want[id], names[id] = verdict, e.Name()
		ids = append(ids, id)
	}
	statuses := b.waitAll(ctx, ids, 10*time.Minute) // returns as soon as none is pending
	for _, id := range ids {
		st := statuses[id]
		got := st.Status
		if st.Status == "failed" && st.Error != nil {
			got = st.Error.Code
		}
		if got != want[id] {
			t.Errorf("%s: the API says %q (%+v), the image core says %q", names[id], got, st, want[id])
		}
		if st.Status == "ready" {
			if err := checkConsistent(ctx, c, id); err != nil {
				t.Errorf("%s: %v", names[id], err)
			}
		}
	}
	if s, err := c.QueueStats(ctx); err != nil || s.DLQ != 0 {
		t.Errorf("queues after the hostile files: %+v, %v (nothing hostile may reach the DLQ)", s, err)
	}
}
