package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/jsii-runtime-go"

	"github.com/imagepipe/imagepipe/shared/metrics"
)

// Rate alarms on the resize function's own metrics. A share, not a count, so
// traffic does not move the line, with a floor of volume so one stranger's bad
// uploads (which are expected, and settle as failed) cannot page anyone.
const (
	// imagesFailedPercent of settled images failed in 5 minutes, over at least
	// imagesFailedFloor images: a deployment that refuses what it should accept
	// (limits too low, a decoder regression), not hostile uploads.
	imagesFailedPercent = 50
	imagesFailedFloor   = 20
	// transientPercent of attempts handed back to the queue, per minute, over at
	// least transientFloor messages, in 2 of 3 minutes: S3 or the network failing.
	// It pages in about three minutes; the DLQ alarm would take
	// maxReceiveCount x the visibility timeout (30 minutes by default).
	transientPercent = 20
	transientFloor   = 5
)

// addRateAlarms adds the ImagesFailed and TransientErrors rate alarms to a.
func (a *Alarms) addRateAlarms(alarm func(id string, p *awscloudwatch.AlarmProps) awscloudwatch.Alarm) {
	custom := func(name string, period awscdk.Duration) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:     jsii.String(metrics.Namespace),
			MetricName:    jsii.String(name),
			DimensionsMap: &map[string]*string{metrics.DimensionService: jsii.String(metrics.ServiceResize)},
			Statistic:     jsii.String("Sum"),
			Period:        period,
		})
	}
	fiveMinutes := awscdk.Duration_Minutes(jsii.Number(5))
	minute := awscdk.Duration_Minutes(jsii.Number(1))

	a.ImagesFailedRate = alarm("ImagesFailedRate", &awscloudwatch.AlarmProps{
		Metric: awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String(fmt.Sprintf("IF(FILL(failed, 0) + FILL(processed, 0) >= %d, 100 * FILL(failed, 0) / (FILL(failed, 0) + FILL(processed, 0)), 0)",
				imagesFailedFloor)),
			Label:  jsii.String("failed images, % of settled"),
			Period: fiveMinutes,
			UsingMetrics: &map[string]awscloudwatch.IMetric{
				"failed":    custom(metrics.ImagesFailed, fiveMinutes),
				"processed": custom(metrics.ImagesProcessed, fiveMinutes),
			},
		}),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		Threshold:          jsii.Number(imagesFailedPercent),
		EvaluationPeriods:  jsii.Number(1),
		AlarmDescription: jsii.String(fmt.Sprintf(
			"More than %d%% of at least %d images settled in 5 minutes ended failed: the deployment refuses what it "+
				"should accept. See the dashboard's failures by code: too_many_pixels or too_large after a limit change, "+
				"corrupt_image or too_complex after an engine change, processing_failed when S3 fails. Fix the cause, "+
				"then imagepipe reprocess -failed CODES. See %s#images-failed-rate.",
			imagesFailedPercent, imagesFailedFloor, runbook)),
	})

	a.TransientErrorsRate = alarm("TransientErrorsRate", &awscloudwatch.AlarmProps{
		Metric: awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String(fmt.Sprintf("IF(FILL(transient, 0) >= %d, 100 * FILL(transient, 0) / (FILL(transient, 0) + FILL(failed, 0) + FILL(processed, 0)), 0)",
				transientFloor)),
			Label:  jsii.String("messages handed back, % of attempts"),
			Period: minute,
			UsingMetrics: &map[string]awscloudwatch.IMetric{
				"transient": custom(metrics.TransientErrors, minute),
				"failed":    custom(metrics.ImagesFailed, minute),
				"processed": custom(metrics.ImagesProcessed, minute),
			},
		}),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		Threshold:          jsii.Number(transientPercent),
		EvaluationPeriods:  jsii.Number(3),
		DatapointsToAlarm:  jsii.Number(2),
		AlarmDescription: jsii.String(fmt.Sprintf(
			"More than %d%% of resize attempts (at least %d a minute) are failing with errors that are usually "+
				"temporary (S3 or network errors, throttling, the deadline near) and go back to the queue. Messages that keep "+
				"failing end in the DLQ with a processing_failed manifest. Read the resize function's logs (\"message will be "+
				"retried\") for the error; check the AWS Health dashboard for S3. See %s#transient-errors-rate.",
			transientPercent, transientFloor, runbook)),
	})
}
