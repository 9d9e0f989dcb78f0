package eventsource_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/imagepipe/imagepipe/localcloud/eventsource"
)

// scriptedQueue answers each receive with the next of its replies, then blocks
// like an empty long poll; it records what each receive asked for.
type scriptedQueue struct {
	mu      sync.Mutex
	replies [][]string // message IDs per receive
	asked   []*sqs.ReceiveMessageInput
}

func (q *scriptedQueue) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	q.mu.Lock()
	q.asked = append(q.asked, in)
	if len(q.replies) > 0 {
		ids := q.replies[0]
		q.replies = q.replies[1:]
		q.mu.Unlock()
		out := &sqs.ReceiveMessageOutput{}
		for _, id := range ids {
			out.Messages = append(out.Messages, types.Message{MessageId: aws.String(id), ReceiptHandle: aws.String("rh-" + id), Body: aws.String(id)})
		}
		return out, nil
	}
	q.mu.Unlock()
	// An empty long poll: wait for the asked time (or the stop).
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Duration(in.WaitTimeSeconds) * time.Second):
		return &sqs.ReceiveMessageOutput{}, nil
	}
}

func (q *scriptedQueue) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	return &sqs.DeleteMessageBatchOutput{}, nil
}

func (q *scriptedQueue) ChangeMessageVisibility(context.Context, *sqs.ChangeMessageVisibilityInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

// TestBatchingFollowsLambda: with no batching window an invocation gets whatever
// one long-polling receive returned, up to the batch size, at once; with a window
// the poller keeps receiving until the batch is full or the window ends.
func TestBatchingFollowsLambda(t *testing.T) {
	tests := []struct {
		name      string
		batch     int
		window    time.Duration
		replies   [][]string
		wantSizes []int // records per invocation, in order
		wantMax   int32 // MaxNumberOfMessages of the first receive
	}{
		{"no window: one receive, one invocation", 10, 0, [][]string{{"a", "b", "c"}, {"d"}}, []int{3, 1}, 10},
		{"no window, batch size 1: one message a receive", 1, 0, [][]string{{"a"}, {"b"}}, []int{1, 1}, 1},
		{"window: receives fill the batch", 3, 2 * time.Second, [][]string{{"a"}, {"b", "c"}, {"d"}}, []int{3, 1}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := &scriptedQueue{replies: tc.replies}
			var mu sync.Mutex
			var sizes []int
			got := make(chan struct{}, 10)
			p, err := eventsource.New(eventsource.Config{
				QueueURL: "http://127.0.0.1:1/000000000000/q", BatchSize: tc.batch, BatchWindow: tc.window,
				Concurrency: 1, Timeout: 10 * time.Second, WaitTime: 20 * time.Second, StopGrace: time.Second,
			}, q, func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
				mu.Lock()
				sizes = append(sizes, len(ev.Records))
				mu.Unlock()
				got <- struct{}{}
				return events.SQSEventResponse{}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = p.Run(ctx) }()
			for range tc.wantSizes {
				select {
				case <-got:
				case <-time.After(30 * time.Second):
					t.Fatalf("invocations so far: %v; want %v", sizes, tc.wantSizes)
				}
			}
			cancel()
			<-done
			mu.Lock()
			defer mu.Unlock()
			if fmt.Sprint(sizes) != fmt.Sprint(tc.wantSizes) {
				t.Errorf("records per invocation %v, want %v", sizes, tc.wantSizes)
			}
			q.mu.Lock()
			defer q.mu.Unlock()
			if first := q.asked[0]; first.WaitTimeSeconds != 20 || first.MaxNumberOfMessages != tc.wantMax {
				t.Errorf("first receive waits %ds for up to %d messages, want a 20 s long poll for up to %d",
					first.WaitTimeSeconds, first.MaxNumberOfMessages, tc.wantMax)
			}
		})
	}
}
