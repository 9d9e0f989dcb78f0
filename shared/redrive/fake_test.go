package redrive

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// fakeSQS is an in-memory SQS with just enough behaviour for redrive: queues by
// URL, visibility timeouts on a clock the test controls, receipt handles, and
// hooks that fail chosen calls.
type fakeSQS struct {
	mu     sync.Mutex
	now    time.Time
	queues map[string]*fakeQueue // by URL
	seq    int
	ops    []string // "send <dlq message id>", "delete <message id>", in call order

	startErr   error
	started    []*sqs.StartMessageMoveTaskInput
	taskLists  [][]types.ListMessageMoveTasksResultEntry // successive ListMessageMoveTasks answers
	listCalls  int
	failSend   func(n int) error // n counts SendMessage calls from 1
	failDelete func(n int) error
	sends      int
	deletes    int
}

type fakeQueue struct {
	name, arn string
	msgs      []*fakeMessage
}

type fakeMessage struct {
	id, body       string
	attrs          map[string]types.MessageAttributeValue
	origin         string // the DLQ message this one was sent from, if any
	handle         string
	invisibleUntil time.Time
}

func newFakeSQS(names ...string) *fakeSQS {
	f := &fakeSQS{now: time.Unix(1_700_000_000, 0), queues: map[string]*fakeQueue{}}
	for _, n := range names {
		f.queues[f.url(n)] = &fakeQueue{name: n, arn: "arn:aws:sqs:eu-west-1:123456789012:" + n}
	}
	return f
}

func (f *fakeSQS) url(name string) string {
	return "https://sqs.eu-west-1.amazonaws.com/123456789012/" + name
}

// put adds messages to a queue and returns their IDs.
func (f *fakeSQS) put(queue string, bodies ...string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	q := f.queues[f.url(queue)]
	for _, b := range bodies {
		f.seq++
		id := fmt.Sprintf("m%03d", f.seq)
		q.msgs = append(q.msgs, &fakeMessage{id: id, body: b, attrs: map[string]types.MessageAttributeValue{
			"trace": {DataType: aws.String("String"), StringValue: aws.String("t-" + b)},
		}})
		ids = append(ids, id)
	}
	return ids
}

// bodies lists a queue's message bodies, sorted, whether visible or not.
func (f *fakeSQS) bodies(queue string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, m := range f.queues[f.url(queue)].msgs {
		out = append(out, m.body)
	}
	sort.Strings(out)
	return out
}

func (f *fakeSQS) messages(queue string) []*fakeMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*fakeMessage(nil), f.queues[f.url(queue)].msgs...)
}

func (f *fakeSQS) byURL(url *string) (*fakeQueue, error) {
	q, ok := f.queues[aws.ToString(url)]
	if !ok {
		return nil, fmt.Errorf("QueueDoesNotExist: %s", aws.ToString(url))
	}
	return q, nil
}

func (f *fakeSQS) GetQueueUrl(_ context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.url(aws.ToString(in.QueueName))
	if _, ok := f.queues[u]; !ok {
		return nil, fmt.Errorf("QueueDoesNotExist: %s", aws.ToString(in.QueueName))
	}
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String(u)}, nil
}

func (f *fakeSQS) GetQueueAttributes(_ context.Context, in *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q, err := f.byURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{"QueueArn": q.arn}}, nil
}

func (f *fakeSQS) StartMessageMoveTask(_ context.Context, in *sqs.StartMessageMoveTaskInput, _ ...func(*sqs.Options)) (*sqs.StartMessageMoveTaskOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.startErr != nil {
		return nil, f.startErr
	}
	f.started = append(f.started, in)
	return &sqs.StartMessageMoveTaskOutput{TaskHandle: aws.String("handle-1")}, nil
}

func (f *fakeSQS) ListMessageMoveTasks(_ context.Context, in *sqs.ListMessageMoveTasksInput, _ ...func(*sqs.Options)) (*sqs.ListMessageMoveTasksOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.taskLists) == 0 {
		return nil, errors.New("fake: no task list scripted")
	}
	i := min(f.listCalls, len(f.taskLists)-1)
	f.listCalls++
	return &sqs.ListMessageMoveTasksOutput{Results: f.taskLists[i]}, nil
}

func (f *fakeSQS) ReceiveMessage(_ context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q, err := f.byURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if in.MaxNumberOfMessages < 1 || in.MaxNumberOfMessages > 10 {
		return nil, fmt.Errorf("InvalidParameterValue: MaxNumberOfMessages %d", in.MaxNumberOfMessages)
	}
	if len(in.MessageAttributeNames) == 0 {
		return nil, errors.New("fake: redrive must ask for message attributes or it drops them")
	}
	out := &sqs.ReceiveMessageOutput{}
	for _, m := range q.msgs {
		if len(out.Messages) == int(in.MaxNumberOfMessages) {
			break
		}
		if f.now.Before(m.invisibleUntil) {
			continue
		}
		f.seq++
		m.handle = fmt.Sprintf("rh-%s-%d", m.id, f.seq)
		m.invisibleUntil = f.now.Add(time.Duration(in.VisibilityTimeout) * time.Second)
		out.Messages = append(out.Messages, types.Message{
			MessageId: aws.String(m.id), Body: aws.String(m.body), ReceiptHandle: aws.String(m.handle),
			MessageAttributes: m.attrs,
		})
	}
	return out, nil
}

func (f *fakeSQS) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sends++
	if f.failSend != nil {
		if err := f.failSend(f.sends); err != nil {
			return nil, err
		}
	}
	q, err := f.byURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	// Which DLQ message is this? The test bodies are unique.
	origin := ""
	for _, dq := range f.queues {
		for _, m := range dq.msgs {
			if m.body == aws.ToString(in.MessageBody) && dq != q {
				origin = m.id
			}
		}
	}
	f.seq++
	id := fmt.Sprintf("n%03d", f.seq)
	q.msgs = append(q.msgs, &fakeMessage{id: id, body: aws.ToString(in.MessageBody), attrs: in.MessageAttributes, origin: origin})
	f.ops = append(f.ops, "send "+origin)
	return &sqs.SendMessageOutput{MessageId: aws.String(id)}, nil
}

func (f *fakeSQS) DeleteMessage(_ context.Context, in *sqs.DeleteMessageInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deletes++
	if f.failDelete != nil {
		if err := f.failDelete(f.deletes); err != nil {
			return nil, err
		}
	}
	q, err := f.byURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	for i, m := range q.msgs {
		if m.handle == aws.ToString(in.ReceiptHandle) {
			q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
			f.ops = append(f.ops, "delete "+m.id)
			return &sqs.DeleteMessageOutput{}, nil
		}
	}
	return nil, fmt.Errorf("ReceiptHandleIsInvalid: %s", aws.ToString(in.ReceiptHandle))
}

// sentBeforeDeleted reports a DLQ message deleted without having been sent first.
func (f *fakeSQS) sentBeforeDeleted() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	sent := map[string]bool{}
	for _, op := range f.ops {
		verb, id, _ := strings.Cut(op, " ")
		switch verb {
		case "send":
			sent[id] = true
		case "delete":
			if !sent[id] {
				return fmt.Errorf("message %s deleted before it was sent (ops %v)", id, f.ops)
			}
		}
	}
	return nil
}
