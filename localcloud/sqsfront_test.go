package localcloud

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// TestSQSFrontBookkeepingIsBounded: the receive-count bookkeeping forgets messages
// that leave goaws without a DeleteMessage (a purge) and messages older than the
// retention, but keeps one moved to the DLQ, whose SentTimestamp SQS keeps.
func TestSQSFrontBookkeepingIsBounded(t *testing.T) {
	c := startCloud(t, func(cfg *Config) {
		cfg.NoEventSource = true
		cfg.Settings.Queue.MaxReceiveCount = 1
		cfg.VisibilityTimeout = time.Second
	})
	ctx := context.Background()
	f := c.sqsFront
	f.mu.Lock()
	f.sweepEvery = 0 // sweep on every send and receive
	f.mu.Unlock()
	sendN := func(n int, prefix string) {
		t.Helper()
		for i := range n {
			if _, err := c.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &c.ResizeQueueURL, MessageBody: aws.String(prefix + strconv.Itoa(i))}); err != nil {
				t.Fatal(err)
			}
		}
	}

	// A message that fails its only delivery moves to the DLQ.
	receiveBodies(t, c, 1) // the s3:TestEvent, deleted
	sendN(1, "doomed")
	out, err := c.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &c.ResizeQueueURL, WaitTimeSeconds: 2})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("receive: %v %v", out, err)
	}
	doomed := aws.ToString(out.Messages[0].MessageId)
	eventually(t, 10*time.Second, "the message in the DLQ", func() error {
		s, err := c.QueueStats(ctx)
		if err != nil {
			return err
		}
		if s.DLQ != 1 {
			return fmt.Errorf("%s", fmtStats(s))
		}
		return nil
	})

	// Purged messages leave goaws without a DeleteMessage.
	sendN(20, "purged")
	if _, err := c.SQS.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: &c.ResizeQueueURL}); err != nil {
		t.Fatal(err)
	}
	sendN(1, "after") // sweeps
	if n := f.tracked(); n != 2 {
		t.Errorf("tracking %d messages after a purge, want 2 (the one in the DLQ and the last one)", n)
	}
	f.mu.Lock()
	_, kept := f.track[doomed]
	f.mu.Unlock()
	if !kept {
		t.Errorf("the message in the DLQ lost its bookkeeping (and with it its SentTimestamp)")
	}

	// Past the retention SQS has expired a message, even one goaws still holds.
	f.mu.Lock()
	f.now = func() time.Time { return time.Now().Add(f.retention + time.Hour) }
	f.mu.Unlock()
	sendN(1, "much later")
	if n := f.tracked(); n != 1 {
		t.Errorf("tracking %d messages after the retention passed, want only the new one", n)
	}
}

// TestLongPollAnswersAsMessagesArrive: a waiting ReceiveMessage answers as soon
// as a message is sent or handed back, as SQS does, not at goaws' next look
// at the queue (the front's own looks are turned off here, so only the wake-up
// can deliver it before the wait ends, and the client gives up long before
// that); a wait with nothing to receive ends empty.
func TestLongPollAnswersAsMessagesArrive(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// arrive makes a message receivable while the poll waits; nil sends nothing.
		arrive func(t *testing.T, c *Cloud, held *string)
		wait   int32
	}{
		{name: "sent", wait: 20, arrive: func(t *testing.T, c *Cloud, held *string) {
			t.Helper()
			if _, err := c.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &c.ResizeQueueURL, MessageBody: aws.String("hello")}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "handed back", wait: 20, arrive: func(t *testing.T, c *Cloud, held *string) {
			t.Helper()
			if _, err := c.SQS.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &c.ResizeQueueURL,
				ReceiptHandle: held, VisibilityTimeout: 0}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "nothing", wait: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCloud(t, func(cfg *Config) { cfg.NoEventSource = true; cfg.VisibilityTimeout = time.Hour })
			receiveBodies(t, c, 1) // the s3:TestEvent
			var held *string
			if tc.name == "handed back" {
				// A message received and still invisible for an hour.
				if _, err := c.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &c.ResizeQueueURL, MessageBody: aws.String("hello")}); err != nil {
					t.Fatal(err)
				}
				out, err := c.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &c.ResizeQueueURL, WaitTimeSeconds: 5})
				if err != nil || len(out.Messages) != 1 {
					t.Fatalf("receive: %v %v", out, err)
				}
				held = out.Messages[0].ReceiptHandle
			}
			f := c.sqsFront
			f.mu.Lock()
			f.pollEvery = time.Hour
			f.sent = nil // made again by the poll below once it waits
			f.mu.Unlock()
			got := make(chan *sqs.ReceiveMessageOutput, 1)
			go func() {
				// Given up before the 20 s wait ends: without the wake-up the
				// message would only be found when it does.
				rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				out, err := c.SQS.ReceiveMessage(rctx, &sqs.ReceiveMessageInput{QueueUrl: &c.ResizeQueueURL, WaitTimeSeconds: tc.wait})
				if err != nil {
					t.Errorf("receive: %v", err)
					out = &sqs.ReceiveMessageOutput{}
				}
				got <- out
			}()
			if tc.arrive != nil {
				eventually(t, 10*time.Second, "the poll waiting", func() error {
					f.mu.Lock()
					defer f.mu.Unlock()
					if f.sent == nil {
						return fmt.Errorf("not waiting yet")
					}
					return nil
				})
				tc.arrive(t, c, held)
			}
			out := <-got
			if n := len(out.Messages); (tc.arrive != nil) != (n == 1) {
				t.Fatalf("received %d messages", n)
			}
			if tc.arrive != nil && aws.ToString(out.Messages[0].Body) != "hello" {
				t.Errorf("received %q", aws.ToString(out.Messages[0].Body))
			}
		})
	}
}
