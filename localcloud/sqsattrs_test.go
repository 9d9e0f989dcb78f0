package localcloud

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// TestSQSQueueAttributesAreWhatSQSAnswers: creation and modification times in epoch
// seconds, and SQS's default maximum message size; the queue's own settings intact.
func TestSQSQueueAttributesAreWhatSQSAnswers(t *testing.T) {
	before := time.Now().Unix()
	c := startCloud(t, func(cfg *Config) { cfg.NoEventSource = true })
	after := time.Now().Unix()
	ctx := context.Background()
	attrs := func(t *testing.T) map[string]string {
		t.Helper()
		out, err := c.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: &c.ResizeQueueURL, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
		if err != nil {
			t.Fatal(err)
		}
		return out.Attributes
	}
	a := attrs(t)
	for _, name := range []string{"CreatedTimestamp", "LastModifiedTimestamp"} {
		v, err := strconv.ParseInt(a[name], 10, 64)
		if err != nil || v < before || v > after {
			t.Errorf("%s = %q, want epoch seconds between %d and %d", name, a[name], before, after)
		}
	}
	if a["MaximumMessageSize"] != "1048576" {
		t.Errorf("MaximumMessageSize = %q, want SQS's default 1048576", a["MaximumMessageSize"])
	}
	if a["VisibilityTimeout"] != "2" {
		t.Errorf("VisibilityTimeout = %q, want the 2 s the cloud was created with", a["VisibilityTimeout"])
	}

	// SetQueueAttributes moves LastModifiedTimestamp, not CreatedTimestamp.
	c.sqsFront.mu.Lock()
	c.sqsFront.now = func() time.Time { return time.Now().Add(time.Hour) }
	c.sqsFront.mu.Unlock()
	if _, err := c.SQS.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &c.ResizeQueueURL,
		Attributes: map[string]string{"DelaySeconds": "0"}}); err != nil {
		t.Fatal(err)
	}
	b := attrs(t)
	if b["CreatedTimestamp"] != a["CreatedTimestamp"] {
		t.Errorf("CreatedTimestamp moved from %s to %s", a["CreatedTimestamp"], b["CreatedTimestamp"])
	}
	if m, _ := strconv.ParseInt(b["LastModifiedTimestamp"], 10, 64); m < after+3000 {
		t.Errorf("LastModifiedTimestamp = %s after SetQueueAttributes an hour on, want about %d", b["LastModifiedTimestamp"], after+3600)
	}
}
