package chaos

import (
	"context"
	"fmt"
	"github.com/aws/aws-lambda-go/events"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/imagepipe/imagepipe/localcloud"
	"github.com/imagepipe/imagepipe/localcloud/eventsource"
	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/metrics"
	"github.com/imagepipe/imagepipe/shared/redrive"
	"github.com/imagepipe/imagepipe/shared/resize"
)

// uploadAll uploads n small images as browsers would, a few at a time, and
// returns their IDs.
func uploadAll(t *testing.T, c *localcloud.Cloud, n int) []string {
	t.Helper()
	return uploadAllOf(t, c, n, [][]byte{smallJPEG(t, 1), smallJPEG(t, 2), smallJPEG(t, 3)})
}

func uploadAllOf(t *testing.T, c *localcloud.Cloud, n int, pics [][]byte) []string {
	t.Helper()
	b := newBrowser(c)
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 4)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			id, err := b.upload(context.Background(), fmt.Sprintf("photo %d.jpg", i), "image/jpeg", pics[i%len(pics)])
			ids[i] = id
			if err != nil {
				errs <- fmt.Errorf("upload %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return ids
}

// TestS3FaultsEveryImageReadyOnce fails a quarter of the resize function's S3
// requests (reading originals, writing variants and manifests) with the errors S3
// really answers under load. The SDK's retries and SQS redelivery must still bring
// every image to ready, and each exactly once: one manifest write, one
// ImagesProcessed, and manifests that agree with their variants.
func TestS3FaultsEveryImageReadyOnce(t *testing.T) {
	const n = 24
	c := startCloud(t, func(cfg *localcloud.Config) {
		// With a quarter of requests failing, the SDK's backoff adds seconds per
		// image: give the function a timeout that covers a batch of such images
		// (production has 60s), or handing back the rest of the batch becomes the
		// norm and healthy images reach the DLQ.
		cfg.Settings.Resize.Timeout = 15 * time.Second
		// Real photos: a second of CPU, stretched by a loaded machine; one per
		// invocation, so the budget (wall-clock time) can be most of the timeout.
		cfg.Settings.Resize.BatchSize = 1
		cfg.Settings.Resize.ImageTimeout = 14 * time.Second
		cfg.VisibilityTimeout = 16 * time.Second
		// Before a message's last receive the function marks its image given up
		// (a second manifest write, replaced by the outcome); this test counts one
		// write per image, so the last receive stays out of reach.
		cfg.Settings.Queue.MaxReceiveCount = 20
	})
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(6, 6))
	manifestPuts := map[string]int{} // served PUTs of each manifest
	faulted := 0
	c.Faults.Add(func(method, bucket, key string, _ int) *localcloud.Fault {
		// Only the resize function's traffic: HEAD/GET of originals, PUT of outputs
		// (not the API's owner index and quota records, also in the output bucket).
		handler := (bucket == c.UploadsBucket && (method == http.MethodGet || method == http.MethodHead)) ||
			(bucket == c.OutputBucket && method == http.MethodPut &&
				(strings.HasPrefix(key, manifest.VariantsPrefix) || strings.HasPrefix(key, manifest.ManifestsPrefix)))
		if !handler {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if rng.IntN(4) == 0 {
			faulted++
			if rng.IntN(2) == 0 {
				return &localcloud.SlowDown
			}
			return &localcloud.InternalError
		}
		if method == http.MethodPut && strings.HasPrefix(key, manifest.ManifestsPrefix) {
			manifestPuts[key]++
		}
		return nil
	})
	var processed, failed, transient int
	stop := c.SubscribeMetrics(func(r metrics.Record) {
		mu.Lock()
		defer mu.Unlock()
		processed += int(r.Values[metrics.ImagesProcessed])
		failed += int(r.Values[metrics.ImagesFailed])
		transient += int(r.Values[metrics.TransientErrors])
	})
	defer stop()

	ids := uploadAll(t, c, n)
	statuses := newBrowser(c).waitAll(context.Background(), ids, 150*time.Second)
	for _, id := range ids {
		if st := statuses[id]; st.Status != string(manifest.StatusReady) {
			t.Errorf("image %s: %q %+v, want ready", id, st.Status, st.Error)
			continue
		}
		if err := checkConsistent(context.Background(), c, id); err != nil {
			t.Error(err)
		}
	}
	// Let late duplicates (if any) land before counting.
	time.Sleep(3 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if got := manifestPuts[manifest.Key(id)]; got != 1 {
			t.Errorf("image %s: manifest written %d times, want exactly once", id, got)
		}
	}
	if processed != n || failed != 0 {
		t.Errorf("metrics: %d ImagesProcessed and %d ImagesFailed, want %d and 0", processed, failed, n)
	}
	if faulted == 0 {
		t.Fatal("no request was faulted: the test proved nothing")
	}
	stats, err := c.QueueStats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stats.DLQ != 0 {
		t.Errorf("%d messages in the DLQ, want 0", stats.DLQ)
	}
	t.Logf("%d images ready once each; %d S3 requests faulted, %d messages handed back to SQS", n, faulted, transient)
}

// TestWorkerKilledMidBatch stops the resize worker again and again at random
// moments, the way a crash or a Lambda timeout would: in-flight invocations are
// cut off (their messages stay invisible until the visibility timeout, as after a
// crash) and a new worker starts. Every image must end ready, and no manifest may
// disagree with its variants.
func TestWorkerKilledMidBatch(t *testing.T) {
	const n = 12
	c := startCloud(t, func(cfg *localcloud.Config) {
		cfg.NoEventSource = true
		cfg.Settings.Queue.MaxReceiveCount = 50 // kills must not push work to the DLQ
	})
	env := c.Settings().ResizeEnv(c.UploadsBucket, c.OutputBucket)
	// Kills, not budgets: the invocation's deadline still bounds each image, and a
	// loaded machine must not make a healthy one too_complex.
	env["IMAGE_TIMEOUT"] = "1m"
	rcfg, err := resize.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	h, err := resize.New(rcfg, c.S3, slog.New(slog.DiscardHandler), metrics.NewEmitter(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	invocations, cut := 0, 0
	cfg := c.EventSource
	cfg.StopGrace = time.Millisecond // no grace: kill what runs
	cfg.KeepOnStop = true            // as after a crash, nothing is released early
	cfg.Invoked = func(inv eventsource.Invocation) {
		mu.Lock()
		defer mu.Unlock()
		invocations++
		if inv.Err != nil {
			cut++
		}
	}

	ids := uploadAllOf(t, c, n, [][]byte{sizedJPEG(t, 1600, 1200, 1), sizedJPEG(t, 1200, 1600, 2)})
	b := newBrowser(c)
	rng := rand.New(rand.NewPCG(7, 7))
	deadline := time.Now().Add(120 * time.Second)
	kills := 0
	// Each record also costs a fixed 150 ms before the work, so an invocation
	// lives long enough to be cut off however fast this machine resizes.
	slow := func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		select {
		case <-time.After(time.Duration(len(ev.Records)) * 150 * time.Millisecond):
		case <-ctx.Done():
			return events.SQSEventResponse{}, ctx.Err()
		}
		return h.Handle(ctx, ev)
	}
	for {
		p, err := eventsource.New(cfg, c.SQS, slow)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = p.Run(ctx) }()
		// Live between 0.2 and 1.2 s, a little longer after each kill: long enough
		// to finish some images, short enough to be killed in the middle of
		// others, and in the end long enough for the slowest batch (on a loaded
		// machine a worker that never lives long enough would starve forever).
		time.Sleep(200*time.Millisecond + time.Duration(rng.IntN(1000)+150*kills)*time.Millisecond)
		cancel()
		<-done
		kills++
		statuses := b.waitAll(context.Background(), ids, 0)
		ready := 0
		for _, id := range ids {
			if statuses[id].Status == string(manifest.StatusReady) {
				ready++
			}
		}
		if ready == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d kills only %d of %d images are ready", kills, ready, n)
		}
	}
	for _, id := range ids {
		if err := checkConsistent(context.Background(), c, id); err != nil {
			t.Error(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if cut == 0 {
		t.Fatalf("no invocation was cut off in %d kills: the test proved nothing", kills)
	}
	t.Logf("%d images ready after %d kills; %d of %d invocations were cut off", n, kills, cut, invocations)
}

// TestPoisonImageToDLQThenRedrive: an image whose original cannot be read
// (S3 fails every GET of it) is retried until maxReceiveCount and lands in the
// DLQ, while the images around it are processed. After the cause is fixed,
// `imagepipe redrive` (the redrive package, falling back from move tasks, which
// the local SQS lacks, to receive-send-delete) puts it back and it is processed.
func TestPoisonImageToDLQThenRedrive(t *testing.T) {
	c := startCloud(t, func(cfg *localcloud.Config) {
		cfg.Settings.Queue.MaxReceiveCount = 3
		// The poison read fails at once instead of after the SDK's backoff, so it
		// cannot eat the short test timeout of the healthy images batched with it.
		cfg.S3RetryMaxAttempts = 1
	})
	b := newBrowser(c)
	pics := [][]byte{smallJPEG(t, 1), smallJPEG(t, 2), smallJPEG(t, 3)}
	ctx := context.Background()

	// Faults are keyed by the object, known only once the API chose the ID: fail
	// every GET of any original whose ID is the poison one.
	var mu sync.Mutex
	poison := ""
	gets := 0
	remove := c.Faults.Add(func(method, bucket, key string, _ int) *localcloud.Fault {
		mu.Lock()
		defer mu.Unlock()
		if poison != "" && bucket == c.UploadsBucket && method == http.MethodGet && key == "uploads/"+poison {
			gets++
			return &localcloud.InternalError
		}
		return nil
	})
	// The poison ID is reserved before its upload so the first attempt fails too.
	p, err := b.presign(ctx, "poison.jpg", "image/jpeg", len(pics[0]))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	poison = p.ID
	mu.Unlock()
	if err := b.put(ctx, p, pics[0]); err != nil {
		t.Fatal(err)
	}
	var good []string
	for i := range 3 {
		id, err := b.upload(ctx, fmt.Sprintf("good %d.jpg", i), "image/jpeg", pics[(i+1)%len(pics)])
		if err != nil {
			t.Fatal(err)
		}
		good = append(good, id)
	}

	// The good images are processed; the poison one reaches the DLQ.
	for id, st := range b.waitAll(ctx, good, 60*time.Second) {
		if st.Status != string(manifest.StatusReady) {
			t.Errorf("good image %s: %s", id, st.Status)
		}
	}
	waitFor(t, 60*time.Second, "poison message in the DLQ", func() error {
		s, err := c.QueueStats(ctx)
		if err != nil {
			return err
		}
		if s.DLQ != 1 || s.Visible+s.InFlight != 0 {
			return fmt.Errorf("queue stats %+v; DLQ holds %v", s, dlqKeys(ctx, c))
		}
		return nil
	})
	// Nobody works on a message in the DLQ, so its image is not left pending: it
	// was given up with the last error, and the redrive below replaces that.
	if st, err := b.status(ctx, poison); err != nil || st.Status != string(manifest.StatusFailed) {
		t.Errorf("poison image status %+v, %v; want failed (processing_failed)", st, err)
	} else if m, err := manifest.Read(ctx, c.S3, c.OutputBucket, poison); err != nil || m == nil || m.Error == nil ||
		m.Error.Code != resize.CodeProcessingFailed || !strings.Contains(m.Error.Message, "InternalError") {
		t.Errorf("poison manifest %+v, %v; want processing_failed with the last error", m, err)
	}
	mu.Lock()
	attempts := gets
	mu.Unlock()
	if attempts < 3 {
		t.Errorf("the original was read %d times before the DLQ, want at least maxReceiveCount (3)", attempts)
	}

	// Fix the cause, then redrive exactly as the CLI does.
	remove()
	report, err := redrive.Run(ctx, c.SQS, redrive.Options{DLQ: c.DLQURL, Destination: c.ResizeQueueURL, Hold: 30 * time.Second})
	if err != nil {
		t.Fatalf("redrive: %v (report %+v)", err, report)
	}
	if report.Method != redrive.Copy || report.Moved != 1 || len(report.Duplicated) != 0 {
		t.Errorf("redrive report %+v, want 1 message copied (move tasks are not implemented locally)", report)
	}
	var st imageStatus
	waitFor(t, 60*time.Second, "the redriven image ready", func() error {
		if st, err = b.status(ctx, poison); err != nil || st.Status != string(manifest.StatusReady) {
			return fmt.Errorf("status %q, %v", st.Status, err)
		}
		return nil
	})
	if err := checkConsistent(ctx, c, poison); err != nil {
		t.Error(err)
	}
	if s, err := c.QueueStats(ctx); err != nil || s.DLQ != 0 {
		t.Errorf("DLQ after redrive: %+v, %v", s, err)
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, check func() error) {
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
		time.Sleep(200 * time.Millisecond)
	}
}

// dlqKeys peeks at the DLQ (without hiding its messages) and names each
// message's upload key, for failure messages.
func dlqKeys(ctx context.Context, c *localcloud.Cloud) []string {
	out, err := c.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &c.DLQURL, MaxNumberOfMessages: 10, VisibilityTimeout: 0,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
	if err != nil {
		return []string{err.Error()}
	}
	var keys []string
	for _, m := range out.Messages {
		records, err := resize.ParseBody(aws.ToString(m.Body))
		if err != nil {
			keys = append(keys, fmt.Sprintf("%s (%v)", aws.ToString(m.MessageId), err))
			continue
		}
		for _, r := range records {
			keys = append(keys, fmt.Sprintf("%s %s received %s", aws.ToString(m.MessageId), r.S3.Object.URLDecodedKey, m.Attributes["ApproximateReceiveCount"]))
		}
	}
	return keys
}
