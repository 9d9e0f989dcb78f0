package main

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/imagepipe/imagepipe/localcloud"
	"github.com/imagepipe/imagepipe/shared/redrive"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// TestRedriveCommandAgainstTheLocalCloud runs `imagepipe redrive` as an operator
// would, configured only through the SDK's environment, against the local cloud:
// goaws has no message move tasks, so the command must fall back to copying, and
// every message must arrive in the resize queue with its body and attributes.
func TestRedriveCommandAgainstTheLocalCloud(t *testing.T) {
	ctx := context.Background()
	c, err := localcloud.Start(ctx, localcloud.Config{Settings: settings.Default(), Name: "redrivecli", NoEventSource: true,
		VisibilityTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	for k, v := range c.Env() {
		t.Setenv(k, v)
	}
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")

	bodies := []string{`{"Records":[1]}`, `{"Records":[2]}`, `{"Records":[3]}`}
	for _, b := range bodies {
		if _, err := c.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &c.DLQURL, MessageBody: aws.String(b),
			MessageAttributes: map[string]types.MessageAttributeValue{"origin": {DataType: aws.String("String"), StringValue: aws.String("test")}}}); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	dlqName := c.DLQURL[strings.LastIndex(c.DLQURL, "/")+1:]
	queueName := c.ResizeQueueURL[strings.LastIndex(c.ResizeQueueURL, "/")+1:]
	if err := redriveCommand(ctx, []string{"-dlq", dlqName, "-to", queueName, "-json"}, &stdout, &stderr); err != nil {
		t.Fatalf("redrive: %v\nstderr: %s", err, stderr.String())
	}
	var report redrive.Report
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatalf("report: %v: %s", err, stdout.String())
	}
	if report.Method != redrive.Copy || report.Moved != 3 || len(report.MessageIDs) != 3 {
		t.Errorf("report %+v, want 3 messages copied", report)
	}
	if !strings.Contains(stderr.String(), "copying messages instead") {
		t.Errorf("the fallback from move tasks was not reported: %s", stderr.String())
	}
	out, err := c.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &c.ResizeQueueURL, MaxNumberOfMessages: 10,
		WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range out.Messages {
		if strings.Contains(aws.ToString(m.Body), "s3:TestEvent") {
			continue // S3 sends it when the notification is configured
		}
		got = append(got, aws.ToString(m.Body))
		if v := aws.ToString(m.MessageAttributes["origin"].StringValue); v != "test" {
			t.Errorf("message %s arrived with attribute origin=%q", aws.ToString(m.Body), v)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, bodies) {
		t.Errorf("resize queue holds %v, want %v", got, bodies)
	}
	stats, err := c.QueueStats(ctx)
	if err != nil || stats.DLQ != 0 {
		t.Errorf("DLQ after redrive: %+v, %v", stats, err)
	}
}
