package localcloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/imagepipe/imagepipe/localcloud/eventsource"
	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/metrics"
	"github.com/imagepipe/imagepipe/shared/resize"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// uploadEvent uploads data under name and returns the S3 event the local S3 sent
// for it, taken off the (unpolled) resize queue.
func uploadEvent(t *testing.T, c *Cloud, name string, data []byte) (id string, msg events.SQSMessage) {
	t.Helper()
	id, key := putUploadDirect(t, c, name, data)
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		out, err := c.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &c.ResizeQueueURL, WaitTimeSeconds: 1, MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			_, _ = c.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &c.ResizeQueueURL, ReceiptHandle: m.ReceiptHandle})
			recs, err := resize.ParseBody(aws.ToString(m.Body))
			if err == nil && recs[0].S3.Object.URLDecodedKey == key {
				return id, events.SQSMessage{MessageId: aws.ToString(m.MessageId), Body: aws.ToString(m.Body),
					Attributes: map[string]string{"ApproximateReceiveCount": "1"}, EventSource: "aws:sqs"}
			}
		}
	}
	t.Fatalf("no event for %s", key)
	return "", events.SQSMessage{}
}

// roomy gives s a per-image budget no test image can run out of, even decoded six
// at a time on a loaded machine (the budget is wall-clock time): these tests are
// about manifests, and the budget has tests of its own.
func roomy(s settings.Settings) settings.Settings {
	s.Resize.ImageTimeout = time.Minute
	return s
}

// handlerFor builds the real resize handler for settings s against c, with engine
// in place of the image engine when it is not nil.
func handlerFor(t *testing.T, c *Cloud, s settings.Settings, engine resize.Processor) *resize.Handler {
	t.Helper()
	env := s.ResizeEnv(c.UploadsBucket, c.OutputBucket)
	cfg, err := resize.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if engine == nil {
		if engine, err = imagecore.NewEngine(cfg.Limits, cfg.Variants); err != nil {
			t.Fatal(err)
		}
	}
	h, err := resize.NewWithProcessor(cfg, c.S3, engine, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})), c.Metrics())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func invoke(t *testing.T, h *resize.Handler, msg events.SQSMessage) []events.SQSBatchItemFailure {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := h.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{msg}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.BatchItemFailures
}

func readManifest(t *testing.T, c *Cloud, id string) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Read(context.Background(), c.S3, c.OutputBucket, id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// consistent checks every variant the manifest names exists with its size.
func consistent(t *testing.T, c *Cloud, m *manifest.Manifest) {
	t.Helper()
	for _, v := range m.Variants {
		head, err := c.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &c.OutputBucket, Key: &v.Key})
		if err != nil || aws.ToInt64(head.ContentLength) != v.Bytes {
			t.Errorf("variant %s: %v, %d bytes; the manifest says %d", v.Key, err, aws.ToInt64(head.ContentLength), v.Bytes)
		}
	}
}

func countMetric(c *Cloud, name string) int {
	n := 0
	for _, r := range c.RecentMetrics() {
		n += int(r.Values[name])
	}
	return n
}

// TestConcurrentDuplicateDeliveries: S3 and SQS deliver at least once, so the same
// event can be worked on by several invocations at the same moment. They end in
// one manifest that agrees with the variants, counted once.
func TestConcurrentDuplicateDeliveries(t *testing.T) {
	c := startCloud(t, func(cfg *Config) { cfg.NoEventSource = true })
	id, msg := uploadEvent(t, c, "dup.png", pngBytes(t, 640, 480))
	s := roomy(c.Settings())
	h := handlerFor(t, c, s, nil)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			dup := msg
			dup.MessageId = fmt.Sprint(msg.MessageId, "-", i)
			if failed := invoke(t, h, dup); len(failed) != 0 {
				t.Errorf("delivery %d failed: %v", i, failed)
			}
		})
	}
	wg.Wait()
	m := readManifest(t, c, id)
	if m == nil || m.Status != manifest.StatusReady || m.SettingsHash != s.OutputHash() || m.EngineVersion != imagecore.EngineVersion {
		t.Fatalf("manifest %+v", m)
	}
	consistent(t, c, m)
	if n := countMetric(c, metrics.ImagesProcessed); n != 1 {
		t.Errorf("ImagesProcessed %d, want 1: only the delivery whose manifest write won counts", n)
	}
}

// TestConfigChangeRedoesTheWork: new variants or limits give a new settings hash,
// so a re-run (a duplicate, a redrive, a reprocess) redoes the image instead of
// skipping it as done; a re-run under the same settings is still skipped.
func TestConfigChangeRedoesTheWork(t *testing.T) {
	c := startCloud(t, func(cfg *Config) { cfg.NoEventSource = true })
	id, msg := uploadEvent(t, c, "config.png", pngBytes(t, 640, 480))
	invoke(t, handlerFor(t, c, roomy(c.Settings()), nil), msg)
	before := readManifest(t, c, id)

	s2 := roomy(c.Settings())
	s2.Variants = []imagecore.Variant{{Name: "tiny", Width: 64, Height: 64, Fit: imagecore.FitCover}}
	h2 := handlerFor(t, c, s2, nil)
	invoke(t, h2, msg)
	after := readManifest(t, c, id)
	if after.SettingsHash != s2.OutputHash() || after.SettingsHash == before.SettingsHash || len(after.Variants) != 1 || after.Variants[0].Name != "tiny" {
		t.Fatalf("after the variants changed: %+v (before: hash %s)", after, before.SettingsHash)
	}
	consistent(t, c, after)
	invoke(t, h2, msg)
	if again := readManifest(t, c, id); !again.CompletedAt.Equal(after.CompletedAt) {
		t.Error("a re-run under the same settings redid the work")
	}
}

