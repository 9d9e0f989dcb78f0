package eventsource

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
)

// callWithin runs the handler under ctx (the function timeout) the way Lambda
// does: when the timeout passes, the invocation is over whatever the handler is
// doing. Its result, should it come later, is discarded, so none of its messages
// are deleted and they all come back after the visibility timeout; and its slot is
// free for the next batch at once. Lambda ends the sandbox; a goroutine cannot be
// ended, so the handler is abandoned with its context cancelled, which makes every
// SDK call it still makes fail, the nearest a process can come to being frozen.
func (p *Poller) callWithin(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	type result struct {
		resp events.SQSEventResponse
		err  error
	}
	done := make(chan result, 1) // buffered: an abandoned handler must not block on it
	go func() {
		resp, err := p.call(ctx, ev)
		done <- result{resp, err}
	}()
	select {
	case r := <-done:
		if r.err == nil && ctx.Err() != nil {
			// A reply after the deadline is a timeout in Lambda, whatever it says.
			return events.SQSEventResponse{}, p.ended(ctx)
		}
		return r.resp, r.err
	case <-ctx.Done():
		p.abandoned.Add(1)
		err := p.ended(ctx)
		p.log.Warn("event source: invocation ended while its handler runs; the handler is abandoned and its result will be ignored",
			"records", len(ev.Records), "reason", err)
		return events.SQSEventResponse{}, err
	}
}

// ended describes why an invocation's context ended.
func (p *Poller) ended(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("invocation timed out after %s: %w", p.cfg.Timeout, ctx.Err())
	}
	return fmt.Errorf("invocation stopped with the event source: %w", ctx.Err())
}

// Abandoned counts the invocations ended by their timeout (or by a stop) while
// their handler still ran.
func (p *Poller) Abandoned() int64 { return p.abandoned.Load() }
