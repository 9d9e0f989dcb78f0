package main

import (
	"fmt"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/ownership"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// The API function only presigns and reads small manifests; these are not tunables.
const (
	apiMemoryMB = 256
	apiTimeout  = 10 // seconds
)

// FunctionsProps configures the two Lambda functions.
type FunctionsProps struct {
	Settings settings.Settings
	// AssetDir holds one directory per function with its `bootstrap`, as `make build`
	// writes them under bin/.
	AssetDir string
	Uploads  awss3.IBucket
	Output   awss3.IBucket
	Queue    awssqs.IQueue
	// Delivery is settings.DeliveryEnv: the CDN's URL and distribution, for both
	// functions (the API's variant URLs, the events' variant URLs).
	Delivery map[string]string
}

// Functions are the API function and the resize function fed by the queue.
type Functions struct {
	Construct  constructs.Construct
	API        awslambda.Function
	Resize     awslambda.Function
	APILogs    awslogs.LogGroup
	ResizeLogs awslogs.LogGroup
}

// NewFunctions creates both functions with their log groups and least-privilege
// roles, and connects the resize function to the queue.
func NewFunctions(scope constructs.Construct, id string, props FunctionsProps) *Functions {
	c := constructs.NewConstruct(scope, jsii.String(id))
	s := props.Settings
	uploadObjects := s.UploadPrefix + "*"
	outputObjects := manifest.VariantsPrefix + "*"
	manifestObjects := manifest.ManifestsPrefix + "*"

	resizeEnv := s.ResizeEnv(*props.Uploads.BucketName(), *props.Output.BucketName())
	// Leave the Go runtime headroom under the function's memory so the GC works
	// harder before Lambda kills the sandbox for running out.
	resizeEnv["GOMEMLIMIT"] = fmt.Sprintf("%dMiB", s.Resize.MemoryMB*9/10)
	for k, v := range props.Delivery {
		resizeEnv[k] = v
	}
	resize, resizeLogs := newGoFunction(c, "Resize", goFunctionProps{
		settings:    s,
		code:        filepath.Join(props.AssetDir, "resize"),
		description: "imagepipe: resizes uploaded images into variants and writes the manifest",
		memoryMB:    s.Resize.MemoryMB,
		timeout:     duration(s.Resize.Timeout),
		env:         resizeEnv,
	})
	// Delete: an original that arrives after its image was deleted (issue 13).
	grantObjects(resize, props.Uploads, uploadObjects, readObjects|deleteObjects)
	grantObjects(resize, props.Output, outputObjects, readObjects|writeObjects|deleteObjects)
	// Read back the manifest, so a duplicate event skips finished work; variants/
	// stays readable for manifests from before manifests/ (manifest.LegacyKey).
	grantObjects(resize, props.Output, manifestObjects, readObjects|writeObjects|deleteObjects)
	// Access control (issue 13): an image deleted while it is processed is found by
	// its tombstone, and what was made for it is removed, index entry included.
	tombstones, index, quota := ownership.TombstonePrefix+"*", ownership.IndexPrefix+"*", ownership.QuotaPrefix+"*"
	grantObjects(resize, props.Output, tombstones, readObjects)
	grantObjects(resize, props.Output, index, deleteObjects)
	resize.AddEventSource(awslambdaeventsources.NewSqsEventSource(props.Queue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(float64(s.Resize.BatchSize)),
		MaxBatchingWindow:       duration(s.Resize.BatchWindow),
		MaxConcurrency:          jsii.Number(float64(s.Resize.MaxConcurrency)),
		ReportBatchItemFailures: jsii.Bool(true),
	}))

	apiEnv := s.APIEnv(*props.Uploads.BucketName(), *props.Output.BucketName())
	for k, v := range props.Delivery {
		apiEnv[k] = v
	}
	api, apiLogs := newGoFunction(c, "API", goFunctionProps{
		settings:    s,
		code:        filepath.Join(props.AssetDir, "api"),
		description: "imagepipe: presigns uploads, reports image status, serves the upload page",
		memoryMB:    apiMemoryMB,
		timeout:     awscdk.Duration_Seconds(jsii.Number(apiTimeout)),
		env:         apiEnv,
	})
	// HeadObject on the original tells "pending" from "unknown id".
	grantObjects(api, props.Uploads, uploadObjects, readObjects|writeObjects|deleteObjects)
	grantObjects(api, props.Output, manifestObjects, readObjects|deleteObjects)
	// Presigned GETs of variants (no CDN, or keys from before keys carried a
	// tag) need read, and so do manifests at their old place (manifest.LegacyKey);
	// DELETE /v1/images/{id} removes the outputs.
	grantObjects(api, props.Output, outputObjects, readObjects|deleteObjects)
	// Owner index, quota records, tombstones; DELETE /v1/images/{id} removes an
	// image's original, outputs and index entry.
	grantObjects(api, props.Output, index, readObjects|writeObjects|deleteObjects)
	grantObjects(api, props.Output, quota, readObjects|writeObjects)
	grantObjects(api, props.Output, tombstones, readObjects|writeObjects)

	acknowledgeGrants(resize.Role(), []objectGrant{
		{props.Uploads, uploadObjects, "read the original it resizes (and delete one whose image was deleted)"},
		{props.Output, outputObjects, "write the variants (and remove those of an image deleted meanwhile), and read a manifest written there before manifests/ existed"},
		{props.Output, manifestObjects, "write the manifest, read it back to skip finished work, remove it for an image deleted meanwhile"},
		{props.Output, tombstones, "see whether an image was deleted while it was processed"},
		{props.Output, index, "remove the owner's index entry of an image deleted while it was processed"},
	})
	acknowledgeGrants(api.Role(), []objectGrant{
		{props.Uploads, uploadObjects, "presign the PUT of a new original, HEAD it to report pending, delete it with its image"},
		{props.Output, manifestObjects, "read manifests, delete them with their image"},
		{props.Output, outputObjects, "presign GETs of variants the CDN does not serve (no CDN, or untagged keys), read manifests from before manifests/, delete variants with their image"},
		{props.Output, index, "keep each owner's index of images, for listing and deletion"},
		{props.Output, quota, "record and count each owner's uploads for the daily quota"},
		{props.Output, tombstones, "mark deleted images so a resize in flight removes what it made"},
	})

	return &Functions{Construct: c, API: api, Resize: resize, APILogs: apiLogs, ResizeLogs: resizeLogs}
}

