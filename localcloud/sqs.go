package localcloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/Admiral-Piett/goaws/app/gosqs"
	"github.com/Admiral-Piett/goaws/app/models"
	"github.com/Admiral-Piett/goaws/app/router"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/sirupsen/logrus"
)

// accountID is the account every local ARN and queue URL names.
const accountID = "000000000000"

// goaws keeps its queues and environment in package globals; set them up once per
// process and never touch them while traffic flows.
var goawsOnce sync.Once

func newSQSHandler(region string) http.Handler {
	goawsOnce.Do(func() {
		// goaws logs every empty receive at warning level; keep only its errors.
		logrus.SetLevel(logrus.ErrorLevel)
		models.CurrentEnvironment = models.Environment{Host: "127.0.0.1", Region: region, AccountID: accountID}
	})
	return router.New()
}

// runSQSHousekeeping returns messages whose visibility timeout passed to the queue
// (and to the DLQ past maxReceiveCount); goaws leaves that to its main program.
func runSQSHousekeeping(interval time.Duration) (stop func()) {
	quit := make(chan bool)
	done := make(chan struct{})
	go func() { defer close(done); gosqs.PeriodicTasks(interval, quit) }()
	return func() { close(quit); <-done }
}

// queueInUse reports whether this process already has a queue of that name.
func queueInUse(name string) bool {
	models.SyncQueues.RLock()
	defer models.SyncQueues.RUnlock()
	_, ok := models.SyncQueues.Queues[name]
	return ok
}

// goawsMessageIDs lists the IDs of every message in every goaws queue of the
// process (goaws changes them under this lock).
func goawsMessageIDs() map[string]bool {
	models.SyncQueues.RLock()
	defer models.SyncQueues.RUnlock()
	ids := map[string]bool{}
	for _, q := range models.SyncQueues.Queues {
		for _, m := range q.Messages {
			ids[m.Uuid] = true
		}
	}
	return ids
}

// queueARN is the ARN of a local queue.
func queueARN(region, name string) string {
	return "arn:aws:sqs:" + region + ":" + accountID + ":" + name
}

// queueSpec is one queue to create.
type queueSpec struct {
	name       string
	visibility time.Duration
	retention  time.Duration
	dlqARN     string
	maxReceive int
}

// createQueue creates a queue through the SQS API, as the CDK app would declare it.
func createQueue(ctx context.Context, client *sqs.Client, q queueSpec) (string, error) {
	attrs := map[string]string{
		"VisibilityTimeout":      strconv.Itoa(int(q.visibility / time.Second)),
		"MessageRetentionPeriod": strconv.Itoa(int(q.retention / time.Second)),
	}
	if q.dlqARN != "" {
		policy, _ := json.Marshal(map[string]string{
			"deadLetterTargetArn": q.dlqARN,
			"maxReceiveCount":     strconv.Itoa(q.maxReceive),
		})
		attrs["RedrivePolicy"] = string(policy)
	}
	out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &q.name, Attributes: attrs})
	if err != nil {
		return "", fmt.Errorf("create queue %s: %w", q.name, err)
	}
	if aws.ToString(out.QueueUrl) == "" {
		return "", errors.New("create queue " + q.name + ": no URL returned")
	}
	return aws.ToString(out.QueueUrl), nil
}
