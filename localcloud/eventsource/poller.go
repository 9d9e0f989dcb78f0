// Package eventsource runs an SQS event source mapping the way Lambda does: it
// long-polls a queue, gathers batches (batch size, batching window), invokes a
// handler with up to a configured concurrency under the function timeout, deletes
// only the messages that succeeded (partial batch responses), and leaves the rest
// to come back after the visibility timeout.
package eventsource

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Queue is the part of *sqs.Client the poller uses.
type Queue interface {
	ReceiveMessage(ctx context.Context, params *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, params *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibility(ctx context.Context, params *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// Handler is the function value lambda.Start gets for an SQS event source with
// ReportBatchItemFailures.
type Handler func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

// Config tunes one event source mapping.
type Config struct {
	QueueURL string
	// QueueARN and Region fill eventSourceARN and awsRegion of each record.
	QueueARN string
	Region   string
	// FunctionName names the invoked function in the Lambda context.
	FunctionName string
	// BatchSize is the most records per invocation (Lambda's BatchSize).
	BatchSize int
	// BatchWindow is how long to keep gathering records for a batch that is not
	// full yet (Lambda's MaximumBatchingWindowInSeconds).
	BatchWindow time.Duration
	// Concurrency is the most invocations at once (Lambda's MaximumConcurrency).
	Concurrency int
	// Timeout is the function timeout: each invocation's context deadline.
	Timeout time.Duration
	// WaitTime is the long-polling wait of each receive (20s when zero).
	WaitTime time.Duration
	// StopGrace is how long Run lets in-flight invocations finish after its context
	// ends before cancelling them (5s when zero).
	StopGrace time.Duration
	// KeepOnStop leaves the messages of unfinished invocations invisible on stop,
	// as a crash would, instead of releasing them to the queue at once.
	KeepOnStop bool
	Log        *slog.Logger
	// Invoked, when set, hears about every finished invocation.
	Invoked func(Invocation)
}

// Invocation reports one handler call.
type Invocation struct {
	Records  int
	Failed   int // records left in the queue
	Err      error
	Duration time.Duration
}

// Poller is one running event source mapping.
type Poller struct {
	cfg     Config
	queue   Queue
	handler Handler
	log     *slog.Logger
	// abandoned counts invocations ended while their handler still ran (timeout.go).
	abandoned atomic.Int64
}

// New checks cfg and returns a poller; Run starts it.
func New(cfg Config, queue Queue, handler Handler) (*Poller, error) {
	var errs []error
	if cfg.QueueURL == "" {
		errs = append(errs, errors.New("queue URL is empty"))
	}
	if cfg.BatchSize < 1 || cfg.BatchSize > 10000 {
		errs = append(errs, fmt.Errorf("batch size %d is not between 1 and 10000", cfg.BatchSize))
	}
	if cfg.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency %d is below 1", cfg.Concurrency))
	}
	if cfg.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout %s is not positive", cfg.Timeout))
	}
	if handler == nil {
		errs = append(errs, errors.New("handler is nil"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("event source: %w", err)
	}
	if cfg.WaitTime <= 0 {
		cfg.WaitTime = 20 * time.Second
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = 5 * time.Second
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Poller{cfg: cfg, queue: queue, handler: handler, log: log}, nil
}

// Run polls until ctx ends, then stops receiving, lets in-flight invocations
// finish (up to StopGrace, then cancels them), releases what did not finish, and
// returns.
func (p *Poller) Run(ctx context.Context) error {
	// Invocations run under their own context so that stopping intake does not
	// cancel work that can still finish within the grace period.
	invokeCtx, cancelInvocations := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelInvocations()
	var wg sync.WaitGroup
	for range p.cfg.Concurrency {
		wg.Go(func() { p.worker(ctx, invokeCtx) })
	}
	<-ctx.Done()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(p.cfg.StopGrace):
	}
	cancelInvocations()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		p.log.Warn("event source: an invocation ignored cancellation; abandoning it")
	}
	return nil
}

// worker is one poller feeding one concurrent invocation slot.
func (p *Poller) worker(ctx, invokeCtx context.Context) {
	for ctx.Err() == nil {
		batch := p.gather(ctx)
		if len(batch) == 0 {
			continue
		}
		if ctx.Err() != nil {
			// Stopping before the invocation began: hand the batch straight back.
			p.release(batch)
			return
		}
		p.invoke(ctx, invokeCtx, batch)
	}
}

// gather receives up to BatchSize messages, waiting at most BatchWindow after the
// first one for more.
func (p *Poller) gather(ctx context.Context) []types.Message {
	var batch []types.Message
	var windowEnd time.Time
	for len(batch) < p.cfg.BatchSize {
		wait := p.cfg.WaitTime
		if len(batch) > 0 {
			left := time.Until(windowEnd)
			if left <= 0 {
				break
			}
			wait = left
		}
		out, err := p.queue.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:            &p.cfg.QueueURL,
			MaxNumberOfMessages: int32(min(10, p.cfg.BatchSize-len(batch))),
			// Whole seconds, at least 1 and at most SQS's limit of 20; a longer
			// window is made of several receives.
			WaitTimeSeconds:             int32(min(maxWaitSeconds, max(1, (wait+time.Second-1)/time.Second))),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		if err != nil {
			if ctx.Err() == nil {
				p.log.Error("event source: receive failed", "queue", p.cfg.QueueURL, "err", err)
				sleep(ctx, time.Second)
			}
			break
		}
		if len(out.Messages) == 0 && len(batch) == 0 {
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if len(batch) == 0 {
			windowEnd = time.Now().Add(p.cfg.BatchWindow)
		}
		batch = append(batch, out.Messages...)
		if p.cfg.BatchWindow == 0 || ctx.Err() != nil {
			break
		}
	}
	return batch
}

// maxWaitSeconds is the longest long poll SQS allows.
const maxWaitSeconds = 20

// invoke calls the handler once with batch under ctx and settles every message.
// stop ends when the poller is stopping.
func (p *Poller) invoke(stop, ctx context.Context, batch []types.Message) {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(batch))}
	byID := make(map[string]types.Message, len(batch))
	for i, m := range batch {
		ev.Records[i] = p.record(m)
		byID[aws.ToString(m.MessageId)] = m
	}
	start := time.Now()
	ictx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	ictx = lambdacontext.NewContext(ictx, &lambdacontext.LambdaContext{
		AwsRequestID:       newRequestID(),
		InvokedFunctionArn: "arn:aws:lambda:" + p.cfg.Region + ":000000000000:function:" + p.cfg.FunctionName,
	})
	resp, err := p.callWithin(ictx, ev)
	inv := Invocation{Records: len(batch), Err: err, Duration: time.Since(start)}
	var failed map[string]bool
	if err == nil {
		failed = map[string]bool{}
		for _, f := range resp.BatchItemFailures {
			if _, ok := byID[f.ItemIdentifier]; !ok {
				// Lambda treats an unknown or empty identifier as a failure of the whole batch.
				err = fmt.Errorf("batch item failure names unknown message %q", f.ItemIdentifier)
				inv.Err = err
				break
			}
			failed[f.ItemIdentifier] = true
		}
	}
	var done, kept []types.Message
	for _, m := range batch {
		if err != nil || failed[aws.ToString(m.MessageId)] {
			kept = append(kept, m)
		} else {
			done = append(done, m)
		}
	}
	inv.Failed = len(kept)
	if err != nil {
		p.log.Warn("event source: invocation failed; its messages return after the visibility timeout", "records", len(batch), "err", err)
	}
	p.delete(done)
	if stop.Err() != nil && !p.cfg.KeepOnStop {
		// Stopping: what did not succeed (failures reported by an invocation that
		// finished within the grace period included) goes back now rather than
		// after the visibility timeout, since no poller is left to retry it
		// sooner. While running, failures stay hidden for the visibility timeout,
		// as with Lambda.
		p.release(kept)
	}
	if p.cfg.Invoked != nil {
		p.cfg.Invoked(inv)
	}
}

// call runs the handler, turning a panic into an error as the Lambda runtime does.
func (p *Poller) call(ctx context.Context, ev events.SQSEvent) (resp events.SQSEventResponse, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return p.handler(ctx, ev)
}

func (p *Poller) record(m types.Message) events.SQSMessage {
	attrs := make(map[string]string, len(m.Attributes))
	for k, v := range m.Attributes {
		attrs[k] = v
	}
	mattrs := make(map[string]events.SQSMessageAttribute, len(m.MessageAttributes))
	for k, v := range m.MessageAttributes {
		mattrs[k] = events.SQSMessageAttribute{
			StringValue:      v.StringValue,
			BinaryValue:      v.BinaryValue,
			StringListValues: v.StringListValues,
			BinaryListValues: v.BinaryListValues,
			DataType:         aws.ToString(v.DataType),
		}
	}
	return events.SQSMessage{
		MessageId:              aws.ToString(m.MessageId),
		ReceiptHandle:          aws.ToString(m.ReceiptHandle),
		Body:                   aws.ToString(m.Body),
		Md5OfBody:              aws.ToString(m.MD5OfBody),
		Md5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
		Attributes:             attrs,
		MessageAttributes:      mattrs,
		EventSourceARN:         p.cfg.QueueARN,
		EventSource:            "aws:sqs",
		AWSRegion:              p.cfg.Region,
	}
}

// delete removes settled messages, ten at a time (the SQS batch limit). It runs
// even while stopping: a success must not be redone.
func (p *Poller) delete(msgs []types.Message) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for start := 0; start < len(msgs); start += 10 {
		chunk := msgs[start:min(start+10, len(msgs))]
		entries := make([]types.DeleteMessageBatchRequestEntry, len(chunk))
		for i, m := range chunk {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
		}
		out, err := p.queue.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &p.cfg.QueueURL, Entries: entries})
		if err != nil {
			p.log.Error("event source: delete failed; the messages will be redelivered", "count", len(chunk), "err", err)
			continue
		}
		for _, f := range out.Failed {
			p.log.Error("event source: delete failed; the message will be redelivered", "code", aws.ToString(f.Code), "msg", aws.ToString(f.Message))
		}
	}
}

// release makes messages visible again at once (ChangeMessageVisibility 0).
func (p *Poller) release(msgs []types.Message) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, m := range msgs {
		if _, err := p.queue.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
			QueueUrl: &p.cfg.QueueURL, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0,
		}); err != nil {
			p.log.Warn("event source: release failed; the message returns after its visibility timeout", "err", err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
