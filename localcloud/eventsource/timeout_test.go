package eventsource_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/imagepipe/imagepipe/localcloud"
	"github.com/imagepipe/imagepipe/localcloud/eventsource"
)

// TestTimeoutEndsTheInvocation: a handler that ignores its context and runs past
// the function timeout is cut off as Lambda cuts it off. The invocation fails and
// none of its messages are deleted, even one it would report as done: it comes
// back after the visibility timeout, and is delivered again while the abandoned
// handler still runs, because the timed-out invocation no longer holds its slot.
func TestTimeoutEndsTheInvocation(t *testing.T) {
	c := queue(t)
	send(t, c, "stuck")
	release := make(chan struct{})
	defer close(release)
	var deliveries atomic.Int32
	invoked := make(chan eventsource.Invocation, 8)
	run(t, c, func(cfg *eventsource.Config) {
		cfg.BatchSize, cfg.Concurrency, cfg.Timeout = 1, 1, 300*time.Millisecond
		cfg.Invoked = func(inv eventsource.Invocation) { invoked <- inv }
	}, func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		if deliveries.Add(1) == 1 {
			<-release // a CPU-bound decoder that never looks at ctx
		}
		return events.SQSEventResponse{}, nil // "done", whenever it returns
	})
	select {
	case inv := <-invoked:
		if inv.Err == nil || !strings.Contains(inv.Err.Error(), "timed out") || inv.Failed != 1 {
			t.Fatalf("invocation %+v, want a timeout that keeps its message", inv)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the invocation was not ended by its timeout")
	}
	if s := stats(t, c); s.InFlight != 1 {
		t.Errorf("queue %+v right after the timeout, want the message still hidden (visibility timeout)", s)
	}
	waitFor(t, 30*time.Second, "the message delivered again and settled while the first handler still runs", func() bool {
		return deliveries.Load() == 2 && stats(t, c) == (localcloud.QueueStats{})
	})
}
