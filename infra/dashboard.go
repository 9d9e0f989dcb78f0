package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/imagepipe/imagepipe/shared/metrics"
)

// DashboardProps names what the dashboard shows.
type DashboardProps struct {
	// Name is the dashboard's name in the CloudWatch console.
	Name    string
	Queue   awssqs.IQueue
	DLQ     awssqs.IQueue
	Resize  awslambda.IFunction
	API     awslambda.IFunction
	HttpApi awsapigatewayv2.IHttpApi
	Alarms  []awscloudwatch.IAlarm
	// ServiceLevels is the row of SLO graphs (SLO.Widgets), shown under the alarms.
	ServiceLevels []awscloudwatch.IWidget
}

// Dashboard is the one CloudWatch dashboard an operator opens first.
type Dashboard struct {
	Construct constructs.Construct
	Dashboard awscloudwatch.Dashboard
}

// NewDashboard lays out, top to bottom: alarm states, the service levels, the queue, the resize
// function, what the resize function reports about images, and the API.
func NewDashboard(scope constructs.Construct, id string, props DashboardProps) *Dashboard {
	c := constructs.NewConstruct(scope, jsii.String(id))
	period := awscdk.Duration_Minutes(jsii.Number(1))
	opts := func(stat, label string) *awscloudwatch.MetricOptions {
		return &awscloudwatch.MetricOptions{Statistic: jsii.String(stat), Label: jsii.String(label), Period: period}
	}
	graph := func(title string, width float64, left ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Width: jsii.Number(width), Height: jsii.Number(6), Left: &left,
		})
	}
	// custom reads what the resize function emits as EMF (shared/metrics).
	custom := func(name, stat, label string) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:     jsii.String(metrics.Namespace),
			MetricName:    jsii.String(name),
			DimensionsMap: &map[string]*string{metrics.DimensionService: jsii.String(metrics.ServiceResize)},
			Statistic:     jsii.String(stat),
			Label:         jsii.String(label),
			Period:        period,
		})
	}
	// Failure codes are open-ended (the image core and the resize logic both add
	// them), so a search graphs whichever ones occur.
	failuresByCode := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String(fmt.Sprintf(`SEARCH('{%s,%s,%s} MetricName="%s" %s="%s"', 'Sum', 60)`,
			metrics.Namespace, metrics.DimensionService, metrics.DimensionCode, metrics.ImagesFailed,
			metrics.DimensionService, metrics.ServiceResize)),
		Label:        jsii.String(""),
		Period:       period,
		UsingMetrics: &map[string]awscloudwatch.IMetric{},
	})

	alarmStatus := awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
		Title:  jsii.String("Alarms (what each means: docs/runbook.md)"),
		Alarms: &props.Alarms,
		Width:  jsii.Number(24),
		Height: jsii.Number(3),
	})
	queueRow := []awscloudwatch.IWidget{
		graph("Resize queue depth", 8,
			props.Queue.MetricApproximateNumberOfMessagesVisible(opts("Maximum", "waiting")),
			props.Queue.MetricApproximateNumberOfMessagesNotVisible(opts("Maximum", "in flight"))),
		graph("Age of oldest message (s)", 8,
			props.Queue.MetricApproximateAgeOfOldestMessage(opts("Maximum", "oldest"))),
		graph("Dead-letter queue depth", 8,
			props.DLQ.MetricApproximateNumberOfMessagesVisible(opts("Maximum", "dead letters"))),
	}
	resizeRow := []awscloudwatch.IWidget{
		graph("Resize invocations, errors, throttles", 6,
			props.Resize.MetricInvocations(opts("Sum", "invocations")),
			props.Resize.MetricErrors(opts("Sum", "errors")),
			props.Resize.MetricThrottles(opts("Sum", "throttles"))),
		graph("Resize duration (ms)", 6,
			props.Resize.MetricDuration(opts("p50", "p50")),
			props.Resize.MetricDuration(opts("p99", "p99"))),
		graph("Resize concurrency", 6,
			props.Resize.Metric(jsii.String("ConcurrentExecutions"), opts("Maximum", "concurrent executions"))),
		graph("Transient errors (handed back to the queue)", 6,
			custom(metrics.TransientErrors, "Sum", "transient errors")),
	}
	imagesRow := []awscloudwatch.IWidget{
		graph("Images processed and failed", 6,
			custom(metrics.ImagesProcessed, "Sum", "processed"),
			custom(metrics.ImagesFailed, "Sum", "failed")),
		graph("Failures by code", 6, failuresByCode),
		graph("Processing time and upload-to-ready (ms)", 6,
			custom(metrics.ProcessingTime, "p50", "processing p50"),
			custom(metrics.ProcessingTime, "p99", "processing p99"),
			custom(metrics.UploadToReady, "p50", "upload to ready p50"),
			custom(metrics.UploadToReady, "p99", "upload to ready p99")),
		graph("Bytes read and written", 6,
			custom(metrics.BytesIn, "Sum", "bytes in"),
			custom(metrics.BytesOut, "Sum", "bytes out")),
	}
	apiRow := []awscloudwatch.IWidget{
		graph("API requests", 6, props.HttpApi.MetricCount(opts("Sum", "requests"))),
		graph("API latency (ms)", 6,
			props.HttpApi.MetricLatency(opts("p50", "p50")),
			props.HttpApi.MetricLatency(opts("p99", "p99"))),
		graph("API 4xx and 5xx", 6,
			props.HttpApi.MetricClientError(opts("Sum", "4xx")),
			props.HttpApi.MetricServerError(opts("Sum", "5xx"))),
		graph("API function errors and throttles", 6,
			props.API.MetricErrors(opts("Sum", "errors")),
			props.API.MetricThrottles(opts("Sum", "throttles"))),
	}
	rows := []*[]awscloudwatch.IWidget{{alarmStatus}}
	if len(props.ServiceLevels) > 0 {
		rows = append(rows, &props.ServiceLevels)
	}
	rows = append(rows, &queueRow, &resizeRow, &imagesRow, &apiRow)
	dash := awscloudwatch.NewDashboard(c, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName:   jsii.String(props.Name),
		DefaultInterval: awscdk.Duration_Hours(jsii.Number(3)),
		Widgets:         &rows,
	})
	return &Dashboard{Construct: c, Dashboard: dash}
}