type goFunctionProps struct {
	settings    settings.Settings
	code        string
	description string
	memoryMB    int
	timeout     awscdk.Duration
	env         map[string]string
}

// newGoFunction creates a provided.al2023 arm64 function from a prebuilt bootstrap,
// with its own log group and a role that may write only to that log group.
func newGoFunction(scope constructs.Construct, id string, p goFunctionProps) (awslambda.Function, awslogs.LogGroup) {
	logs := awslogs.NewLogGroup(scope, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		Retention:     retentionDays(p.settings.LogRetentionDays),
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	// An explicit role instead of the default one, which would carry the
	// AWSLambdaBasicExecutionRole managed policy (logs:* on every log group).
	role := awsiam.NewRole(scope, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String(p.description),
	})
	logs.GrantWrite(role)
	env := map[string]*string{}
	for k, v := range p.env {
		env[k] = jsii.String(v)
	}
	fn := awslambda.NewFunction(scope, jsii.String(id), &awslambda.FunctionProps{
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		Handler:       jsii.String("bootstrap"),
		Code:          awslambda.Code_FromAsset(jsii.String(p.code), nil),
		Description:   jsii.String(p.description),
		MemorySize:    jsii.Number(float64(p.memoryMB)),
		Timeout:       p.timeout,
		Environment:   &env,
		Role:          role,
		LogGroup:      logs,
		LoggingFormat: awslambda.LoggingFormat_JSON,
	})
	return fn, logs
}

// objectGrant describes one bucket grant, for the record of why it has wildcards.
type objectGrant struct {
	bucket  awss3.IBucket
	pattern string
	why     string
}

// acknowledgeGrants records why the key wildcards of grantObjects are the least
// privilege that works, naming each exact finding.
func acknowledgeGrants(role awsiam.IRole, grants []objectGrant) {
	stack := awscdk.Stack_Of(role)
	for _, g := range grants {
		arn := *stack.GetLogicalId(g.bucket.Node().DefaultChild().(awscdk.CfnElement))
		acknowledge(role, "AwsSolutions-IAM5", fmt.Sprintf(
			"Object keys are random IDs chosen at run time, so the function must %s under %s; "+
				"the grant names exactly that prefix of this one bucket.", g.why, g.pattern),
			fmt.Sprintf("Resource::<%s.Arn>/%s", arn, g.pattern))
	}
}
