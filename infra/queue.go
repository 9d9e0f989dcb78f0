package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/imagepipe/imagepipe/shared/settings"
)

// QueueProps configures the resize queue.
type QueueProps struct {
	Settings settings.Settings
}

// Queue is the resize work queue and the dead-letter queue that catches messages
// which failed MaxReceiveCount times.
type Queue struct {
	Construct constructs.Construct
	Queue     awssqs.Queue
	DLQ       awssqs.Queue
}

// NewQueue creates the queue and its DLQ, both encrypted and TLS-only.
func NewQueue(scope constructs.Construct, id string, props QueueProps) *Queue {
	c := constructs.NewConstruct(scope, jsii.String(id))
	s := props.Settings
	dlq := awssqs.NewQueue(c, jsii.String("DeadLetter"), &awssqs.QueueProps{
		Encryption: awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL: jsii.Bool(true),
		// Longer than the source queue's, so a message never expires on arrival
		// (SQS keeps the original enqueue time across the move).
		RetentionPeriod: duration(s.Queue.DLQRetention),
		// SQS's default, said out loud so the template declares this queue a DLQ
		// (cfn-guard CT.SQS.PR.1). BY_QUEUE naming the resize queue would be a
		// dependency cycle: that queue's redrive policy names this one.
		RedriveAllowPolicy: &awssqs.RedriveAllowPolicy{RedrivePermission: awssqs.RedrivePermission_ALLOW_ALL},
	})
	queue := awssqs.NewQueue(c, jsii.String("Resize"), &awssqs.QueueProps{
		// SSE-SQS, not the AWS managed KMS key: S3 cannot send notifications to a
		// queue encrypted with aws/sqs.
		Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		RetentionPeriod:   duration(s.Queue.Retention),
		VisibilityTimeout: duration(s.VisibilityTimeout()),
		DeadLetterQueue: &awssqs.DeadLetterQueue{
			Queue:           dlq,
			MaxReceiveCount: jsii.Number(float64(s.Queue.MaxReceiveCount)),
		},
	})
	return &Queue{Construct: c, Queue: queue, DLQ: dlq}
}
