package eventsource_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/imagepipe/imagepipe/localcloud/eventsource"
)

// fakeQueue hands out its messages once, then long-polls until the receive's
// context ends, and records what the poller asks of it.
type fakeQueue struct {
	mu       sync.Mutex
	pending  []types.Message
	waits    []int32
	released []string // receipt handles made visible again
	deleted  []string
}

func (q *fakeQueue) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	q.mu.Lock()
	q.waits = append(q.waits, in.WaitTimeSeconds)
	if len(q.pending) > 0 {
		out := &sqs.ReceiveMessageOutput{Messages: q.pending}
		q.pending = nil
		q.mu.Unlock()
		return out, nil
	}
	q.mu.Unlock()
	<-ctx.Done()
	return nil, ctx.Err()
}

func (q *fakeQueue) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, e := range in.Entries {
		q.deleted = append(q.deleted, aws.ToString(e.ReceiptHandle))
	}
	return &sqs.DeleteMessageBatchOutput{}, nil
}

func (q *fakeQueue) ChangeMessageVisibility(_ context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if in.VisibilityTimeout == 0 {
		q.released = append(q.released, aws.ToString(in.ReceiptHandle))
	}
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

func (q *fakeQueue) snapshot() (waits []int32, released, deleted []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]int32(nil), q.waits...), append([]string(nil), q.released...), append([]string(nil), q.deleted...)
}

func fakeMessages(ids ...string) []types.Message {
	var ms []types.Message
	for _, id := range ids {
		ms = append(ms, types.Message{MessageId: aws.String(id), ReceiptHandle: aws.String("rh-" + id), Body: aws.String(id)})
	}
	return ms
}

// TestFailuresAreReleasedOnStopOnly: a failure reported while the poller runs stays
// hidden for the visibility timeout (Lambda's semantics), but one reported by an
// invocation that finishes during the stop grace is made visible again at once.
func TestFailuresAreReleasedOnStopOnly(t *testing.T) {
	tests := []struct {
		name         string
		finishOnStop bool // the invocation finishes only after the stop began
		wantReleased []string
	}{
		{"failure while running stays hidden", false, nil},
		{"failure within the stop grace is released", true, []string{"rh-fail"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := &fakeQueue{pending: fakeMessages("ok", "fail")}
			started, proceed := make(chan struct{}), make(chan struct{})
			invoked := make(chan eventsource.Invocation, 1)
			p, err := eventsource.New(eventsource.Config{
				QueueURL: "q", BatchSize: 10, Concurrency: 1, Timeout: time.Minute,
				StopGrace: time.Minute, Invoked: func(inv eventsource.Invocation) { invoked <- inv },
			}, q, func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
				close(started)
				<-proceed
				var resp events.SQSEventResponse
				for _, r := range ev.Records {
					if r.Body == "fail" {
						resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
					}
				}
				return resp, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan struct{})
			go func() { defer close(done); _ = p.Run(ctx) }()
			<-started
			if tc.finishOnStop {
				cancel()
			}
			close(proceed)
			select {
			case inv := <-invoked:
				if inv.Failed != 1 {
					t.Fatalf("invocation reported %d failures, want 1", inv.Failed)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the invocation never settled")
			}
			_, releasedBeforeStop, _ := q.snapshot()
			cancel()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return")
			}
			_, released, deleted := q.snapshot()
			if !tc.finishOnStop && len(releasedBeforeStop) != 0 {
				t.Errorf("released %v while running, want them hidden for the visibility timeout", releasedBeforeStop)
			}
			if !slices.Equal(released, tc.wantReleased) {
				t.Errorf("released %v, want %v", released, tc.wantReleased)
			}
			if !slices.Equal(deleted, []string{"rh-ok"}) {
				t.Errorf("deleted %v, want [rh-ok]", deleted)
			}
		})
	}
}

func TestLongPollWaitIsAtMostTwentySeconds(t *testing.T) {
	q := &fakeQueue{}
	p, err := eventsource.New(eventsource.Config{
		QueueURL: "q", BatchSize: 1, Concurrency: 1, Timeout: time.Minute, WaitTime: time.Minute,
	}, q, func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
		return events.SQSEventResponse{}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if waits, _, _ := q.snapshot(); len(waits) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no receive")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	waits, _, _ := q.snapshot()
	for _, w := range waits {
		if w < 1 || w > 20 {
			t.Errorf("WaitTimeSeconds %d, SQS allows 1 to 20 (0 for a short poll)", w)
		}
	}
}
