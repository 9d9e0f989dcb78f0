package redrive

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

const (
	dlq    = "imagepipe-resize-dlq"
	source = "imagepipe-resize"
)

// noneLost fails the test unless every body is in the DLQ or the source queue.
func noneLost(t *testing.T, f *fakeSQS, bodies ...string) {
	t.Helper()
	have := append(f.bodies(dlq), f.bodies(source)...)
	for _, b := range bodies {
		if !slices.Contains(have, b) {
			t.Errorf("message %q is in neither queue: lost", b)
		}
	}
	if err := f.sentBeforeDeleted(); err != nil {
		t.Error(err)
	}
}

func TestCopy(t *testing.T) {
	bodies := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"} // more than one receive
	tests := []struct {
		name       string
		max        int
		hold       time.Duration
		failSend   func(n int) error
		failDelete func(n int) error
		wantErr    string
		wantMoved  int64
		wantDLQ    int // messages left in the DLQ
		wantSource int // messages in the source queue
		wantDup    int
		wantSends  int
	}{
		{name: "all", wantMoved: 12, wantDLQ: 0, wantSource: 12, wantSends: 12},
		{name: "max", max: 5, wantMoved: 5, wantDLQ: 7, wantSource: 5, wantSends: 5},
		{
			name:     "send fails midway: the unsent stay in the DLQ",
			failSend: func(n int) error { return failOn(n, 4) },
			wantErr:  "send message m004", wantMoved: 3, wantDLQ: 9, wantSource: 3, wantSends: 4,
		},
		{
			// Hold 0 makes the undeleted message visible again at once: redrive must
			// retry the delete without sending a second copy.
			name:       "delete fails once: retried, never sent twice",
			hold:       time.Nanosecond,
			failDelete: func(n int) error { return failOn(n, 2) },
			wantMoved:  12, wantDLQ: 0, wantSource: 12, wantSends: 12,
		},
		{
			name:       "delete always fails for one message: reported as in both queues",
			hold:       time.Nanosecond,
			failDelete: func(n int) error { return failAfter(n, 12) },
			wantErr:    "1 message(s) were sent but could not be deleted",
			wantMoved:  11, wantDLQ: 1, wantSource: 12, wantDup: 1, wantSends: 12,
		},
		{
			name:       "delete fails with the default hold: message stays hidden, reported",
			failDelete: func(n int) error { return failOn(n, 1) },
			wantErr:    "1 message(s) were sent but could not be deleted",
			wantMoved:  11, wantDLQ: 1, wantSource: 12, wantDup: 1, wantSends: 12,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSQS(dlq, source)
			f.put(dlq, bodies...)
			f.failSend, f.failDelete = tc.failSend, tc.failDelete
			r, err := Run(context.Background(), f, Options{DLQ: dlq, Destination: source, Method: Copy, Max: tc.max, Hold: tc.hold})
			if tc.wantErr == "" && err != nil {
				t.Fatalf("Run: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Run error = %v, want one containing %q", err, tc.wantErr)
			}
			if r.Method != Copy || r.Moved != tc.wantMoved || len(r.Duplicated) != tc.wantDup {
				t.Errorf("report = %+v, want method copy, moved %d, %d duplicated", r, tc.wantMoved, tc.wantDup)
			}
			if got := len(f.bodies(dlq)); got != tc.wantDLQ {
				t.Errorf("DLQ holds %d, want %d", got, tc.wantDLQ)
			}
			if got := len(f.bodies(source)); got != tc.wantSource {
				t.Errorf("source queue holds %d, want %d", got, tc.wantSource)
			}
			if f.sends != tc.wantSends {
				t.Errorf("%d sends, want %d", f.sends, tc.wantSends)
			}
			noneLost(t, f, bodies...)
			for _, m := range f.messages(source) {
				if got := aws.ToString(m.attrs["trace"].StringValue); got != "t-"+m.body {
					t.Errorf("message %q arrived with attribute trace=%q, want %q", m.body, got, "t-"+m.body)
				}
				if r.MessageIDs[m.origin] != m.id && !slices.Contains(r.Duplicated, m.origin) {
					t.Errorf("report maps %s to %q, the queue has it as %s", m.origin, r.MessageIDs[m.origin], m.id)
				}
			}
		})
	}
}

func failOn(n, want int) error {
	if n == want {
		return fmt.Errorf("injected failure of call %d", n)
	}
	return nil
}

func failAfter(n, after int) error {
	if n >= after {
		return fmt.Errorf("injected failure of call %d", n)
	}
	return nil
}

