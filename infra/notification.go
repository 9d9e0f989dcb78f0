package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// queueDestination sends a bucket's notifications to an SQS queue, like
// awss3notifications.SqsDestination, but grants S3 the send only for that bucket
// (aws:SourceArn) and only in this account (aws:SourceAccount): bucket names are
// global, so a bucket of the same name in another account after this one is
// deleted could otherwise still send events.
type queueDestination struct {
	queue awssqs.IQueue
}

func newQueueDestination(queue awssqs.IQueue) *queueDestination {
	return &queueDestination{queue: queue}
}

// Bind implements awss3.IBucketNotificationDestination.
func (d *queueDestination) Bind(scope constructs.Construct, bucket interfacesawss3.IBucketRef) *awss3.BucketNotificationDestinationConfig {
	account := awscdk.Stack_Of(scope).Account()
	d.queue.GrantSendMessages(awsiam.NewServicePrincipal(jsii.String("s3.amazonaws.com"), &awsiam.ServicePrincipalOpts{
		Conditions: &map[string]any{
			"ArnLike":      map[string]any{"aws:SourceArn": bucket.BucketRef().BucketArn},
			"StringEquals": map[string]any{"aws:SourceAccount": account},
		},
	}))
	// The queue's policy must exist before S3 checks it can send there.
	return &awss3.BucketNotificationDestinationConfig{
		Arn:          d.queue.QueueArn(),
		Type:         awss3.BucketNotificationDestinationType_QUEUE,
		Dependencies: &[]constructs.IDependable{d.queue},
	}
}
