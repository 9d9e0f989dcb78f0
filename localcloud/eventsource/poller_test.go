package eventsource_test

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/imagepipe/imagepipe/localcloud"
	"github.com/imagepipe/imagepipe/localcloud/eventsource"
	"github.com/imagepipe/imagepipe/shared/settings"
)

var seq atomic.Int64

// queue starts a local cloud for its SQS queue and drains the s3:TestEvent.
func queue(t *testing.T) *localcloud.Cloud {
	t.Helper()
	s := settings.Default()
	s.Resize.Timeout, s.Resize.DeadlineMargin = 3*time.Second, time.Second
	s.Resize.ImageTimeout = 400 * time.Millisecond // 5 x 0.4s + 1s fit in 3s
	s.Queue.MaxReceiveCount = 100
	c, err := localcloud.Start(context.Background(), localcloud.Config{
		Settings: s, Name: fmt.Sprintf("es%d", seq.Add(1)), NoEventSource: true,
		VisibilityTimeout: 2 * time.Second, PollWait: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	out, err := c.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &c.ResizeQueueURL, WaitTimeSeconds: 1})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("draining the test event: %v %v", out, err)
	}
	_, _ = c.SQS.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: &c.ResizeQueueURL, ReceiptHandle: out.Messages[0].ReceiptHandle})
	return c
}

func send(t *testing.T, c *localcloud.Cloud, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		if _, err := c.SQS.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: &c.ResizeQueueURL, MessageBody: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
}

// run starts a poller and returns its stop function, which waits for Run to end.
func run(t *testing.T, c *localcloud.Cloud, edit func(*eventsource.Config), h eventsource.Handler) (stop func()) {
	t.Helper()
	cfg := c.EventSource
	cfg.Log = slog.New(slog.DiscardHandler)
	if edit != nil {
		edit(&cfg)
	}
	p, err := eventsource.New(cfg, c.SQS, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// recorder remembers the bodies each invocation saw.
type recorder struct {
	mu      sync.Mutex
	batches [][]string
	seen    map[string]int
}

func (r *recorder) note(ev events.SQSEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[string]int{}
	}
	var b []string
	for _, m := range ev.Records {
		b = append(b, m.Body)
		r.seen[m.Body]++
	}
	r.batches = append(r.batches, b)
}

func (r *recorder) count(body string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[body]
}

func waitFor(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func stats(t *testing.T, c *localcloud.Cloud) localcloud.QueueStats {
	t.Helper()
	s, err := c.QueueStats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPartialBatchResponseDeletesOnlySuccesses(t *testing.T) {
	c := queue(t)
	send(t, c, "ok-1", "fail", "ok-2")
	var rec recorder
	run(t, c, func(cfg *eventsource.Config) { cfg.BatchSize, cfg.BatchWindow = 10, 500*time.Millisecond },
		func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			rec.note(ev)
			var resp events.SQSEventResponse
			for _, m := range ev.Records {
				if m.Body == "fail" {
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
				}
			}
			return resp, nil
		})
	// The failure comes back after the 2s visibility timeout; the successes never do.
	waitFor(t, 10*time.Second, "the failed message to come back", func() bool { return rec.count("fail") >= 2 })
	if rec.count("ok-1") != 1 || rec.count("ok-2") != 1 {
		t.Errorf("successes were redelivered: %v", rec.seen)
	}
}

func TestFailingPanickingAndMalformedInvocationsKeepTheirMessages(t *testing.T) {
	tests := []struct {
		name string
		h    func(ev events.SQSEvent) (events.SQSEventResponse, error)
	}{
		{"error", func(events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{}, fmt.Errorf("boom")
		}},
		{"panic", func(events.SQSEvent) (events.SQSEventResponse, error) { panic("boom") }},
		{"unknown item identifier", func(events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "no-such-id"}}}, nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := queue(t)
			send(t, c, "a", "b")
			var rec recorder
			var calls atomic.Int64
			run(t, c, func(cfg *eventsource.Config) { cfg.BatchSize, cfg.BatchWindow = 10, 300*time.Millisecond },
				func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
					rec.note(ev)
					if calls.Add(1) == 1 {
						return tc.h(ev)
					}
					return events.SQSEventResponse{}, nil
				})
			waitFor(t, 10*time.Second, "both messages redelivered and settled", func() bool {
				return rec.count("a") == 2 && rec.count("b") == 2 && stats(t, c) == (localcloud.QueueStats{})
			})
		})
	}
}

