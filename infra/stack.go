package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/imagepipe/imagepipe/shared/settings"
)

// StackProps configures the whole service.
type StackProps struct {
	awscdk.StackProps
	Settings settings.Settings
	// AssetDir holds api/bootstrap and resize/bootstrap (bin/ after `make build`).
	AssetDir string
}

// Stack is the whole imagepipe service in one CloudFormation stack.
type Stack struct {
	Stack     awscdk.Stack
	API       *API
	Storage   *Storage
	Queue     *Queue
	Functions *Functions
	Alarms    *Alarms
	SLO       *SLO
	Dashboard *Dashboard
	Events    *Events
	// CDN is nil when the cdn setting is off.
	CDN  *CDN
	Auth *Auth
}

// NewStack wires the constructs together and declares the outputs an operator needs.
func NewStack(scope constructs.Construct, id string, props StackProps) *Stack {
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	s := props.Settings

	api := NewAPI(stack, "Api", APIProps{Settings: s})
	storage := NewStorage(stack, "Storage", StorageProps{Settings: s, UploadOrigins: []*string{api.Origin()}})
	queue := NewQueue(stack, "Queue", QueueProps{Settings: s})
	storage.Uploads.AddEventNotification(awss3.EventType_OBJECT_CREATED,
		newQueueDestination(queue.Queue),
		&awss3.NotificationKeyFilter{Prefix: jsii.String(s.UploadPrefix)})
	// The CDN in front of the variants (cdn.go); off, variants get presigned URLs.
	var cdn *CDN
	deliveryEnv := s.DeliveryEnv("", "")
	if s.CDN.Enabled {
		cdn = NewCDN(stack, "Cdn", CDNProps{Settings: s, Output: storage.Output, AccessLogs: storage.Logs})
		deliveryEnv = s.DeliveryEnv(*cdn.URL(s), *cdn.Distribution.DistributionId())
	}
	functions := NewFunctions(stack, "Functions", FunctionsProps{
		Delivery: deliveryEnv,
		Settings: s,
		AssetDir: props.AssetDir,
		Uploads:  storage.Uploads,
		Output:   storage.Output,
		Queue:    queue.Queue,
	})
	auth := NewAuth(stack, "Auth", AuthProps{Settings: s, PageURL: api.URL()})
	for k, v := range auth.PageEnv {
		functions.API.AddEnvironment(jsii.String(k), v, nil)
	}
	api.Serve(functions.API, s, auth)
	if cdn != nil {
		// Deleting an image must drop its cached copies (delivery.InvalidateImage).
		cdn.Distribution.GrantCreateInvalidation(functions.API)
	}
	alarms := NewAlarms(stack, "Alarms", AlarmsProps{
		Settings: s,
		Queue:    queue.Queue,
		DLQ:      queue.DLQ,
		Resize:   functions.Resize,
		HttpApi:  api.HttpApi,
	})
	// Service levels (issue 16): docs/slo.md's objectives, alarmed.
	slo := NewSLO(stack, "ServiceLevels", SLOProps{
		Settings: s, HttpApi: api.HttpApi, Queue: queue.Queue, DLQ: queue.DLQ, Topic: alarms.Topic,
	})
	dashboard := NewDashboard(stack, "Dashboard", DashboardProps{
		// Dashboard names are unique per account, not per region.
		Name:    *stack.StackName() + "-" + *stack.Region(),
		Queue:   queue.Queue,
		DLQ:     queue.DLQ,
		Resize:  functions.Resize,
		API:     functions.API,
		HttpApi: api.HttpApi,
		Alarms:  append(alarms.All(), slo.All()...),
		// Service levels (issue 16).
		ServiceLevels: slo.Widgets(),
	})
	// events.go: the bus, its archive and DLQ, the optional webhook.
	events := NewEvents(stack, "Events", EventsProps{
		Settings:   s,
		Publishers: []awslambda.Function{functions.Resize, functions.API},
		AlarmTopic: alarms.Topic,
	})
	acknowledgeNotificationsHandler(stack)

	output := func(id, description string, value *string) {
		awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{
			Value: value, Description: jsii.String(description),
		})
	}
	output("ApiUrl", "Base URL of the API; open it in a browser for the upload page", api.URL())
	if auth.UserPool != nil {
		output("UserPoolId", "Cognito user pool of the page's users; add users with aws cognito-idp admin-create-user", auth.UserPool.UserPoolId())
		output("LoginUrl", "Cognito managed login domain", auth.Domain.BaseUrl(nil))
	}
	output("UploadsBucketName", "Bucket receiving originals under "+s.UploadPrefix, storage.Uploads.BucketName())
	output("OutputBucketName", "Bucket holding variants and manifests", storage.Output.BucketName())
	output("QueueUrl", "Resize queue", queue.Queue.QueueUrl())
	output("DeadLetterQueueUrl", "Dead-letter queue; redrive it with imagepipe redrive", queue.DLQ.QueueUrl())
	output("RedriveCommand", "Puts dead-lettered uploads back on the resize queue (docs/runbook.md)",
		jsii.String("imagepipe redrive -dlq "+*queue.DLQ.QueueUrl()))
	if cdn != nil {
		output("CdnUrl", "Base URL of the variants' lasting URLs (the status API hands them out)", cdn.URL(s))
		output("CdnDistributionId", "CloudFront distribution serving the variants", cdn.Distribution.DistributionId())
	}
	output("AlarmTopicArn", "SNS topic every alarm publishes to; subscribe to be told", alarms.Topic.TopicArn())
	output("DashboardUrl", "CloudWatch dashboard", jsii.String(fmt.Sprintf(
		"https://%s.console.aws.amazon.com/cloudwatch/home?region=%s#dashboards:name=%s",
		*stack.Region(), *stack.Region(), *dashboard.Dashboard.DashboardName())))

	output("EventBusName", "EventBridge bus of ImageReady, ImageFailed, ImageDeleted (docs/events.md)", events.Bus.EventBusName())
	output("EventBusArn", "EventBridge bus ARN; put your own rules on it", events.Bus.EventBusArn())
	output("EventsDeadLetterQueueUrl", "Events no target could take after every retry", events.DLQ.QueueUrl())
	if events.WebhookSecret != nil {
		output("WebhookSecretArn", "Secrets Manager secret holding the webhook's API key", events.WebhookSecret.SecretArn())
	}

	return &Stack{Stack: stack, API: api, Storage: storage, Queue: queue, Functions: functions, Alarms: alarms, SLO: slo, Dashboard: dashboard, CDN: cdn, Auth: auth, Events: events}
}
