package main

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/imagepipe/imagepipe/shared/imageevents"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// EventsProps configures the event bus.
type EventsProps struct {
	Settings settings.Settings
	// Publishers may put events on the bus; each gets EVENT_BUS_NAME.
	Publishers []awslambda.Function
	// AlarmTopic, when set, hears the alarm on the targets' DLQ.
	AlarmTopic awssns.ITopic
}

// Events is the bus imagepipe publishes ImageReady, ImageFailed and ImageDeleted
// to, its archive, the DLQ of its targets and, when webhookUrl is set, the rule
// that sends every event to the application's webhook.
type Events struct {
	Construct constructs.Construct
	Bus       awsevents.EventBus
	Archive   awsevents.Archive
	DLQ       awssqs.Queue
	DLQAlarm  awscloudwatch.Alarm
	// Webhook parts; nil without webhookUrl. WebhookSecret is nil when the key
	// comes from webhookSecretArn.
	WebhookSecret awssecretsmanager.Secret
	Connection    awsevents.Connection
	Destination   awsevents.ApiDestination
	WebhookRule   awsevents.Rule
}

// eventPattern is imageevents.Pattern in the CDK's terms: the Go definition is
// the one the local cloud matches too.
func eventPattern() *awsevents.EventPattern {
	p := imageevents.Pattern()
	return &awsevents.EventPattern{
		Source:     jsii.Strings(p.Source...),
		DetailType: jsii.Strings(p.DetailType...),
		Detail:     &p.Detail,
	}
}

// NewEvents creates the bus and what hangs off it.
func NewEvents(scope constructs.Construct, id string, props EventsProps) *Events {
	c := constructs.NewConstruct(scope, jsii.String(id))
	s := props.Settings.Events
	bus := awsevents.NewEventBus(c, jsii.String("Bus"), &awsevents.EventBusProps{
		Description: jsii.String("imagepipe: ImageReady, ImageFailed and ImageDeleted (docs/events.md)"),
	})
	archiveProps := &awsevents.BaseArchiveProps{
		EventPattern: eventPattern(),
		Description:  jsii.String("imagepipe events, for replay after a consumer's outage (docs/runbook.md)"),
	}
	if s.ArchiveRetention > 0 {
		archiveProps.Retention = awscdk.Duration_Days(jsii.Number(float64(s.ArchiveRetention / (24 * time.Hour))))
	}
	archive := bus.Archive(jsii.String("Archive"), archiveProps)

	dlq := awssqs.NewQueue(c, jsii.String("DeadLetter"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
	// Any rule on this bus (the application's own too) may name it as its DLQ.
	dlq.GrantSendMessages(awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), nil).WithConditions(&map[string]any{
		"ArnLike": map[string]any{"aws:SourceArn": awscdk.Fn_Join(jsii.String(""), &[]*string{
			jsii.String("arn:"), awscdk.Aws_PARTITION(), jsii.String(":events:"), awscdk.Aws_REGION(), jsii.String(":"),
			awscdk.Aws_ACCOUNT_ID(), jsii.String(":rule/"), bus.EventBusName(), jsii.String("/*"),
		})},
	}))
	acknowledge(dlq, "AwsSolutions-SQS3",
		"This queue is the dead-letter queue of EventBridge targets (their DeadLetterConfig), which cdk-nag does not "+
			"recognise as a DLQ; a DLQ of its own would only move the same messages once more.")
	e := &Events{Construct: c, Bus: bus, Archive: archive, DLQ: dlq}

	e.DLQAlarm = awscloudwatch.NewAlarm(c, jsii.String("DeadLetterAlarm"), &awscloudwatch.AlarmProps{
		AlarmDescription: jsii.String("Events could not be delivered to a target (the application's webhook) after every " +
			"retry and wait in the events dead-letter queue; the application missed them. Fix the endpoint, then replay " +
			"them from the archive. See " + runbook + "#events-dead-letter-queue."),
		Metric: dlq.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
			Period: awscdk.Duration_Minutes(jsii.Number(1)), Statistic: jsii.String("Maximum"),
		}),
		Threshold:          jsii.Number(0),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		EvaluationPeriods:  jsii.Number(1),
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	if props.AlarmTopic != nil {
		action := awscloudwatchactions.NewSnsAction(props.AlarmTopic)
		e.DLQAlarm.AddAlarmAction(action)
		e.DLQAlarm.AddOkAction(action)
	}

	for _, fn := range props.Publishers {
		fn.AddEnvironment(jsii.String("EVENT_BUS_NAME"), bus.EventBusName(), nil)
		bus.GrantPutEventsTo(fn, nil)
	}

	if s.WebhookURL != "" {
		e.addWebhook(c, s)
	}
	return e
}

// addWebhook sends every event to the webhook through an API destination whose
// connection carries the API key header.
func (e *Events) addWebhook(c constructs.Construct, s settings.Events) {
	var key awscdk.SecretValue
	if s.WebhookSecretArn != "" {
		key = awscdk.SecretValue_SecretsManager(jsii.String(s.WebhookSecretArn), nil)
	} else {
		e.WebhookSecret = awssecretsmanager.NewSecret(c, jsii.String("WebhookKey"), &awssecretsmanager.SecretProps{
			Description: jsii.String("imagepipe: the API key the webhook receives in " + s.WebhookHeaderName +
				"; give it to the application that checks it"),
			GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
				ExcludePunctuation: jsii.Bool(true), PasswordLength: jsii.Number(48),
			},
		})
		acknowledge(e.WebhookSecret, "AwsSolutions-SMG4",
			"The webhook key is shared with the application that verifies it; rotating it means changing "+
				"both sides together, which no rotation Lambda can do. Rotate by hand (docs/runbook.md).")
		key = e.WebhookSecret.SecretValue()
	}
	e.Connection = awsevents.NewConnection(c, jsii.String("WebhookConnection"), &awsevents.ConnectionProps{
		Description:   jsii.String("imagepipe webhook: API key header " + s.WebhookHeaderName),
		Authorization: awsevents.Authorization_ApiKey(jsii.String(s.WebhookHeaderName), key),
	})
	e.Destination = awsevents.NewApiDestination(c, jsii.String("Webhook"), &awsevents.ApiDestinationProps{
		Connection:         e.Connection,
		Endpoint:           jsii.String(s.WebhookURL),
		HttpMethod:         awsevents.HttpMethod_POST,
		RateLimitPerSecond: jsii.Number(float64(s.WebhookRateLimit)),
		Description:        jsii.String("imagepipe: the application's webhook"),
	})
	e.WebhookRule = awsevents.NewRule(c, jsii.String("WebhookRule"), &awsevents.RuleProps{
		EventBus:     e.Bus,
		EventPattern: eventPattern(),
		Description:  jsii.String("Every imagepipe event to the application's webhook"),
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewApiDestination(e.Destination, &awseventstargets.ApiDestinationProps{
			DeadLetterQueue: e.DLQ,
			RetryAttempts:   jsii.Number(float64(s.WebhookRetryAttempts)),
			MaxEventAge:     duration(s.WebhookMaxEventAge),
		})},
	})
}
