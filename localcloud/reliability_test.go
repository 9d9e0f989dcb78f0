package localcloud

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/localcloud/eventsource"
	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/ownership"
)

// putUploadDirect stores an image under uploads/ with the SDK and returns its ID.
func putUploadDirect(t *testing.T, c *Cloud, name string, data []byte) (id, key string) {
	t.Helper()
	key = c.Settings().UploadPrefix + name
	if _, err := c.S3.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: &c.UploadsBucket, Key: &key, Body: bytes.NewReader(data), ContentType: aws.String("image/png"),
		// As the API's presigned PUT would record it, so testUser may read its status.
		Metadata: map[string]string{ownership.OwnerMetaKey: testUser},
	}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	id, _ = manifest.IDForUploadKey(c.Settings().UploadPrefix, key)
	return id, key
}

func TestTransientS3FailuresAreRetriedByTheQueue(t *testing.T) {
	// Two failures, then success before the last receive: on the last one the
	// image would read failed (processing_failed) while that attempt runs.
	c := startCloud(t, func(cfg *Config) { cfg.Settings.Queue.MaxReceiveCount = 4 })
	id := manifest.NewID()
	key := manifest.UploadKey(c.Settings().UploadPrefix, id)
	// The handler's S3 client does not retry (S3RetryMaxAttempts 1), so each failed
	// GET fails an invocation and the queue redelivers after the visibility timeout.
	c.Faults.Add(FailFirst(http.MethodGet, c.UploadsBucket, key, 2, SlowDown))
	putUploadDirect(t, c, id, pngBytes(t, 200, 100))
	st := waitStatus(t, c, id)
	if st.Status != "ready" {
		t.Fatalf("status %q, want ready: %+v", st.Status, st)
	}
	if n := c.Faults.Count(http.MethodGet, c.UploadsBucket, key); n != 3 {
		t.Errorf("%d GETs of the original, want 3 (two failed, one served)", n)
	}
	stats, err := c.QueueStats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stats.DLQ != 0 {
		t.Errorf("DLQ holds %d messages after a recovered failure", stats.DLQ)
	}
}

func TestPersistentFailureLandsInTheDLQ(t *testing.T) {
	c := startCloud(t, nil)
	id := manifest.NewID()
	key := manifest.UploadKey(c.Settings().UploadPrefix, id)
	c.Faults.Add(FailAlways(http.MethodGet, c.UploadsBucket, key, InternalError))
	putUploadDirect(t, c, id, pngBytes(t, 200, 100))
	eventually(t, 30*time.Second, "message in the DLQ", func() error {
		stats, err := c.QueueStats(context.Background())
		if err != nil {
			return err
		}
		// The DLQ alarm's condition: visible messages in the DLQ above 0.
		if stats.DLQ == 0 {
			return errors.New("DLQ is empty")
		}
		return nil
	})
	if n, max := c.Faults.Count(http.MethodGet, c.UploadsBucket, key), c.Settings().Queue.MaxReceiveCount; n != max {
		t.Errorf("%d attempts before the DLQ, want maxReceiveCount %d", n, max)
	}
	// Nobody works on it in the DLQ, so it does not read pending: it was given up,
	// with the last error, before it went there.
	req, _ := http.NewRequest(http.MethodGet, c.APIURL+"/v1/images/"+id, nil)
	authorize(t, c, req, testUser)
	if _, _, body := do(t, req); !bytes.Contains(body, []byte(`"failed"`)) || !bytes.Contains(body, []byte(`"processing_failed"`)) ||
		!bytes.Contains(body, []byte("InternalError")) {
		t.Errorf("image in the DLQ should read failed, processing_failed, with the last error: %s", body)
	}
}

