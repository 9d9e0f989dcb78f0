package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/imagepipe/imagepipe/shared/metrics"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// sloDoc is where every SLO alarm points; the anchors are docs/slo.md's headings.
const sloDoc = "docs/slo.md"

// Burn-rate windows, as in Google's SRE workbook (multiwindow, multi-burn-rate
// alerts): a fast burn spends 2% of a 30-day error budget in an hour, a slow one
// 5% in six hours; the short window makes the alarm clear soon after it stops.
var burnWindows = []struct {
	name        string
	long, short int // minutes
	rate        float64
}{
	{"Fast", 60, 5, 14.4},
	{"Slow", 360, 30, 6},
}

// minSamples is how many images a period needs before its upload-to-ready
// percentile may page anyone: a p99 of three images is noise.
const minSamples = 20

// SLOProps names what the service-level alarms watch.
type SLOProps struct {
	Settings settings.Settings
	HttpApi  awsapigatewayv2.IHttpApi
	Queue    awssqs.IQueue
	DLQ      awssqs.IQueue
	// Topic is where the alarms publish (the Alarms construct's).
	Topic awssns.ITopic
}

// SLO is the service levels of docs/slo.md as CloudWatch alarms: a threshold
// alarm on each objective's own statistic, and two burn-rate alarms (fast and
// slow, each a composite of a long and a short window) on each error budget.
type SLO struct {
	Construct constructs.Construct
	// APILatencyP99 and UploadToReadyP99/P50 fire when the statistic itself is over
	// its objective for 15 minutes.
	APILatencyP99, UploadToReadyP50, UploadToReadyP99 awscloudwatch.Alarm
	// APIBudget and UploadToReadyBudget are the burn-rate alarms, fast then slow.
	APIBudget, UploadToReadyBudget []awscloudwatch.CompositeAlarm
	// Durability fires when a message has waited longer than sloTerminalWithin in
	// the queue or the DLQ: an accepted upload without a terminal manifest.
	Durability awscloudwatch.Alarm
	// Windows are the single-window alarms the composites combine.
	Windows []awscloudwatch.Alarm

	apiErrors, slowImages func(minutes int) awscloudwatch.IMetric
	s                     settings.SLO
	queue, dlq            awssqs.IQueue
	api                   awsapigatewayv2.IHttpApi
}

// All returns the alarms that page: thresholds, burn rates and durability.
func (o *SLO) All() []awscloudwatch.IAlarm {
	out := []awscloudwatch.IAlarm{o.APILatencyP99, o.UploadToReadyP50, o.UploadToReadyP99, o.Durability}
	for _, a := range append(append([]awscloudwatch.CompositeAlarm{}, o.APIBudget...), o.UploadToReadyBudget...) {
		out = append(out, a)
	}
	return out
}