func TestCopyNeedsDestination(t *testing.T) {
	f := newFakeSQS(dlq, source)
	f.put(dlq, "a")
	for _, o := range []Options{
		{DLQ: dlq, Method: Copy},
		{DLQ: dlq, Destination: dlq, Method: Copy},
		{Destination: source, Method: Copy},
		{DLQ: dlq, Destination: source, Method: "teleport"},
		{DLQ: "no-such-queue", Destination: source, Method: Copy},
	} {
		if _, err := Run(context.Background(), f, o); err == nil {
			t.Errorf("Run(%+v) succeeded, want an error", o)
		}
	}
	if got := f.bodies(dlq); len(got) != 1 {
		t.Errorf("a refused redrive touched the DLQ: %v", got)
	}
}

func TestMoveTask(t *testing.T) {
	running := types.ListMessageMoveTasksResultEntry{
		TaskHandle: aws.String("handle-1"), Status: aws.String("RUNNING"), StartedTimestamp: 1700000000000,
		ApproximateNumberOfMessagesMoved: 3, ApproximateNumberOfMessagesToMove: aws.Int64(7),
	}
	older := types.ListMessageMoveTasksResultEntry{Status: aws.String("COMPLETED"), StartedTimestamp: 1600000000000, ApproximateNumberOfMessagesMoved: 99}
	done := func(status string, moved int64, reason string) types.ListMessageMoveTasksResultEntry {
		e := running
		e.TaskHandle, e.Status, e.ApproximateNumberOfMessagesMoved = nil, aws.String(status), moved
		if reason != "" {
			e.FailureReason = aws.String(reason)
		}
		return e
	}
	tests := []struct {
		name       string
		dest       string
		rate       int32
		lists      [][]types.ListMessageMoveTasksResultEntry
		wantErr    string
		wantMoved  int64
		wantStatus string
	}{
		{
			name:      "followed to completion, matched by start time after the handle is gone",
			lists:     [][]types.ListMessageMoveTasksResultEntry{{running, older}, {running, older}, {done("COMPLETED", 7, ""), older}},
			wantMoved: 7, wantStatus: "COMPLETED",
		},
		{
			name: "explicit destination and rate", dest: source, rate: 50,
			lists:     [][]types.ListMessageMoveTasksResultEntry{{done("COMPLETED", 7, ""), older}},
			wantMoved: 7, wantStatus: "COMPLETED",
		},
		{
			name:    "failed task is an error with SQS's reason",
			lists:   [][]types.ListMessageMoveTasksResultEntry{{running}, {done("FAILED", 4, "AccessDenied on destination")}},
			wantErr: "AccessDenied on destination", wantMoved: 4, wantStatus: "FAILED",
		},
		{
			name:    "task vanishes from the list",
			lists:   [][]types.ListMessageMoveTasksResultEntry{{running}, {older}},
			wantErr: "does not list it", wantMoved: 3, wantStatus: "RUNNING",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSQS(dlq, source)
			f.put(dlq, "a")
			f.taskLists = tc.lists
			var progress []string
			r, err := Run(context.Background(), f, Options{
				DLQ: dlq, Destination: tc.dest, Method: MoveTask, RatePerSecond: tc.rate, PollInterval: time.Millisecond,
				Progress: func(format string, args ...any) { progress = append(progress, fmt.Sprintf(format, args...)) },
			})
			if tc.wantErr == "" && err != nil {
				t.Fatalf("Run: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Run error = %v, want one containing %q", err, tc.wantErr)
			}
			if r.Method != MoveTask || r.TaskHandle != "handle-1" || r.Moved != tc.wantMoved || r.TaskStatus != tc.wantStatus {
				t.Errorf("report = %+v, want move-task handle-1, moved %d, status %s", r, tc.wantMoved, tc.wantStatus)
			}
			if len(f.started) != 1 {
				t.Fatalf("%d move tasks started, want 1", len(f.started))
			}
			in := f.started[0]
			if got := aws.ToString(in.SourceArn); got != f.queues[f.url(dlq)].arn {
				t.Errorf("SourceArn = %q, want the DLQ's ARN", got)
			}
			wantDest := ""
			if tc.dest != "" {
				wantDest = f.queues[f.url(tc.dest)].arn
			}
			if got := aws.ToString(in.DestinationArn); got != wantDest {
				t.Errorf("DestinationArn = %q, want %q", got, wantDest)
			}
			if got := aws.ToInt32(in.MaxNumberOfMessagesPerSecond); got != tc.rate {
				t.Errorf("MaxNumberOfMessagesPerSecond = %d, want %d", got, tc.rate)
			}
			if f.sends != 0 || f.deletes != 0 {
				t.Errorf("a move task also copied messages itself (%d sends, %d deletes)", f.sends, f.deletes)
			}
			if len(progress) == 0 {
				t.Error("no progress was reported")
			}
		})
	}
}