func TestWorkerKilledMidBatchLosesNothing(t *testing.T) {
	c := startCloud(t, func(cfg *Config) { cfg.NoEventSource = true })
	real := c.Handler()
	var ids []string
	for _, name := range []string{"one.png", "two.png", "three.png"} {
		id, _ := putUploadDirect(t, c, name, pngBytes(t, 120, 90))
		ids = append(ids, id)
	}

	// The first worker finishes the first image of its batch, then hangs, ignoring
	// cancellation, until it is killed.
	hung := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	var once sync.Once
	dying := func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		var first []events.SQSMessage
		for _, m := range ev.Records {
			if !bytes.Contains([]byte(m.Body), []byte("s3:TestEvent")) {
				first = append(first, m)
				break
			}
		}
		if _, err := real(ctx, events.SQSEvent{Records: first}); err != nil {
			t.Errorf("first image: %v", err)
		}
		once.Do(func() { close(hung) })
		<-release
		return events.SQSEventResponse{}, nil
	}
	cfg := c.EventSource
	cfg.BatchSize, cfg.BatchWindow, cfg.Concurrency = 10, time.Second, 1
	cfg.StopGrace, cfg.KeepOnStop = 200*time.Millisecond, true
	p, err := eventsource.New(cfg, c.SQS, dying)
	if err != nil {
		t.Fatal(err)
	}
	ctx, kill := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); _ = p.Run(ctx) }()
	select {
	case <-hung:
	case <-time.After(15 * time.Second):
		t.Fatal("the first worker never got a batch")
	}
	first, err := manifest.Read(context.Background(), c.S3, c.OutputBucket, ids[0])
	if err != nil || first == nil {
		t.Fatalf("the first worker did not finish the first image: %v", err)
	}
	kill()
	<-stopped

	// A healthy worker gets the messages after their visibility timeout.
	cfg = c.EventSource
	p2, err := eventsource.New(cfg, c.SQS, real)
	if err != nil {
		t.Fatal(err)
	}
	ctx2, stop2 := context.WithCancel(context.Background())
	done2 := make(chan struct{})
	go func() { defer close(done2); _ = p2.Run(ctx2) }()
	defer func() { stop2(); <-done2 }()
	for _, id := range ids {
		if st := waitStatus(t, c, id); st.Status != "ready" {
			t.Fatalf("image %s: status %q after the restart", id, st.Status)
		}
	}
	again, err := manifest.Read(context.Background(), c.S3, c.OutputBucket, ids[0])
	if err != nil || again == nil {
		t.Fatalf("manifest of %s: %v", ids[0], err)
	}
	if !again.CompletedAt.Equal(first.CompletedAt) || len(again.Variants) != len(first.Variants) {
		t.Errorf("the first image was processed into a second result: %+v then %+v", first, again)
	}
	eventually(t, 10*time.Second, "queue drained", func() error {
		stats, err := c.QueueStats(context.Background())
		if err != nil {
			return err
		}
		if stats != (QueueStats{}) {
			return errors.New("queue not empty: " + fmtStats(stats))
		}
		return nil
	})
}

func TestRestartKeepsDataAndRecoversLostWork(t *testing.T) {
	dir := t.TempDir()
	name := "restart"
	// First run: the upload is stored but never processed; its message dies with the process.
	c1 := startCloud(t, func(cfg *Config) { cfg.DataDir, cfg.Name, cfg.NoEventSource = dir, name, true })
	id, _ := putUploadDirect(t, c1, "kept.png", pngBytes(t, 100, 100))
	if err := c1.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	c2 := startCloud(t, func(cfg *Config) { cfg.DataDir, cfg.Name = dir, name })
	if st := waitStatus(t, c2, id); st.Status != "ready" {
		t.Fatalf("status %q after restart, want ready", st.Status)
	}
	// A third run finds the manifest and re-enqueues nothing.
	if err := c2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	c3 := startCloud(t, func(cfg *Config) { cfg.DataDir, cfg.Name, cfg.NoEventSource = dir, name, true })
	if n, err := c3.Recover(context.Background()); err != nil || n != 0 {
		t.Fatalf("recover after a complete run re-enqueued %d (%v), want 0", n, err)
	}
}

func TestSlowS3PastTheDeadlineIsRetried(t *testing.T) {
	c := startCloud(t, nil)
	id := manifest.NewID()
	key := manifest.UploadKey(c.Settings().UploadPrefix, id)
	// The first GET outlasts the 5s function timeout: the invocation's context ends,
	// the message goes back, and the second delivery succeeds.
	c.Faults.Add(Slow(http.MethodGet, c.UploadsBucket, key, 1, 6*time.Second))
	putUploadDirect(t, c, id, pngBytes(t, 200, 100))
	if st := waitStatus(t, c, id); st.Status != "ready" {
		t.Fatalf("status %q, want ready: %+v", st.Status, st)
	}
	if n := c.Faults.Count(http.MethodGet, c.UploadsBucket, key); n != 2 {
		t.Errorf("%d GETs of the original, want 2", n)
	}
}