// NewSLO creates the service-level alarms.
func NewSLO(scope constructs.Construct, id string, props SLOProps) *SLO {
	c := constructs.NewConstruct(scope, jsii.String(id))
	s := props.Settings.SLO
	o := &SLO{Construct: c, s: s, queue: props.Queue, dlq: props.DLQ, api: props.HttpApi}
	action := awscloudwatchactions.NewSnsAction(props.Topic)
	page := func(a interface {
		AddAlarmAction(...awscloudwatch.IAlarmAction)
		AddOkAction(...awscloudwatch.IAlarmAction)
	}) {
		a.AddAlarmAction(action)
		a.AddOkAction(action)
	}
	alarm := func(id string, p *awscloudwatch.AlarmProps) awscloudwatch.Alarm {
		// No data means no traffic, which meets every objective.
		p.TreatMissingData = awscloudwatch.TreatMissingData_NOT_BREACHING
		p.ComparisonOperator = awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD
		return awscloudwatch.NewAlarm(c, jsii.String(id), p)
	}
	minutes := func(m int) awscdk.Duration { return awscdk.Duration_Minutes(jsii.Number(float64(m))) }
	u2r := func(stat string, m int) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:     jsii.String(metrics.Namespace),
			MetricName:    jsii.String(metrics.UploadToReady),
			DimensionsMap: &map[string]*string{metrics.DimensionService: jsii.String(metrics.ServiceResize)},
			Statistic:     jsii.String(stat),
			Period:        minutes(m),
		})
	}
	// The error ratio of the API: 5xx answers over all answers.
	o.apiErrors = func(m int) awscloudwatch.IMetric {
		return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String("IF(requests > 0, errors / requests, 0)"),
			UsingMetrics: &map[string]awscloudwatch.IMetric{
				"errors":   props.HttpApi.MetricServerError(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: minutes(m)}),
				"requests": props.HttpApi.MetricCount(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: minutes(m)}),
			},
			Label:  jsii.String(fmt.Sprintf("API error ratio (%d min)", m)),
			Period: minutes(m),
		})
	}
	// The fraction of images slower than the p99 objective: 100 minus the
	// percentile rank of the objective, over 100.
	targetMs := float64(s.UploadToReadyP99.Milliseconds())
	o.slowImages = func(m int) awscloudwatch.IMetric {
		return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String("IF(images > 0, (100 - fast) / 100, 0)"),
			UsingMetrics: &map[string]awscloudwatch.IMetric{
				"fast":   u2r(*awscloudwatch.Stats_PercentileRank(jsii.Number(0), jsii.Number(targetMs)), m),
				"images": u2r("SampleCount", m),
			},
			Label:  jsii.String(fmt.Sprintf("images slower than %s (%d min)", s.UploadToReadyP99, m)),
			Period: minutes(m),
		})
	}
	// A percentile only where the period has enough images.
	u2rPercentile := func(p string) awscloudwatch.IMetric {
		return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String(fmt.Sprintf("IF(images >= %d, latency, 0)", minSamples)),
			UsingMetrics: &map[string]awscloudwatch.IMetric{
				"latency": u2r(p, 5),
				"images":  u2r("SampleCount", 5),
			},
			Label:  jsii.String("upload to ready " + p + " (ms)"),
			Period: minutes(5),
		})
	}

	o.APILatencyP99 = alarm("ApiLatencyP99", &awscloudwatch.AlarmProps{
		Metric:            props.HttpApi.MetricLatency(&awscloudwatch.MetricOptions{Statistic: jsii.String("p99"), Period: minutes(5)}),
		Threshold:         jsii.Number(float64(s.APILatencyP99.Milliseconds())),
		EvaluationPeriods: jsii.Number(3), DatapointsToAlarm: jsii.Number(3),
		AlarmDescription: jsii.String(fmt.Sprintf(
			"SLO: the API's p99 latency has been over %s for 15 minutes; uploads start slowly and the page's status polls lag. "+
				"Compare the API function's Duration with the integration latency, look for cold starts and slow S3 calls. See %s#api-latency.",
			s.APILatencyP99, sloDoc)),
	})
	o.UploadToReadyP50 = alarm("UploadToReadyP50", &awscloudwatch.AlarmProps{
		Metric:            u2rPercentile("p50"),
		Threshold:         jsii.Number(float64(s.UploadToReadyP50.Milliseconds())),
		EvaluationPeriods: jsii.Number(3), DatapointsToAlarm: jsii.Number(3),
		AlarmDescription: jsii.String(fmt.Sprintf(
			"SLO: half the images take longer than %s from upload to ready (15 minutes, at least %d images each 5 minutes). "+
				"Check the queue's age (a backlog) and the resize function's duration (slow photos, memory). See %s#upload-to-ready.",
			s.UploadToReadyP50, minSamples, sloDoc)),
	})
	o.UploadToReadyP99 = alarm("UploadToReadyP99", &awscloudwatch.AlarmProps{
		Metric:            u2rPercentile("p99"),
		Threshold:         jsii.Number(targetMs),
		EvaluationPeriods: jsii.Number(3), DatapointsToAlarm: jsii.Number(3),
		AlarmDescription: jsii.String(fmt.Sprintf(
			"SLO: more than 1%% of images take longer than %s from upload to ready (15 minutes). A growing queue age means "+
				"concurrency is short (resizeMaxConcurrency, imagepipe capacity); a steady one, slow resizes. See %s#upload-to-ready.",
			s.UploadToReadyP99, sloDoc)),
	})

	budget := func(name, what, anchor string, ratio func(int) awscloudwatch.IMetric, allowed float64) []awscloudwatch.CompositeAlarm {
		var out []awscloudwatch.CompositeAlarm
		for _, w := range burnWindows {
			threshold := w.rate * allowed
			long := alarm(fmt.Sprintf("%sBurn%s%dm", name, w.name, w.long), &awscloudwatch.AlarmProps{
				Metric: ratio(w.long), Threshold: jsii.Number(threshold), EvaluationPeriods: jsii.Number(1),
				AlarmDescription: jsii.String(fmt.Sprintf("%s over %d minutes above %.4g (%g x the budget); part of a burn-rate alarm.", what, w.long, threshold, w.rate)),
			})
			short := alarm(fmt.Sprintf("%sBurn%s%dm", name, w.name, w.short), &awscloudwatch.AlarmProps{
				Metric: ratio(w.short), Threshold: jsii.Number(threshold), EvaluationPeriods: jsii.Number(1),
				AlarmDescription: jsii.String(fmt.Sprintf("%s over %d minutes above %.4g (%g x the budget); part of a burn-rate alarm.", what, w.short, threshold, w.rate)),
			})
			o.Windows = append(o.Windows, long, short)
			comp := awscloudwatch.NewCompositeAlarm(c, jsii.String(fmt.Sprintf("%sBudget%s", name, w.name)), &awscloudwatch.CompositeAlarmProps{
				AlarmRule: awscloudwatch.AlarmRule_AllOf(
					awscloudwatch.AlarmRule_FromAlarm(long, awscloudwatch.AlarmState_ALARM),
					awscloudwatch.AlarmRule_FromAlarm(short, awscloudwatch.AlarmState_ALARM)),
				AlarmDescription: jsii.String(fmt.Sprintf(
					"SLO error budget: %s is burning the budget %g times faster than it lasts (over %d and %d minutes); "+
						"at this pace a 30-day budget is gone in %.0f days. See %s#%s.",
					what, w.rate, w.long, w.short, 30/w.rate, sloDoc, anchor)),
			})
			page(comp)
			out = append(out, comp)
		}
		return out
	}
	o.APIBudget = budget("Api", "the API's 5xx ratio", "api-availability", o.apiErrors, 1-s.APIAvailability)
	o.UploadToReadyBudget = budget("UploadToReady", fmt.Sprintf("the share of images slower than %s", s.UploadToReadyP99),
		"upload-to-ready", o.slowImages, 0.01)

	age := func(q awssqs.IQueue) awscloudwatch.IMetric {
		return q.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: minutes(5)})
	}
	o.Durability = alarm("Durability", &awscloudwatch.AlarmProps{
		Metric: awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression:   jsii.String("MAX([queue, dlq])"),
			UsingMetrics: &map[string]awscloudwatch.IMetric{"queue": age(props.Queue), "dlq": age(props.DLQ)},
			Label:        jsii.String("oldest message, queue or DLQ (s)"),
			Period:       minutes(5),
		}),
		Threshold:         jsii.Number(s.TerminalWithin.Seconds()),
		EvaluationPeriods: jsii.Number(1),
		AlarmDescription: jsii.String(fmt.Sprintf(
			"SLO durability: an upload has waited more than %s without a terminal manifest (its message is still in the resize "+
				"queue or the DLQ). Nothing is lost yet: fix the cause and redrive before the queue's retention (%s) runs out. See %s#durability.",
			s.TerminalWithin, props.Settings.Queue.Retention, sloDoc)),
	})
	for _, a := range []awscloudwatch.Alarm{o.APILatencyP99, o.UploadToReadyP50, o.UploadToReadyP99, o.Durability} {
		page(a)
	}
	return o
}

