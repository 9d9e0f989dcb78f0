package localcloud

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// The SDK must read a batch send's answer as SQS writes it: every entry listed as
// sent, with its message id.
func TestSendMessageBatchAnswersAsSQS(t *testing.T) {
	c := startCloud(t, func(cfg *Config) { cfg.NoEventSource = true })
	var entries []sqstypes.SendMessageBatchRequestEntry
	for _, id := range []string{"a", "b", "c"} {
		entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String("body " + id)})
	}
	out, err := c.SQS.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: &c.DLQURL, Entries: entries})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Successful) != 3 || len(out.Failed) != 0 {
		t.Fatalf("successful %d, failed %d; want 3 sent", len(out.Successful), len(out.Failed))
	}
	for _, s := range out.Successful {
		if aws.ToString(s.Id) == "" || aws.ToString(s.MessageId) == "" {
			t.Errorf("entry %+v lacks its id or message id", s)
		}
	}
}