// raceEngine lets another delivery finish the image while this one works, then
// fails the way a too-complex image does on a slower machine.
type raceEngine struct{ during func() }

func (e raceEngine) Process(context.Context, []byte) (*imagecore.Result, error) {
	e.during()
	return nil, &imagecore.Error{Code: imagecore.CodeTooComplex, Message: "ran out of its budget"}
}

// TestFailedNeverOverwritesReady: a delivery that fails after a concurrent one
// made the image ready must not replace ready with failed, for the same source,
// engine and settings. The local S3's conditional writes decide the race.
func TestFailedNeverOverwritesReady(t *testing.T) {
	c := startCloud(t, func(cfg *Config) { cfg.NoEventSource = true })
	id, msg := uploadEvent(t, c, "race.png", pngBytes(t, 640, 480))
	good := handlerFor(t, c, roomy(c.Settings()), nil)
	slow := handlerFor(t, c, roomy(c.Settings()), raceEngine{during: func() {
		if failed := invoke(t, good, msg); len(failed) != 0 {
			t.Errorf("the good delivery failed: %v", failed)
		}
	}})
	for _, receive := range []string{"1", "3"} { // 3 is the last receive here: giving up must not win either
		m := msg
		m.Attributes = map[string]string{"ApproximateReceiveCount": receive}
		if failed := invoke(t, slow, m); len(failed) != 0 {
			t.Errorf("receive %s: the losing delivery was reported for retry: %v", receive, failed)
		}
		if got := readManifest(t, c, id); got == nil || got.Status != manifest.StatusReady {
			t.Fatalf("receive %s: manifest %+v, want ready kept", receive, got)
		}
	}
}

// hangingEngine is a decoder stuck on a hostile file: it ignores its context and
// returns only when released, by which time Lambda would long have ended it.
type hangingEngine struct{ release chan struct{} }

func (e hangingEngine) Process(ctx context.Context, _ []byte) (*imagecore.Result, error) {
	<-e.release
	return nil, errors.Join(errors.New("released"), ctx.Err())
}

// TestWorkerTimedOutOnItsLastReceiveLeavesAFailedManifest: the poller ends each
// invocation at the function timeout, as Lambda does, so the handler never gets
// to record anything; the message runs out of receives and lands in the DLQ. The
// image must not stay pending: the last attempt was marked before it started.
func TestWorkerTimedOutOnItsLastReceiveLeavesAFailedManifest(t *testing.T) {
	release := make(chan struct{})
	c := startCloud(t, func(cfg *Config) {
		cfg.Settings.Resize.Timeout = 3 * time.Second
		cfg.Settings.Resize.BatchSize = 1
		cfg.Settings.Resize.ImageTimeout = time.Second
		cfg.Settings.Queue.MaxReceiveCount = 2
		cfg.VisibilityTimeout = 4 * time.Second // longer than the timeout, as on AWS
		cfg.NoEventSource = true
	})
	t.Cleanup(func() { close(release) })
	h := handlerFor(t, c, c.Settings(), hangingEngine{release: release})
	p, err := eventsource.New(c.EventSource, c.SQS, h.Handle)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	id, _ := putUploadDirect(t, c, "stuck.png", pngBytes(t, 64, 64))
	eventually(t, 60*time.Second, "the message in the DLQ", func() error {
		s, err := c.QueueStats(context.Background())
		if err != nil || s.DLQ != 1 {
			return fmt.Errorf("queues %+v, %v", s, err)
		}
		return nil
	})
	m := readManifest(t, c, id)
	if m == nil || m.Status != manifest.StatusFailed || m.Error == nil || m.Error.Code != resize.CodeProcessingFailed {
		t.Fatalf("manifest %+v, want failed processing_failed", m)
	}
	st := waitStatus(t, c, id)
	if st.Status != "failed" {
		t.Errorf("the API says %q, want failed", st.Status)
	}
	if p.Abandoned() < 2 {
		t.Errorf("%d invocations ended by the timeout, want both receives", p.Abandoned())
	}
}

// TestRecoverRequeuesGivenUpImages: goaws keeps the DLQ in memory, so after a
// restart an image given up (processing_failed: its message was in the DLQ) is
// lost work, like an upload with no manifest; finished images are not.
func TestRecoverRequeuesGivenUpImages(t *testing.T) {
	c := startCloud(t, func(cfg *Config) { cfg.NoEventSource = true })
	ctx := context.Background()
	write := func(id string, m manifest.Manifest) {
		t.Helper()
		body, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		key := manifest.Key(id)
		if _, err := c.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: &c.OutputBucket, Key: &key, Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	givenUp, _ := putUploadDirect(t, c, "given-up.png", pngBytes(t, 8, 8))
	ready, _ := putUploadDirect(t, c, "ready.png", pngBytes(t, 8, 8))
	refused, _ := putUploadDirect(t, c, "refused.png", pngBytes(t, 8, 8))
	putUploadDirect(t, c, "never-processed.png", pngBytes(t, 8, 8))
	write(givenUp, manifest.Manifest{ID: givenUp, Status: manifest.StatusFailed, Error: &manifest.Error{Code: resize.CodeProcessingFailed, Message: "x"}})
	write(ready, manifest.Manifest{ID: ready, Status: manifest.StatusReady})
	write(refused, manifest.Manifest{ID: refused, Status: manifest.StatusFailed, Error: &manifest.Error{Code: "too_large", Message: "x"}})
	if n, err := c.Recover(ctx); err != nil || n != 2 {
		t.Fatalf("recover re-enqueued %d (%v), want 2: the given-up image and the one never processed", n, err)
	}
}