type apiErr struct{ code string }

func (e apiErr) Error() string                 { return e.code }
func (e apiErr) ErrorCode() string             { return e.code }
func (e apiErr) ErrorMessage() string          { return e.code }
func (e apiErr) ErrorFault() smithy.ErrorFault { return smithy.FaultClient }

func TestAutoFallsBackOnlyWhenUnsupported(t *testing.T) {
	tests := []struct {
		name       string
		method     Method
		startErr   error
		wantMethod Method
		wantErr    bool
	}{
		{name: "auto, unsupported: copies", method: Auto, startErr: apiErr{"UnsupportedOperation"}, wantMethod: Copy},
		{name: "default method is auto", method: "", startErr: apiErr{"InvalidAction"}, wantMethod: Copy},
		{name: "move-task only, unsupported: error", method: MoveTask, startErr: apiErr{"UnsupportedOperation"}, wantMethod: MoveTask, wantErr: true},
		{name: "auto, access denied: error, no copy", method: Auto, startErr: apiErr{"AccessDenied"}, wantMethod: MoveTask, wantErr: true},
		{name: "auto, network error: error, no copy", method: Auto, startErr: errors.New("dial tcp: connection refused"), wantMethod: MoveTask, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSQS(dlq, source)
			f.put(dlq, "a", "b")
			f.startErr = tc.startErr
			r, err := Run(context.Background(), f, Options{DLQ: dlq, Destination: source, Method: tc.method})
			if (err != nil) != tc.wantErr {
				t.Fatalf("Run error = %v, want error %v", err, tc.wantErr)
			}
			if r.Method != tc.wantMethod {
				t.Errorf("method = %s, want %s", r.Method, tc.wantMethod)
			}
			wantMoved := 0
			if tc.wantMethod == Copy {
				wantMoved = 2
			}
			if got := len(f.bodies(source)); got != wantMoved || int(r.Moved) != wantMoved {
				t.Errorf("source queue holds %d, report says %d moved, want %d", got, r.Moved, wantMoved)
			}
			noneLost(t, f, "a", "b")
		})
	}
}

// TestUnsupportedWithRealClient checks the classification against what the real
// SDK client makes of real answers: goaws's bare 400 for an unknown action, and
// SQS's named errors, which must not trigger the fallback.
func TestUnsupportedWithRealClient(t *testing.T) {
	tests := []struct {
		name   string
		status int
		ctype  string
		body   string
		want   bool
	}{
		{name: "goaws unknown action", status: 400, ctype: "text/plain; charset=utf-8", body: "Bad Request", want: true},
		{name: "not implemented", status: 501, ctype: "text/plain", body: "", want: true},
		{name: "SQS unsupported operation", status: 400, ctype: "application/x-amz-json-1.0",
			body: `{"__type":"com.amazonaws.sqs#UnsupportedOperation","message":"FIFO source queues are not supported"}`, want: true},
		{name: "SQS queue missing", status: 400, ctype: "application/x-amz-json-1.0",
			body: `{"__type":"com.amazonaws.sqs#ResourceNotFoundException","message":"The resource that you specified for the SourceArn parameter doesn't exist."}`},
		{name: "SQS access denied", status: 403, ctype: "application/x-amz-json-1.0",
			body: `{"__type":"com.amazon.coral.service#AccessDeniedException","message":"no"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			client := sqs.New(sqs.Options{
				Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL),
				Credentials:      aws.AnonymousCredentials{},
				RetryMaxAttempts: 1,
			})
			_, err := client.StartMessageMoveTask(context.Background(), &sqs.StartMessageMoveTaskInput{SourceArn: aws.String("arn:aws:sqs:eu-west-1:000000000000:dlq")})
			if err == nil {
				t.Fatal("StartMessageMoveTask succeeded against an error answer")
			}
			if got := unsupported(err); got != tc.want {
				t.Errorf("unsupported(%v) = %v, want %v", err, got, tc.want)
			}
		})
	}
}

// The real client must satisfy the interface unchanged.
var _ Queues = (*sqs.Client)(nil)
