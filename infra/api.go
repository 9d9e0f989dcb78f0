package main

import (
	"encoding/json"
	"fmt"

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
	// No CorsPreflight: the function answers CORS (preflights reach it through an
	// unauthorized OPTIONS route), so one piece of code decides CORS on AWS and in
	// the local cloud.
	api := awsapigatewayv2.NewHttpApi(c, jsii.String("Http"), &awsapigatewayv2.HttpApiProps{
		ApiName:            jsii.String("imagepipe"),
		Description:        jsii.String("imagepipe: uploads, image status and the upload page"),
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

// Serve sends every request to fn through the routes of settings.APIRoutes: every
// /v1 route behind auth's JWT authorizer (uploads also need the upload scope), the
// page, /healthz and CORS preflights open. The function routes them itself, so the
// same handler runs on Lambda and in the local cloud, behind the same route table.
func (a *API) Serve(fn awslambda.IFunction, s settings.Settings, auth *Auth) {
	integration := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("Function"), fn, nil)
	for i, r := range s.APIRoutes() {
		key := awsapigatewayv2.HttpRouteKey_DEFAULT()
		if r.Path != settings.DefaultRoute {
			key = awsapigatewayv2.HttpRouteKey_With(jsii.String(r.Path), awsapigatewayv2.HttpMethod(r.Method))
		}
		props := &awsapigatewayv2.HttpRouteProps{HttpApi: a.HttpApi, RouteKey: key, Integration: integration}
		if r.Authorized {
			props.Authorizer = auth.Authorizer
			if len(r.Scopes) > 0 {
				props.AuthorizationScopes = jsii.Strings(r.Scopes...)
			}
		}
		id := "Route"
		if i > 0 {
			id = fmt.Sprintf("Route%d", i)
		}
		route := awsapigatewayv2.NewHttpRoute(a.Construct, jsii.String(id), props)
		if r.Authorized {
			continue
		}
		why := "The page, its assets and /healthz are public, and CORS preflights carry no credentials (the function answers them)."
		if s.Auth.Mode == settings.AuthNone {
			why = "authMode is none, chosen explicitly for a demo: the whole API is open, and synthesis warns about it. " +
				"Abuse is bounded by stage throttling, the per-user quota (shared by every caller here), signed sizes and " +
				"minutes-long presigned URLs."
		}
		acknowledge(route, "AwsSolutions-APIG4", why)
	}
}

// accessLogSettings implements awsapigatewayv2.IAccessLogSettings.
type accessLogSettings struct {
	destination awsapigatewayv2.IAccessLogDestination
	format      awsapigateway.AccessLogFormat
}

func (s *accessLogSettings) Destination() awsapigatewayv2.IAccessLogDestination { return s.destination }
func (s *accessLogSettings) Format() awsapigateway.AccessLogFormat              { return s.format }
