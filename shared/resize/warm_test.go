package resize

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/metrics"
)

// warmEngine is a fakeEngine that can compile its codecs up front.
type warmEngine struct {
	fakeEngine
	warmErr error
	warms   int
}

func (e *warmEngine) Warm() error {
	e.warms++
	return e.warmErr
}

// TestWarm: Warm compiles through the engine when it can, once per call, and
// says which step failed; an engine without codecs to compile is fine.
func TestWarm(t *testing.T) {
	broken := errors.New("heif decoder: bad module")
	for _, tc := range []struct {
		name      string
		engine    Processor
		wantWarms int
		wantErr   error
	}{
		{name: "engine that warms", engine: &warmEngine{}, wantWarms: 1},
		{name: "codec that fails", engine: &warmEngine{warmErr: broken}, wantWarms: 1, wantErr: broken},
		{name: "engine without Warm", engine: &fakeEngine{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newWarmHandler(t, tc.engine)
			err := h.Warm()
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("Warm: %v, want %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "warm codecs") {
				t.Errorf("error %q does not say what failed", err)
			}
			if w, ok := tc.engine.(*warmEngine); ok && w.warms != tc.wantWarms {
				t.Errorf("engine warmed %d times, want %d", w.warms, tc.wantWarms)
			}
		})
	}
}

func newWarmHandler(t *testing.T, engine Processor) *Handler {
	t.Helper()
	cfg := Config{OutputBucket: output, UploadPrefix: "uploads/", Limits: imagecore.DefaultLimits(),
		Variants: imagecore.DefaultVariants(), DeadlineMargin: 5 * time.Second,
		UploadsBucket: uploads, ImageTimeout: time.Minute, MaxReceiveCount: 5}
	h, err := NewWithProcessor(cfg, newFakeStore(), engine, slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)), metrics.NewEmitter(&bytes.Buffer{}))
	if err != nil {
		t.Fatal(err)
	}
	return h
}