func TestInvocationsRunUnderTheFunctionTimeout(t *testing.T) {
	c := queue(t)
	send(t, c, "x")
	deadlines := make(chan time.Duration, 4)
	run(t, c, nil, func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		d, ok := ctx.Deadline()
		if !ok {
			deadlines <- -1
		} else {
			deadlines <- time.Until(d)
		}
		return events.SQSEventResponse{}, nil
	})
	select {
	case d := <-deadlines:
		if d <= 2*time.Second || d > 3*time.Second {
			t.Errorf("invocation deadline in %s, want about the 3s function timeout", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no invocation")
	}
}

func TestBatchSizeAndConcurrencyAreRespected(t *testing.T) {
	c := queue(t)
	var bodies []string
	for i := range 12 {
		bodies = append(bodies, "m"+strconv.Itoa(i))
	}
	send(t, c, bodies...)
	var rec recorder
	var running, peak atomic.Int64
	run(t, c, func(cfg *eventsource.Config) {
		cfg.BatchSize, cfg.BatchWindow, cfg.Concurrency = 3, 200*time.Millisecond, 2
	}, func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		rec.note(ev)
		time.Sleep(100 * time.Millisecond)
		return events.SQSEventResponse{}, nil
	})
	waitFor(t, 15*time.Second, "all messages processed", func() bool {
		for _, b := range bodies {
			if rec.count(b) == 0 {
				return false
			}
		}
		return true
	})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, b := range rec.batches {
		if len(b) > 3 {
			t.Errorf("a batch of %d records exceeds the batch size 3", len(b))
		}
	}
	if p := peak.Load(); p > 2 {
		t.Errorf("%d invocations at once, concurrency is 2", p)
	}
}

func TestGracefulStopFinishesOrReleasesInFlightWork(t *testing.T) {
	c := queue(t)
	send(t, c, "slow")
	started := make(chan struct{})
	var once sync.Once
	stop := run(t, c, func(cfg *eventsource.Config) { cfg.StopGrace = 300 * time.Millisecond },
		func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			once.Do(func() { close(started) })
			// Work that outlasts the grace period, but honours cancellation as the
			// resize handler's deadline margin does: it hands the message back.
			select {
			case <-ctx.Done():
				return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: ev.Records[0].MessageId}}}, nil
			case <-time.After(time.Minute):
				return events.SQSEventResponse{}, nil
			}
		})
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("no invocation")
	}
	stopped := make(chan struct{})
	go func() { defer close(stopped); stop() }()
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	// Released, not left for the visibility timeout: visible again at once.
	if s := stats(t, c); s.Visible != 1 || s.InFlight != 0 {
		t.Errorf("after stop: %+v, want the message visible again", s)
	}
}

func TestReceiveCountGrowsWithEachDelivery(t *testing.T) {
	c := queue(t)
	send(t, c, "flaky")
	var mu sync.Mutex
	var counts []string
	run(t, c, nil, func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		counts = append(counts, ev.Records[0].Attributes["ApproximateReceiveCount"])
		if len(counts) < 3 {
			return events.SQSEventResponse{}, fmt.Errorf("fail attempt %d", len(counts))
		}
		return events.SQSEventResponse{}, nil
	})
	waitFor(t, 30*time.Second, "three deliveries", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(counts) >= 3
	})
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(counts[:3]) != "[1 2 3]" {
		t.Errorf("ApproximateReceiveCount per delivery %v, want [1 2 3]", counts)
	}
}
