// Package redrive moves messages from a dead-letter queue back to the queue they
// came from, so that work which failed for a cause since fixed is done after all.
//
// On AWS it asks SQS to do it (StartMessageMoveTask) and follows the task to its
// end. Where that API is not implemented (the local cloud's goaws), it copies each
// message itself: receive from the DLQ, send the same body and attributes to the
// source queue, and only then delete it from the DLQ, so a failure at any step
// leaves the message in at least one queue and never in none.
package redrive

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// Queues is the part of *sqs.Client that redrive uses.
type Queues interface {
	GetQueueUrl(ctx context.Context, params *sqs.GetQueueUrlInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	GetQueueAttributes(ctx context.Context, params *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	StartMessageMoveTask(ctx context.Context, params *sqs.StartMessageMoveTaskInput, optFns ...func(*sqs.Options)) (*sqs.StartMessageMoveTaskOutput, error)
	ListMessageMoveTasks(ctx context.Context, params *sqs.ListMessageMoveTasksInput, optFns ...func(*sqs.Options)) (*sqs.ListMessageMoveTasksOutput, error)
	ReceiveMessage(ctx context.Context, params *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	SendMessage(ctx context.Context, params *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	DeleteMessage(ctx context.Context, params *sqs.DeleteMessageInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
}

// Method says how messages are moved.
type Method string

const (
	// Auto uses a move task and falls back to Copy when SQS does not implement it.
	Auto Method = "auto"
	// MoveTask asks SQS to move the messages (StartMessageMoveTask).
	MoveTask Method = "move-task"
	// Copy receives, sends and deletes each message itself.
	Copy Method = "copy"
)

// Options say what to move where.
type Options struct {
	// DLQ is the dead-letter queue, by URL or name.
	DLQ string
	// Destination is the queue to move to, by URL or name. A move task may leave it
	// empty (SQS then returns each message to the queue it came from); Copy needs it.
	Destination string
	Method      Method
	// Max stops Copy after this many messages; 0 means until the DLQ is empty.
	Max int
	// RatePerSecond caps a move task's speed; 0 lets SQS choose.
	RatePerSecond int32
	// PollInterval is how often a move task's progress is read; 0 means 5s.
	PollInterval time.Duration
	// Hold is how long Copy keeps a received message invisible in the DLQ while it
	// is being moved; if the move fails midway the message reappears there after
	// it. 0 means 2 minutes.
	Hold time.Duration
	// Progress, if set, is told about each step (a move task's status, each copied message).
	Progress func(format string, args ...any)
}

// Report says what was moved.
type Report struct {
	Method Method `json:"method"`
	// TaskHandle and TaskStatus describe the move task, when one was used.
	TaskHandle string `json:"taskHandle,omitempty"`
	TaskStatus string `json:"taskStatus,omitempty"`
	// Moved counts the messages now in the destination and gone from the DLQ
	// (approximate for a move task, as SQS reports it).
	Moved int64 `json:"moved"`
	// Duplicated lists DLQ message IDs that were sent to the destination but could
	// not be deleted from the DLQ: they exist in both queues, which the idempotent
	// resize handler tolerates; the next redrive will send them again.
	Duplicated []string `json:"duplicated,omitempty"`
	// MessageIDs maps each moved DLQ message ID to its new ID (Copy only).
	MessageIDs map[string]string `json:"messageIds,omitempty"`
}

func (o Options) progress(format string, args ...any) {
	if o.Progress != nil {
		o.Progress(format, args...)
	}
}

// Run moves messages from the DLQ to the destination and reports what it moved.
// The report is valid (what happened before the failure) even when err is not nil.
func Run(ctx context.Context, q Queues, o Options) (Report, error) {
	if o.DLQ == "" {
		return Report{}, errors.New("redrive: the dead-letter queue is required")
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Second
	}
	if o.Hold <= 0 {
		o.Hold = 2 * time.Minute
	}
	dlqURL, err := queueURL(ctx, q, o.DLQ)
	if err != nil {
		return Report{}, err
	}
	var destURL string
	if o.Destination != "" {
		if destURL, err = queueURL(ctx, q, o.Destination); err != nil {
			return Report{}, err
		}
	}
	switch o.Method {
	case Copy:
		return copyMessages(ctx, q, o, dlqURL, destURL)
	case MoveTask, Auto, "":
		r, err := moveTask(ctx, q, o, dlqURL, destURL)
		if err != nil && o.Method != MoveTask && errors.Is(err, errMoveTaskUnsupported) {
			o.progress("message move tasks are not implemented here (%v); copying messages instead", err)
			return copyMessages(ctx, q, o, dlqURL, destURL)
		}
		return r, err
	default:
		return Report{}, fmt.Errorf("redrive: unknown method %q (want %q, %q or %q)", o.Method, Auto, MoveTask, Copy)
	}
}

// queueURL accepts a queue URL as is and looks a name up.
func queueURL(ctx context.Context, q Queues, nameOrURL string) (string, error) {
	if strings.HasPrefix(nameOrURL, "https://") || strings.HasPrefix(nameOrURL, "http://") {
		return nameOrURL, nil
	}
	out, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(nameOrURL)})
	if err != nil {
		return "", fmt.Errorf("look up queue %q: %w", nameOrURL, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

func queueARN(ctx context.Context, q Queues, url string) (string, error) {
	out, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", fmt.Errorf("get ARN of %s: %w", url, err)
	}
	arn := out.Attributes[string(types.QueueAttributeNameQueueArn)]
	if arn == "" {
		return "", fmt.Errorf("get ARN of %s: no QueueArn attribute in the answer", url)
	}
	return arn, nil
}

var errMoveTaskUnsupported = errors.New("message move tasks are not supported")

// unsupported reports whether err means the endpoint does not implement the
// action, as opposed to refusing this request (missing queue, no permission,
// throttling), which must not silently switch methods.
func unsupported(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation",
			"InvalidAction", "UnknownOperationException", "UnknownOperation", "NotImplemented":
			return true
		}
	}
	// goaws answers an action it does not know with a bare 400 "Bad Request" body
	// that carries no error code at all; real SQS always names its error.
	var resp *awshttp.ResponseError
	if errors.As(err, &resp) {
		status := resp.HTTPStatusCode()
		code := ""
		if api != nil {
			code = api.ErrorCode()
		}
		if status == http.StatusNotImplemented || (status == http.StatusBadRequest || status == http.StatusNotFound) && (code == "" || code == "UnknownError") {
			return true
		}
	}
	return false
}

func moveTask(ctx context.Context, q Queues, o Options, dlqURL, destURL string) (Report, error) {
	r := Report{Method: MoveTask}
	source, err := queueARN(ctx, q, dlqURL)
	if err != nil {
		return r, err
	}
	in := &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(source)}
	if destURL != "" {
		dest, err := queueARN(ctx, q, destURL)
		if err != nil {
			return r, err
		}
		in.DestinationArn = aws.String(dest)
	}
	if o.RatePerSecond > 0 {
		in.MaxNumberOfMessagesPerSecond = aws.Int32(o.RatePerSecond)
	}
	started, err := q.StartMessageMoveTask(ctx, in)
	if err != nil {
		if unsupported(err) {
			return r, fmt.Errorf("start message move task from %s: %w: %w", source, errMoveTaskUnsupported, err)
		}
		return r, fmt.Errorf("start message move task from %s: %w", source, err)
	}
	r.TaskHandle = aws.ToString(started.TaskHandle)
	o.progress("started message move task %s from %s", r.TaskHandle, source)

	// ListMessageMoveTasks names a task by its handle only while it runs; after
	// that, ours is the one that started when ours was first seen running.
	var startedAt int64
	for {
		list, err := q.ListMessageMoveTasks(ctx, &sqs.ListMessageMoveTasksInput{
			SourceArn: aws.String(source), MaxResults: aws.Int32(10),
		})
		if err != nil {
			return r, fmt.Errorf("follow message move task %s: %w", r.TaskHandle, err)
		}
		entry, ok := findTask(list.Results, r.TaskHandle, startedAt)
		if !ok {
			return r, fmt.Errorf("follow message move task %s: SQS does not list it", r.TaskHandle)
		}
		startedAt = entry.StartedTimestamp
		r.TaskStatus = aws.ToString(entry.Status)
		r.Moved = entry.ApproximateNumberOfMessagesMoved
		toMove := "?"
		if entry.ApproximateNumberOfMessagesToMove != nil {
			toMove = fmt.Sprint(*entry.ApproximateNumberOfMessagesToMove)
		}
		o.progress("move task %s: %s, %d of %s moved", r.TaskHandle, r.TaskStatus, r.Moved, toMove)
		switch r.TaskStatus {
		case "COMPLETED":
			return r, nil
		case "FAILED", "CANCELLED":
			return r, fmt.Errorf("message move task %s %s after moving %d: %s",
				r.TaskHandle, strings.ToLower(r.TaskStatus), r.Moved, aws.ToString(entry.FailureReason))
		}
		select {
		case <-ctx.Done():
			// The task goes on in SQS without us; say so rather than pretend it stopped.
			return r, fmt.Errorf("stopped following message move task %s (it continues in SQS): %w", r.TaskHandle, ctx.Err())
		case <-time.After(o.PollInterval):
		}
	}
}

// findTask picks our task out of the most-recent-first list.
func findTask(entries []types.ListMessageMoveTasksResultEntry, handle string, startedAt int64) (types.ListMessageMoveTasksResultEntry, bool) {
	for _, e := range entries {
		if handle != "" && aws.ToString(e.TaskHandle) == handle {
			return e, true
		}
	}
	for _, e := range entries {
		if startedAt != 0 && e.StartedTimestamp == startedAt {
			return e, true
		}
	}
	// Finished before we first looked: only one task per source can run at a
	// time, so the newest is ours.
	if startedAt == 0 && len(entries) > 0 {
		return entries[0], true
	}
	return types.ListMessageMoveTasksResultEntry{}, false
}

func copyMessages(ctx context.Context, q Queues, o Options, dlqURL, destURL string) (Report, error) {
	r := Report{Method: Copy, MessageIDs: map[string]string{}}
	if destURL == "" {
		return r, errors.New("redrive: copying messages needs the destination queue (the DLQ's source queue)")
	}
	if destURL == dlqURL {
		return r, errors.New("redrive: the destination is the dead-letter queue itself")
	}
	fifo := strings.HasSuffix(destURL, ".fifo")
	// sent remembers messages already in the destination whose delete failed, so
	// that seeing them again (after Hold) retries only the delete.
	sent := map[string]bool{}
	for o.Max == 0 || int(r.Moved) < o.Max {
		n := int32(10)
		if o.Max > 0 && o.Max-int(r.Moved) < 10 {
			n = int32(o.Max - int(r.Moved))
		}
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(dlqURL),
			MaxNumberOfMessages:         n,
			WaitTimeSeconds:             1, // long polling asks every server, so empty means empty
			VisibilityTimeout:           int32(o.Hold / time.Second),
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		})
		if err != nil {
			return r, fmt.Errorf("receive from %s: %w", dlqURL, err)
		}
		if len(out.Messages) == 0 {
			break
		}
		fresh := 0
		for _, m := range out.Messages {
			id := aws.ToString(m.MessageId)
			if !sent[id] {
				fresh++
				in := &sqs.SendMessageInput{
					QueueUrl:          aws.String(destURL),
					MessageBody:       m.Body,
					MessageAttributes: m.MessageAttributes,
				}
				if fifo {
					in.MessageGroupId = aws.String(m.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)])
					in.MessageDeduplicationId = aws.String(id)
				}
				res, err := q.SendMessage(ctx, in)
				if err != nil {
					// Not deleted: the message reappears in the DLQ after Hold.
					return r, fmt.Errorf("send message %s to %s (it stays in the DLQ): %w", id, destURL, err)
				}
				sent[id] = true
				r.MessageIDs[id] = aws.ToString(res.MessageId)
			}
			if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(dlqURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				o.progress("message %s was sent as %s but not deleted from the DLQ: %v", id, r.MessageIDs[id], err)
				if !slices.Contains(r.Duplicated, id) {
					r.Duplicated = append(r.Duplicated, id)
				}
				continue
			}
			r.Duplicated = remove(r.Duplicated, id)
			delete(sent, id)
			r.Moved++
			o.progress("moved message %s as %s", id, r.MessageIDs[id])
		}
		if fresh == 0 && len(r.Duplicated) > 0 && allIn(out.Messages, r.Duplicated) {
			// Only messages whose delete keeps failing are left: stop rather than spin.
			break
		}
	}
	if len(r.Duplicated) > 0 {
		return r, fmt.Errorf("redrive: %d message(s) were sent but could not be deleted from the DLQ (now in both queues)", len(r.Duplicated))
	}
	return r, nil
}

func remove(ids []string, id string) []string {
	out := ids[:0]
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

func allIn(ms []types.Message, ids []string) bool {
	for _, m := range ms {
		if !slices.Contains(ids, aws.ToString(m.MessageId)) {
			return false
		}
	}
	return true
}
