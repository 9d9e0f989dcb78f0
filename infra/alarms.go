package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/imagepipe/imagepipe/shared/settings"
)

// runbook is where every alarm description points; the anchors are the headings
// of docs/runbook.md.
const runbook = "docs/runbook.md"

// AlarmsProps names what the alarms watch.
type AlarmsProps struct {
	Settings settings.Settings
	Queue    awssqs.IQueue
	DLQ      awssqs.IQueue
	Resize   awslambda.IFunction
	HttpApi  awsapigatewayv2.IHttpApi
}

// Alarms is the alarm topic and the alarms that publish to it.
type Alarms struct {
	Construct       constructs.Construct
	Topic           awssns.Topic
	DLQMessages     awscloudwatch.Alarm
	OldestMessage   awscloudwatch.Alarm
	ResizeErrors    awscloudwatch.Alarm
	ResizeThrottles awscloudwatch.Alarm
	APIServerErrors awscloudwatch.Alarm
	// Rates of the resize function's own metrics (ratealarms.go).
	ImagesFailedRate    awscloudwatch.Alarm
	TransientErrorsRate awscloudwatch.Alarm
	all                 []awscloudwatch.Alarm
}

// All returns every alarm, in the order the runbook lists them.
func (a *Alarms) All() []awscloudwatch.IAlarm {
	out := make([]awscloudwatch.IAlarm, len(a.all))
	for i, al := range a.all {
		out[i] = al
	}
	return out
}

// NewAlarms creates the topic, the optional e-mail subscription and the alarms.
func NewAlarms(scope constructs.Construct, id string, props AlarmsProps) *Alarms {
	c := constructs.NewConstruct(scope, jsii.String(id))
	s := props.Settings
	topic := awssns.NewTopic(c, jsii.String("Topic"), &awssns.TopicProps{
		DisplayName: jsii.String("imagepipe alarms"),
		EnforceSSL:  jsii.Bool(true),
	})
	if s.AlarmEmail != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(s.AlarmEmail), nil))
	}
	a := &Alarms{Construct: c, Topic: topic}
	action := awscloudwatchactions.NewSnsAction(topic)
	alarm := func(id string, p *awscloudwatch.AlarmProps) awscloudwatch.Alarm {
		if p.TreatMissingData == "" {
			// No data means no traffic, which is healthy.
			p.TreatMissingData = awscloudwatch.TreatMissingData_NOT_BREACHING
		}
		al := awscloudwatch.NewAlarm(c, jsii.String(id), p)
		al.AddAlarmAction(action)
		al.AddOkAction(action)
		a.all = append(a.all, al)
		return al
	}
	minute := awscdk.Duration_Minutes(jsii.Number(1))
	fiveMinutes := awscdk.Duration_Minutes(jsii.Number(5))

	a.DLQMessages = alarm("DeadLetterMessages", &awscloudwatch.AlarmProps{
		Metric: props.DLQ.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
			Statistic: jsii.String("Maximum"), Period: minute,
		}),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		Threshold:          jsii.Number(0),
		EvaluationPeriods:  jsii.Number(1),
		AlarmDescription: jsii.String(fmt.Sprintf(
			"Uploads failed %d times in a row with a transient error and are parked in the dead-letter queue; "+
				"their images read failed (processing_failed) until a retry succeeds. Find the cause in the resize function's logs, fix it, then redrive the DLQ "+
				"(imagepipe redrive). See %s#dead-letter-messages.",
			s.Queue.MaxReceiveCount, runbook)),
	})

	a.OldestMessage = alarm("OldestMessageAge", &awscloudwatch.AlarmProps{
		Metric: props.Queue.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{
			Statistic: jsii.String("Maximum"), Period: minute,
		}),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		Threshold:          jsii.Number(s.OldestMessageAlarm.Seconds()),
		EvaluationPeriods:  jsii.Number(3),
		DatapointsToAlarm:  jsii.Number(3),
		AlarmDescription: jsii.String(fmt.Sprintf(
			"An upload has waited in the resize queue for more than %s: resizing has fallen behind or stopped. "+
				"Check the resize function's errors, throttles and concurrency; raise resizeMaxConcurrency if it is simply "+
				"busy. See %s#oldest-message-age.",
			s.OldestMessageAlarm, runbook)),
	})

	a.ResizeErrors = alarm("ResizeErrors", &awscloudwatch.AlarmProps{
		Metric:             props.Resize.MetricErrors(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: fiveMinutes}),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		Threshold:          jsii.Number(0),
		EvaluationPeriods:  jsii.Number(1),
		AlarmDescription: jsii.String(fmt.Sprintf(
			"The resize function failed whole invocations (crash, timeout or out of memory), so entire batches go back "+
				"to the queue. An image can cause this: one that exhausts memory, or a decoder that does not stop within the "+
				"per-image budget (resizeImageTimeout, which normally turns such an image into a too_complex failure). So "+
				"can S3 stalls. Read the logs for the last image id before the crash or timeout; one upload that keeps doing "+
				"it reaches the DLQ with a processing_failed manifest. For timeouts or memory raise resizeTimeout or "+
				"resizeMemoryMb. See %s#resize-errors.", runbook)),
	})

	a.ResizeThrottles = alarm("ResizeThrottles", &awscloudwatch.AlarmProps{
		Metric:             props.Resize.MetricThrottles(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: fiveMinutes}),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		Threshold:          jsii.Number(0),
		EvaluationPeriods:  jsii.Number(1),
		AlarmDescription: jsii.String(fmt.Sprintf(
			"Lambda refused to run the resize function: the account or region is out of concurrency. Messages wait "+
				"and may reach the DLQ. Check the account's concurrent executions and other functions' use; lower "+
				"resizeMaxConcurrency or ask AWS for a higher quota. See %s#resize-throttles.", runbook)),
	})

	a.APIServerErrors = alarm("ApiServerErrors", &awscloudwatch.AlarmProps{
		Metric:             props.HttpApi.MetricServerError(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: fiveMinutes}),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		Threshold:          jsii.Number(0),
		EvaluationPeriods:  jsii.Number(1),
		AlarmDescription: jsii.String(fmt.Sprintf(
			"The HTTP API answered 5xx: users cannot start uploads or see their images. Read the API access logs "+
				"(integrationError) and the API function's logs; a missing permission or a throttled function are the usual "+
				"causes. See %s#api-server-errors.", runbook)),
	})
	a.addRateAlarms(alarm)
	return a
}