// Widgets is the dashboard's service-level row: each objective beside its target.
func (o *SLO) Widgets() []awscloudwatch.IWidget {
	five := awscdk.Duration_Minutes(jsii.Number(5))
	line := func(v float64, label string) *[]*awscloudwatch.HorizontalAnnotation {
		return &[]*awscloudwatch.HorizontalAnnotation{{Value: jsii.Number(v), Label: jsii.String(label), Color: jsii.String("#d62728")}}
	}
	graph := func(title string, annotations *[]*awscloudwatch.HorizontalAnnotation, left ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Width: jsii.Number(6), Height: jsii.Number(6), Left: &left, LeftAnnotations: annotations,
		})
	}
	u2r := func(stat string) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(metrics.Namespace), MetricName: jsii.String(metrics.UploadToReady),
			DimensionsMap: &map[string]*string{metrics.DimensionService: jsii.String(metrics.ServiceResize)},
			Statistic:     jsii.String(stat), Label: jsii.String("upload to ready " + stat), Period: five,
		})
	}
	return []awscloudwatch.IWidget{
		graph(fmt.Sprintf("SLO: API 5xx ratio (budget %.3g)", 1-o.s.APIAvailability), line(1-o.s.APIAvailability, "budget"),
			o.apiErrors(5)),
		graph("SLO: API latency p99 (ms)", line(float64(o.s.APILatencyP99.Milliseconds()), "objective"),
			o.api.MetricLatency(&awscloudwatch.MetricOptions{Statistic: jsii.String("p99"), Period: five, Label: jsii.String("p99")})),
		graph("SLO: upload to ready (ms)", &[]*awscloudwatch.HorizontalAnnotation{
			{Value: jsii.Number(float64(o.s.UploadToReadyP50.Milliseconds())), Label: jsii.String("p50 objective")},
			{Value: jsii.Number(float64(o.s.UploadToReadyP99.Milliseconds())), Label: jsii.String("p99 objective"), Color: jsii.String("#d62728")},
		}, u2r("p50"), u2r("p99")),
		graph(fmt.Sprintf("SLO: durability, oldest message (s; objective %s)", o.s.TerminalWithin), line(o.s.TerminalWithin.Seconds(), "objective"),
			o.queue.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: five, Label: jsii.String("resize queue")}),
			o.dlq.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: five, Label: jsii.String("DLQ")})),
	}
}
