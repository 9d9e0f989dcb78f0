package main

import (
	"encoding/json"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/imagepipe/imagepipe/shared/settings"
)

// Stage-wide throttling: far above what one upload page needs, low enough that a
// runaway client cannot run up the bill or starve the account's Lambda concurrency.
const (
	apiRateLimit  = 50  // requests per second, steady
	apiBurstLimit = 100 // requests, burst
)

// accessLogFields are written as one JSON object per request.
var accessLogFields = map[string]string{
	"requestId":          "$context.requestId",
	"ip":                 "$context.identity.sourceIp",
	"userAgent":          "$context.identity.userAgent",
	"requestTime":        "$context.requestTime",
	"method":             "$context.httpMethod",
	"path":               "$context.path",
	"routeKey":           "$context.routeKey",
	"status":             "$context.status",
	"protocol":           "$context.protocol",
	"responseLength":     "$context.responseLength",
	"responseLatency":    "$context.responseLatency",
	"integrationLatency": "$context.integrationLatency",
	"integrationError":   "$context.integrationErrorMessage",
}

// APIProps configures the HTTP API.
type APIProps struct {
	Settings settings.Settings
}

// API is the HTTP API in front of the API function.
type API struct {
	Construct constructs.Construct
	HttpApi   awsapigatewayv2.HttpApi
	Stage     awsapigatewayv2.HttpStage
	Logs      awslogs.LogGroup
}

// NewAPI creates the HTTP API and its throttled, logged default stage. The function
// is attached later with Serve: the uploads bucket's CORS needs the API's origin
// (it serves the upload page) and the function needs the bucket, so the API must
// exist before either.
func NewAPI(scope constructs.Construct, id string, props APIProps) *API {
	c := constructs.NewConstruct(scope, jsii.String(id))
	s := props.Settings
	var cors *awsapigatewayv2.CorsPreflightOptions
	if len(s.AllowedOrigins) > 0 {
		// Other sites may call the API from a browser; the page the API serves
		// itself is same-origin and needs nothing.
		cors = &awsapigatewayv2.CorsPreflightOptions{
			AllowOrigins: jsii.Strings(s.AllowedOrigins...),
			AllowMethods: &[]awsapigatewayv2.CorsHttpMethod{
				awsapigatewayv2.CorsHttpMethod_GET, awsapigatewayv2.CorsHttpMethod_POST, awsapigatewayv2.CorsHttpMethod_OPTIONS,
			},
			AllowHeaders: jsii.Strings("content-type"),
			MaxAge:       awscdk.Duration_Hours(jsii.Number(1)),
		}
	}
	api := awsapigatewayv2.NewHttpApi(c, jsii.String("Http"), &awsapigatewayv2.HttpApiProps{
		ApiName:            jsii.String("imagepipe"),
		Description:        jsii.String("imagepipe: uploads, image status and the upload page"),
		CorsPreflight:      cors,
		CreateDefaultStage: jsii.Bool(false),
	})
	logs := awslogs.NewLogGroup(c, jsii.String("AccessLogs"), &awslogs.LogGroupProps{
		Retention:     retentionDays(s.LogRetentionDays),
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	format, _ := json.Marshal(accessLogFields) // strings only: cannot fail
	stage := api.AddStage(jsii.String("Stage"), &awsapigatewayv2.HttpStageOptions{
		StageName:  jsii.String("$default"),
		AutoDeploy: jsii.Bool(true),
		Throttle: &awsapigatewayv2.ThrottleSettings{
			RateLimit:  jsii.Number(apiRateLimit),
			BurstLimit: jsii.Number(apiBurstLimit),
		},
		AccessLogSettings: &accessLogSettings{
			destination: awsapigatewayv2.NewLogGroupLogDestination(logs),
			format:      awsapigateway.AccessLogFormat_Custom(jsii.String(string(format))),
		},
	})
	return &API{Construct: c, HttpApi: api, Stage: stage, Logs: logs}
}

// Origin is the scheme and host the API (and so the upload page) is served from.
func (a *API) Origin() *string { return a.HttpApi.ApiEndpoint() }

// URL is the base URL of the API.
func (a *API) URL() *string { return a.Stage.Url() }

// Serve sends every request to fn; the function routes them itself, so the same
// handler runs on Lambda and in the local cloud.
func (a *API) Serve(fn awslambda.IFunction) {
	route := awsapigatewayv2.NewHttpRoute(a.Construct, jsii.String("Route"), &awsapigatewayv2.HttpRouteProps{
		HttpApi:     a.HttpApi,
		RouteKey:    awsapigatewayv2.HttpRouteKey_DEFAULT(),
		Integration: awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("Function"), fn, nil),
	})
	acknowledge(route, "AwsSolutions-APIG4",
		"Anonymous uploads are the product: POST /v1/uploads only hands out a presigned PUT for one object of a "+
			"signed size and type, under a server-chosen random ID, valid for minutes; GET /v1/images/{id} needs that "+
			"unguessable ID. Abuse is bounded by stage throttling and those limits. A deployment that needs sign-in "+
			"adds a JWT authorizer to this route.")
}

// accessLogSettings implements awsapigatewayv2.IAccessLogSettings.
type accessLogSettings struct {
	destination awsapigatewayv2.IAccessLogDestination
	format      awsapigateway.AccessLogFormat
}

func (s *accessLogSettings) Destination() awsapigatewayv2.IAccessLogDestination { return s.destination }
func (s *accessLogSettings) Format() awsapigateway.AccessLogFormat              { return s.format }
