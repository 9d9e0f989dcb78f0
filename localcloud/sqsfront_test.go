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
