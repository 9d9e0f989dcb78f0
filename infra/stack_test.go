package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/imagepipe/imagepipe/shared/metrics"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// synthesized is one stack built from cdk.json plus overrides, and its template.
type synthesized struct {
	stack    *Stack
	template assertions.Template
	// resources is the template's Resources section, decoded.
	resources map[string]resource
	outputs   map[string]any
}

type resource struct {
	Type       string         `json:"Type"`
	Properties map[string]any `json:"Properties"`
	Metadata   struct {
		Nag struct {
			Acknowledged []struct {
				ID        string `json:"id"`
				Reason    string `json:"reason"`
				AppliesTo []any  `json:"applies_to"`
			} `json:"rules_to_suppress"`
		} `json:"cdk_nag"`
	} `json:"Metadata"`
}

// fakeAssets writes stand-in bootstraps, so most tests need no cross-compile;
// TestMakeBuildLayout proves the real `make build` output synthesizes too.
func fakeAssets(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, fn := range []string{"api", "resize"} {
		if err := os.MkdirAll(filepath.Join(dir, fn), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fn, "bootstrap"), []byte("stand-in for "+fn), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// synth builds the stack the way main does: cdk.json's context, then overrides
// as the CLI would pass them (`-c key=value` arrives as strings).
func synth(t *testing.T, overrides map[string]any) *synthesized {
	t.Helper()
	ctx, err := cdkJSONContext("../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range overrides {
		ctx[k] = v
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
	stack, err := newStack(app, fakeAssets(t))
	if err != nil {
		t.Fatalf("newStack: %v", err)
	}
	addNagChecks(stack.Stack)
	tmpl := assertions.Template_FromStack(stack.Stack, nil)
	raw, err := json.Marshal(tmpl.ToJSON())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Resources map[string]resource `json:"Resources"`
		Outputs   map[string]any      `json:"Outputs"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return &synthesized{stack: stack, template: tmpl, resources: doc.Resources, outputs: doc.Outputs}
}

var (
	defaultOnce  sync.Once
	defaultStack *synthesized
)

// defaults is the stack synthesized from cdk.json alone, shared by the tests that
// only read it.
func defaults(t *testing.T) *synthesized {
	t.Helper()
	defaultOnce.Do(func() { defaultStack = synth(t, nil) })
	if defaultStack == nil {
		t.Fatal("default synthesis failed earlier")
	}
	return defaultStack
}

// id is the logical ID of a construct's CloudFormation resource, for Ref and GetAtt.
func (s *synthesized) id(el awscdk.IResource) string {
	return *s.stack.Stack.GetLogicalId(el.Node().DefaultChild().(awscdk.CfnElement))
}

// ofType returns the resources of one type, by logical ID.
func (s *synthesized) ofType(typ string) map[string]resource {
	out := map[string]resource{}
	for id, r := range s.resources {
		if r.Type == typ {
			out[id] = r
		}
	}
	return out
}

// has asserts a resource with matching properties exists, turning the
// assertion library's panic into a test error.
func (s *synthesized) has(t *testing.T, typ string, props any) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("no %s with %v:\n%v", typ, props, r)
		}
	}()
	s.template.HasResourceProperties(jsii.String(typ), props)
}

func ref(id string) map[string]any          { return map[string]any{"Ref": id} }
func getAtt(id, attr string) map[string]any { return map[string]any{"Fn::GetAtt": []any{id, attr}} }

func num(t *testing.T, v any) float64 {
	t.Helper()
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("want a number, got %#v", v)
	}
	return f
}

func TestQueueRedriveAndVisibility(t *testing.T) {
	tests := []struct {
		name                string
		overrides           map[string]any
		maxReceive, timeout float64
	}{
		{"cdk.json", nil, 5, 60},
		{"overridden", map[string]any{"maxReceiveCount": "3", "resizeTimeout": "2m"}, 3, 120},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := defaults(t)
			if tt.overrides != nil {
				s = synth(t, tt.overrides)
			}
			queueID, dlqID := s.id(s.stack.Queue.Queue), s.id(s.stack.Queue.DLQ)
			queue, dlq := s.resources[queueID].Properties, s.resources[dlqID].Properties
			redrive, _ := queue["RedrivePolicy"].(map[string]any)
			if got := num(t, redrive["maxReceiveCount"]); got != tt.maxReceive {
				t.Errorf("maxReceiveCount = %v, want %v", got, tt.maxReceive)
			}
			if fmt.Sprint(redrive["deadLetterTargetArn"]) != fmt.Sprint(getAtt(dlqID, "Arn")) {
				t.Errorf("dead-letter target = %v, want the DLQ", redrive["deadLetterTargetArn"])
			}
			if got := num(t, dlq["MessageRetentionPeriod"]); got != 14*24*3600 {
				t.Errorf("DLQ retention = %vs, want 14 days", got)
			}
			if num(t, dlq["MessageRetentionPeriod"]) <= num(t, queue["MessageRetentionPeriod"]) {
				t.Errorf("DLQ retention %v must exceed the queue's %v", dlq["MessageRetentionPeriod"], queue["MessageRetentionPeriod"])
			}
			fn := s.resources[s.id(s.stack.Functions.Resize)].Properties
			if got := num(t, fn["Timeout"]); got != tt.timeout {
				t.Errorf("resize timeout = %v, want %v", got, tt.timeout)
			}
			if vis := num(t, queue["VisibilityTimeout"]); vis < 6*num(t, fn["Timeout"]) {
				t.Errorf("visibility timeout %vs is under six times the function timeout %vs", vis, fn["Timeout"])
			}
			for id, q := range map[string]map[string]any{"queue": queue, "DLQ": dlq} {
				if q["SqsManagedSseEnabled"] != true {
					t.Errorf("%s is not encrypted: %v", id, q)
				}
			}
			for _, qid := range []string{queueID, dlqID} {
				s.has(t, "AWS::SQS::QueuePolicy", map[string]any{
					"Queues": []any{ref(qid)},
					"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{
						"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
							"Effect":    "Deny",
							"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
						})}),
					}),
				})
			}
		})
	}
}

func TestEventSource(t *testing.T) {
	tests := []struct {
		name                       string
		overrides                  map[string]any
		batch, window, concurrency float64
	}{
		{"cdk.json", nil, 1, 0, 10},
		{"overridden", map[string]any{"resizeBatchSize": "20", "resizeBatchWindow": "10s", "resizeMaxConcurrency": "40",
			"resizeImageTimeout": "2s"}, 20, 10, 40}, // 20 x 2s + the 10s margin fit in 60s
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := defaults(t)
			if tt.overrides != nil {
				s = synth(t, tt.overrides)
			}
			mappings := s.ofType("AWS::Lambda::EventSourceMapping")
			if len(mappings) != 1 {
				t.Fatalf("want one event source mapping, got %d", len(mappings))
			}
			s.has(t, "AWS::Lambda::EventSourceMapping", map[string]any{
				"EventSourceArn":                 getAtt(s.id(s.stack.Queue.Queue), "Arn"),
				"FunctionName":                   ref(s.id(s.stack.Functions.Resize)),
				"FunctionResponseTypes":          []any{"ReportBatchItemFailures"},
				"BatchSize":                      tt.batch,
				"MaximumBatchingWindowInSeconds": tt.window,
				"ScalingConfig":                  map[string]any{"MaximumConcurrency": tt.concurrency},
			})
		})
	}
}

func TestFunctions(t *testing.T) {
	s := synth(t, map[string]any{"resizeMemoryMb": "2048", "logRetentionDays": "90"})
	want := settings.Default()
	want.Resize.MemoryMB = 2048
	tests := []struct {
		name     string
		fn       awslambda.Function
		logs     awscdk.IResource
		memory   float64
		envKeys  []string
		extraEnv map[string]string
	}{
		{"resize", s.stack.Functions.Resize, s.stack.Functions.ResizeLogs, 2048,
			append(mapKeys(want.ResizeEnv("a", "b")), mapKeys(want.DeliveryEnv("u", "d"))...), map[string]string{"GOMEMLIMIT": "1843MiB"}},
		{"api", s.stack.Functions.API, s.stack.Functions.APILogs, apiMemoryMB,
			append(mapKeys(want.APIEnv("a", "b")), mapKeys(want.DeliveryEnv("u", "d"))...), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			props := s.resources[s.id(tt.fn)].Properties
			s.has(t, "AWS::Lambda::Function", map[string]any{
				"Runtime":       "provided.al2023",
				"Architectures": []any{"arm64"},
				"Handler":       "bootstrap",
				"MemorySize":    tt.memory,
				"LoggingConfig": map[string]any{"LogFormat": "JSON", "LogGroup": ref(s.id(tt.logs))},
				"Role":          getAtt(s.id(tt.fn.Role()), "Arn"),
			})
			env := props["Environment"].(map[string]any)["Variables"].(map[string]any)
			for _, k := range tt.envKeys {
				if _, ok := env[k]; !ok {
					t.Errorf("environment lacks %s (from settings): %v", k, env)
				}
			}
			for k, v := range tt.extraEnv {
				if env[k] != v {
					t.Errorf("%s = %v, want %s", k, env[k], v)
				}
			}
			if tt.name == "resize" {
				// Events naming any other bucket are ignored: the one it is pinned to.
				if got, want := fmt.Sprint(env["UPLOADS_BUCKET"]), fmt.Sprint(ref(s.id(s.stack.Storage.Uploads))); got != want {
					t.Errorf("UPLOADS_BUCKET = %s, want %s", got, want)
				}
				if env["IMAGE_TIMEOUT"] != want.Resize.ImageTimeout.String() || env["MAX_RECEIVE_COUNT"] != fmt.Sprint(want.Queue.MaxReceiveCount) {
					t.Errorf("IMAGE_TIMEOUT %v, MAX_RECEIVE_COUNT %v", env["IMAGE_TIMEOUT"], env["MAX_RECEIVE_COUNT"])
				}
			}
			logs := s.resources[s.id(tt.logs)].Properties
			if num(t, logs["RetentionInDays"]) != 90 {
				t.Errorf("log retention = %v, want 90", logs["RetentionInDays"])
			}
		})
	}
}

func mapKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestBuckets(t *testing.T) {
	s := synth(t, map[string]any{"allowedOrigins": "https://photos.example", "originalsExpireDays": "7"})
	st := s.stack.Storage
	logsID := s.id(st.Logs)
	for name, b := range map[string]awscdk.IResource{"logs": st.Logs, "uploads": st.Uploads, "output": st.Output} {
		t.Run(name, func(t *testing.T) {
			id := s.id(b)
			props := s.resources[id].Properties
			want := map[string]any{
				"PublicAccessBlockConfiguration": map[string]any{
					"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
				},
				"OwnershipControls": map[string]any{"Rules": []any{map[string]any{"ObjectOwnership": "BucketOwnerEnforced"}}},
				"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{
					map[string]any{"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "AES256"}},
				}},
			}
			for k, v := range want {
				if fmt.Sprint(props[k]) != fmt.Sprint(v) {
					t.Errorf("%s = %v, want %v", k, props[k], v)
				}
			}
			if name != "logs" {
				logging, _ := props["LoggingConfiguration"].(map[string]any)
				if fmt.Sprint(logging["DestinationBucketName"]) != fmt.Sprint(ref(logsID)) {
					t.Errorf("access logs go to %v, want the log bucket", logging["DestinationBucketName"])
				}
			}
			rules := fmt.Sprint(props["LifecycleConfiguration"])
			if !strings.Contains(rules, "AbortIncompleteMultipartUpload:map[DaysAfterInitiation:1]") {
				t.Errorf("no rule aborts incomplete multipart uploads: %s", rules)
			}
			s.has(t, "AWS::S3::BucketPolicy", map[string]any{
				"Bucket": ref(id),
				"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{
					"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
						"Effect":    "Deny",
						"Action":    "s3:*",
						"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
					})}),
				}),
			})
		})
	}

	t.Run("uploads CORS and expiry", func(t *testing.T) {
		s.has(t, "AWS::S3::Bucket", map[string]any{
			"CorsConfiguration": map[string]any{"CorsRules": []any{map[string]any{
				// What the page does: PUT with the signed headers a page may set
				// (the browser sets Content-Length), read ETag; as the local cloud has it.
				"AllowedMethods": []any{"PUT"},
				"AllowedOrigins": []any{"https://photos.example", getAtt(s.id(s.stack.API.HttpApi), "ApiEndpoint")},
				"AllowedHeaders": []any{"content-type", "if-none-match", "x-amz-meta-filename", "x-amz-meta-owner"},
				"ExposedHeaders": []any{"ETag"},
				"MaxAge":         3000.0,
			}}},
			"LifecycleConfiguration": map[string]any{"Rules": assertions.Match_ArrayWith(&[]any{map[string]any{
				"Id": "expire-originals", "Prefix": "uploads/", "ExpirationInDays": 7.0, "Status": "Enabled",
			}})},
		})
		if cors := s.resources[s.id(st.Output)].Properties["CorsConfiguration"]; cors != nil {
			t.Errorf("output bucket has CORS %v; browsers only read it through presigned GETs", cors)
		}
	})
}

func TestUploadNotification(t *testing.T) {
	s := defaults(t)
	s.has(t, "Custom::S3BucketNotifications", map[string]any{
		"BucketName": ref(s.id(s.stack.Storage.Uploads)),
		"NotificationConfiguration": map[string]any{"QueueConfigurations": []any{map[string]any{
			"Events":   []any{"s3:ObjectCreated:*"},
			"Filter":   map[string]any{"Key": map[string]any{"FilterRules": []any{map[string]any{"Name": "prefix", "Value": "uploads/"}}}},
			"QueueArn": getAtt(s.id(s.stack.Queue.Queue), "Arn"),
		}}},
	})
	// Only S3, and only for this bucket, may send to the queue.
	s.has(t, "AWS::SQS::QueuePolicy", map[string]any{
		"Queues": []any{ref(s.id(s.stack.Queue.Queue))},
		"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{
			"Statement": assertions.Match_ArrayWith(&[]any{map[string]any{
				"Effect":    "Allow",
				"Principal": map[string]any{"Service": "s3.amazonaws.com"},
				"Action":    []any{"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"},
				"Condition": map[string]any{
					"ArnLike":      map[string]any{"aws:SourceArn": getAtt(s.id(s.stack.Storage.Uploads), "Arn")},
					"StringEquals": map[string]any{"aws:SourceAccount": map[string]any{"Ref": "AWS::AccountId"}},
				},
				"Resource": getAtt(s.id(s.stack.Queue.Queue), "Arn"),
			}}),
		}),
	})
}

func TestAPI(t *testing.T) {
	t.Run("cdk.json: same-origin page only", func(t *testing.T) {
		s := defaults(t)
		api := s.resources[s.id(s.stack.API.HttpApi)].Properties
		if api["CorsConfiguration"] != nil {
			t.Errorf("CORS configured with no allowed origins: %v", api["CorsConfiguration"])
		}
		s.has(t, "AWS::ApiGatewayV2::Stage", map[string]any{
			"ApiId":                ref(s.id(s.stack.API.HttpApi)),
			"StageName":            "$default",
			"AutoDeploy":           true,
			"DefaultRouteSettings": map[string]any{"ThrottlingBurstLimit": float64(apiBurstLimit), "ThrottlingRateLimit": float64(apiRateLimit)},
			"AccessLogSettings": map[string]any{
				"DestinationArn": getAtt(s.id(s.stack.API.Logs), "Arn"),
				"Format":         assertions.Match_StringLikeRegexp(jsii.String(`\$context\.requestId`)),
			},
		})
		s.has(t, "AWS::ApiGatewayV2::Route", map[string]any{"RouteKey": "$default"})
		s.has(t, "AWS::ApiGatewayV2::Integration", map[string]any{
			"IntegrationType":      "AWS_PROXY",
			"PayloadFormatVersion": "2.0",
			"IntegrationUri":       getAtt(s.id(s.stack.Functions.API), "Arn"),
		})
		s.has(t, "AWS::Lambda::Permission", map[string]any{
			"Action":       "lambda:InvokeFunction",
			"FunctionName": getAtt(s.id(s.stack.Functions.API), "Arn"),
			"Principal":    "apigateway.amazonaws.com",
		})
	})
	t.Run("allowed origins: CORS is the function's, not API Gateway's", func(t *testing.T) {
		s := synth(t, map[string]any{"allowedOrigins": []any{"https://a.example", "https://b.example"}})
		if cors := s.resources[s.id(s.stack.API.HttpApi)].Properties["CorsConfiguration"]; cors != nil {
			t.Errorf("API Gateway answers CORS itself: %v", cors)
		}
		env := s.resources[s.id(s.stack.Functions.API)].Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
		if env["ALLOWED_ORIGINS"] != "https://a.example,https://b.example" {
			t.Errorf("ALLOWED_ORIGINS = %v", env["ALLOWED_ORIGINS"])
		}
	})
}

// statement is one IAM policy statement with Action and Resource as lists.
type statement struct {
	role      string
	effect    string
	actions   []string
	resources []string
}

// identityStatements returns every statement of every AWS::IAM::Policy, with
// resources rendered as text (tokens as their JSON).
func identityStatements(t *testing.T, s *synthesized) []statement {
	t.Helper()
	var out []statement
	for _, p := range s.ofType("AWS::IAM::Policy") {
		roles := fmt.Sprint(p.Properties["Roles"])
		doc := p.Properties["PolicyDocument"].(map[string]any)
		for _, raw := range doc["Statement"].([]any) {
			st := raw.(map[string]any)
			out = append(out, statement{role: roles, effect: fmt.Sprint(st["Effect"]),
				actions: texts(st["Action"]), resources: texts(st["Resource"])})
		}
	}
	return out
}

func texts(v any) []string {
	list, ok := v.([]any)
	if !ok {
		list = []any{v}
	}
	out := make([]string, len(list))
	for i, x := range list {
		if s, ok := x.(string); ok {
			out[i] = s
			continue
		}
		raw, _ := json.Marshal(x)
		out[i] = string(raw)
	}
	return out
}

// allowed reports whether the role may perform action on a resource whose text
// matches resource (a regexp).
func allowed(sts []statement, role, action, resource string) bool {
	re := regexp.MustCompile(resource)
	for _, st := range sts {
		if st.effect != "Allow" || !strings.Contains(st.role, role) {
			continue
		}
		for _, a := range st.actions {
			if a != action && !(strings.HasSuffix(a, "*") && strings.HasPrefix(action, strings.TrimSuffix(a, "*"))) {
				continue
			}
			if slices.ContainsFunc(st.resources, re.MatchString) {
				return true
			}
		}
	}
	return false
}

func TestIAMLeastPrivilege(t *testing.T) {
	s := defaults(t)
	sts := identityStatements(t, s)
	for _, st := range sts {
		for _, a := range st.actions {
			if a == "*" || strings.HasSuffix(a, ":*") {
				t.Errorf("%s may do %s", st.role, a)
			}
		}
		for _, r := range st.resources {
			if r == "*" {
				t.Errorf("%s may do %v on every resource", st.role, st.actions)
			}
		}
	}

	apiRole := s.id(s.stack.Functions.API.Role())
	resizeRole := s.id(s.stack.Functions.Resize.Role())
	uploads := regexp.QuoteMeta(s.id(s.stack.Storage.Uploads))
	output := regexp.QuoteMeta(s.id(s.stack.Storage.Output))
	uploadObjects := uploads + `.*"/uploads/\*"`
	outputObjects := output + `.*"/variants/\*"`
	manifestObjects := output + `.*"/manifests/\*"`
	tests := []struct {
		role, action, resource string
		want                   bool
	}{
		{apiRole, "s3:PutObject", uploadObjects, true},
		{apiRole, "s3:GetObject", uploadObjects, true},
		{apiRole, "s3:GetObject", outputObjects, true},
		{apiRole, "s3:GetObject", manifestObjects, true},
		{apiRole, "s3:PutObject", manifestObjects, false},
		{apiRole, "cloudfront:CreateInvalidation", regexp.QuoteMeta(s.id(s.stack.CDN.Distribution)), true},
		{resizeRole, "cloudfront:CreateInvalidation", ".", false},
		{apiRole, "s3:PutObject", outputObjects, false},
		{apiRole, "s3:PutObject", output + `.*"/owners/\*"`, true},
		{apiRole, "s3:PutObject", output + `.*"/quota/\*"`, true},
		{apiRole, "s3:PutObject", output + `.*"/tombstones/\*"`, true},
		{apiRole, "s3:PutObject", uploads + `.*"/\*"`, false}, // the whole bucket, not just uploads/
		{resizeRole, "s3:PutObject", output + `.*"/\*"`, false},
		{apiRole, "s3:DeleteObject", uploadObjects, true},
		{apiRole, "s3:DeleteObject", outputObjects, true},
		{apiRole, "s3:DeleteObject", uploads + `.*"/\*"`, false},
		{apiRole, "s3:DeleteObject", output + `.*"/\*"`, false},
		{apiRole, "sqs:ReceiveMessage", ".", false},
		{resizeRole, "s3:GetObject", uploadObjects, true},
		{resizeRole, "s3:PutObject", outputObjects, true},
		{resizeRole, "s3:GetObject", outputObjects, true},
		{resizeRole, "s3:GetObject", manifestObjects, true},
		{resizeRole, "s3:PutObject", manifestObjects, true},
		{resizeRole, "s3:PutObject", uploads, false},
		{resizeRole, "s3:DeleteObject", uploadObjects, true},
		{resizeRole, "s3:DeleteObject", uploads + `.*"/\*"`, false},
		{resizeRole, "s3:DeleteObject", outputObjects, true},
		{resizeRole, "s3:DeleteObject", output + `.*"/\*"`, false},
		{resizeRole, "s3:GetObject", output + `.*"/tombstones/\*"`, true},
		{resizeRole, "sqs:ReceiveMessage", regexp.QuoteMeta(s.id(s.stack.Queue.Queue)), true},
		{resizeRole, "sqs:DeleteMessage", regexp.QuoteMeta(s.id(s.stack.Queue.Queue)), true},
		{resizeRole, "sqs:SendMessage", ".", false},
		{resizeRole, "sqs:ReceiveMessage", regexp.QuoteMeta(s.id(s.stack.Queue.DLQ)), false},
		{resizeRole, "logs:PutLogEvents", regexp.QuoteMeta(s.id(s.stack.Functions.ResizeLogs)), true},
		{resizeRole, "logs:PutLogEvents", regexp.QuoteMeta(s.id(s.stack.Functions.APILogs)), false},
		{apiRole, "logs:PutLogEvents", regexp.QuoteMeta(s.id(s.stack.Functions.APILogs)), true},
		{apiRole, "logs:CreateLogGroup", ".", false},
		// Nothing sets retention, legal holds, tags or ACLs, reads versions or lists uploads in progress.
		{resizeRole, "s3:PutObjectRetention", outputObjects, false},
		{resizeRole, "s3:PutObjectLegalHold", outputObjects, false},
		{resizeRole, "s3:PutObjectTagging", outputObjects, false},
		{apiRole, "s3:PutObjectRetention", uploadObjects, false},
		{apiRole, "s3:PutObjectLegalHold", uploadObjects, false},
		{apiRole, "s3:PutObjectTagging", uploadObjects, false},
		{apiRole, "s3:PutObjectAcl", uploadObjects, false},
		{resizeRole, "s3:GetObjectTagging", uploadObjects, false},
		{apiRole, "s3:GetObjectVersion", outputObjects, false},
		{apiRole, "s3:GetBucketPolicy", ".", false},
		{apiRole, "s3:ListBucketMultipartUploads", ".", false},
		{resizeRole, "s3:AbortMultipartUpload", ".", false},
		// ListBucket only on the two buckets, for 404 rather than 403 on a missing key.
		{apiRole, "s3:ListBucket", bucketArn(uploads), true},
		{apiRole, "s3:ListBucket", bucketArn(output), true},
		{resizeRole, "s3:ListBucket", bucketArn(uploads), true},
		{resizeRole, "s3:ListBucket", bucketArn(output), true},
	}
	for _, tt := range tests {
		name := "API"
		if tt.role == resizeRole {
			name = "resize"
		}
		t.Run(fmt.Sprintf("%s %s %s", name, tt.action, tt.resource), func(t *testing.T) {
			if got := allowed(sts, tt.role, tt.action, tt.resource); got != tt.want {
				t.Errorf("allowed = %v, want %v", got, tt.want)
			}
		})
	}

	// Our roles carry no managed policies: every permission is a grant above.
	for _, role := range []string{apiRole, resizeRole} {
		if mp := s.resources[role].Properties["ManagedPolicyArns"]; mp != nil {
			t.Errorf("%s has managed policies %v", role, mp)
		}
	}
}

func TestAlarms(t *testing.T) {
	runbook, err := os.ReadFile("../docs/runbook.md")
	if err != nil {
		t.Fatal(err)
	}
	s := synth(t, map[string]any{"oldestMessageAlarm": "30m"})
	topic := ref(s.id(s.stack.Alarms.Topic))
	tests := []struct {
		name      string
		alarm     awscdk.IResource
		namespace string
		metric    string
		dimension map[string]any
		threshold float64
	}{
		{"DLQ has messages", s.stack.Alarms.DLQMessages, "AWS/SQS", "ApproximateNumberOfMessagesVisible",
			map[string]any{"Name": "QueueName", "Value": getAtt(s.id(s.stack.Queue.DLQ), "QueueName")}, 0},
		{"oldest message", s.stack.Alarms.OldestMessage, "AWS/SQS", "ApproximateAgeOfOldestMessage",
			map[string]any{"Name": "QueueName", "Value": getAtt(s.id(s.stack.Queue.Queue), "QueueName")}, 1800},
		{"resize errors", s.stack.Alarms.ResizeErrors, "AWS/Lambda", "Errors",
			map[string]any{"Name": "FunctionName", "Value": ref(s.id(s.stack.Functions.Resize))}, 0},
		{"resize throttles", s.stack.Alarms.ResizeThrottles, "AWS/Lambda", "Throttles",
			map[string]any{"Name": "FunctionName", "Value": ref(s.id(s.stack.Functions.Resize))}, 0},
		{"API 5xx", s.stack.Alarms.APIServerErrors, "AWS/ApiGateway", "5xx",
			map[string]any{"Name": "ApiId", "Value": ref(s.id(s.stack.API.HttpApi))}, 0},
		// events.go
		{"events DLQ has messages", s.stack.Events.DLQAlarm, "AWS/SQS", "ApproximateNumberOfMessagesVisible",
			map[string]any{"Name": "QueueName", "Value": getAtt(s.id(s.stack.Events.DLQ), "QueueName")}, 0},
	}
	// + the rate alarms, below, and the service-level alarms of TestSLOAlarms (slo_test.go).
	if n := len(tests) + 2 + 3 + 1 + len(s.stack.SLO.Windows); len(s.ofType("AWS::CloudWatch::Alarm")) != n {
		t.Errorf("template has %d alarms, the tests know %d", len(s.ofType("AWS::CloudWatch::Alarm")), n)
	}
	anchor := regexp.MustCompile(`docs/runbook\.md#([a-z0-9-]+)`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			props := s.resources[s.id(tt.alarm)].Properties
			want := map[string]any{
				"Namespace":          tt.namespace,
				"MetricName":         tt.metric,
				"Dimensions":         []any{tt.dimension},
				"Threshold":          tt.threshold,
				"ComparisonOperator": "GreaterThanThreshold",
				"AlarmActions":       []any{topic},
				"OKActions":          []any{topic},
				"TreatMissingData":   "notBreaching",
			}
			for k, v := range want {
				if fmt.Sprint(props[k]) != fmt.Sprint(v) {
					t.Errorf("%s = %v, want %v", k, props[k], v)
				}
			}
			desc, _ := props["AlarmDescription"].(string)
			m := anchor.FindStringSubmatch(desc)
			if len(desc) < 80 || m == nil {
				t.Fatalf("description does not say what to do or link the runbook: %q", desc)
			}
			if !runbookHasAnchor(string(runbook), m[1]) {
				t.Errorf("docs/runbook.md has no heading for #%s", m[1])
			}
		})
	}
}

// runbookHasAnchor reports whether a markdown heading renders to the anchor, as
// GitHub does: lower case, punctuation dropped, spaces to hyphens.
func runbookHasAnchor(doc, anchor string) bool {
	drop := regexp.MustCompile(`[^a-z0-9 -]`)
	for line := range strings.SplitSeq(doc, "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		if strings.ReplaceAll(drop.ReplaceAllString(h, ""), " ", "-") == anchor {
			return true
		}
	}
	return false
}

func TestAlarmEmail(t *testing.T) {
	if subs := defaults(t).ofType("AWS::SNS::Subscription"); len(subs) != 0 {
		t.Errorf("subscriptions without alarmEmail: %v", subs)
	}
	s := synth(t, map[string]any{"alarmEmail": "ops@example.com"})
	s.has(t, "AWS::SNS::Subscription", map[string]any{
		"Protocol": "email",
		"Endpoint": "ops@example.com",
		"TopicArn": ref(s.id(s.stack.Alarms.Topic)),
	})
}

func TestDashboard(t *testing.T) {
	s := defaults(t)
	raw, _ := json.Marshal(s.resources[s.id(s.stack.Dashboard.Dashboard)].Properties["DashboardBody"])
	body := string(raw)
	want := []string{
		// queue depth and age, DLQ depth
		"ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible", "ApproximateAgeOfOldestMessage",
		s.id(s.stack.Queue.DLQ),
		// the resize function
		`\"AWS/Lambda\",\"Invocations\"`, `\"AWS/Lambda\",\"Errors\"`, `\"AWS/Lambda\",\"Throttles\"`,
		`\"AWS/Lambda\",\"ConcurrentExecutions\"`, `\"AWS/Lambda\",\"Duration\"`, `\"stat\":\"p50\"`, `\"stat\":\"p99\"`,
		// the custom metrics, under the emitter's own dimension
		fmt.Sprintf(`\"%s\",\"%s\",\"%s\",\"%s\"`, metrics.Namespace, metrics.ImagesProcessed, metrics.DimensionService, metrics.ServiceResize),
		fmt.Sprintf(`\"%s\",\"%s\",\"%s\",\"%s\"`, metrics.Namespace, metrics.ImagesFailed, metrics.DimensionService, metrics.ServiceResize),
		metrics.ProcessingTime, metrics.UploadToReady, metrics.BytesIn, metrics.BytesOut, metrics.TransientErrors,
		// failures by code
		fmt.Sprintf(`SEARCH('{%s,%s,%s} MetricName=\\\"%s\\\"`, metrics.Namespace, metrics.DimensionService, metrics.DimensionCode, metrics.ImagesFailed),
		// the API
		`\"AWS/ApiGateway\",\"Count\"`, `\"AWS/ApiGateway\",\"Latency\"`, `\"AWS/ApiGateway\",\"4xx\"`, `\"AWS/ApiGateway\",\"5xx\"`,
		// alarm states
		s.id(s.stack.Alarms.DLQMessages),
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("dashboard lacks %s", w)
		}
	}
}

func TestOutputs(t *testing.T) {
	s := defaults(t)
	for _, name := range []string{"ApiUrl", "UploadsBucketName", "OutputBucketName", "QueueUrl", "DeadLetterQueueUrl",
		"DashboardUrl", "AlarmTopicArn", "RedriveCommand"} {
		if _, ok := s.outputs[name]; !ok {
			t.Errorf("no output %s", name)
		}
	}
	raw, _ := json.Marshal(s.outputs)
	for _, w := range []string{ref(s.id(s.stack.Queue.DLQ))["Ref"].(string), "#dashboards:name=", "imagepipe redrive -dlq "} {
		if !strings.Contains(string(raw), w) {
			t.Errorf("outputs lack %s: %s", w, raw)
		}
	}
}

func TestNoUnacknowledgedNagFindings(t *testing.T) {
	s := defaults(t)
	annotations := assertions.Annotations_FromStack(s.stack.Stack)
	for _, m := range *annotations.FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))) {
		t.Errorf("cdk-nag error at %s: %v", *m.Id, m.Entry.Data)
	}
	for _, m := range *annotations.FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))) {
		t.Errorf("cdk-nag warning at %s: %v", *m.Id, m.Entry.Data)
	}
}

func TestNagAcknowledgementsGiveReasons(t *testing.T) {
	s := defaults(t)
	count := 0
	for id, r := range s.resources {
		for _, a := range r.Metadata.Nag.Acknowledged {
			count++
			if len(a.Reason) < 60 {
				t.Errorf("%s acknowledges %s with too thin a reason: %q", id, a.ID, a.Reason)
			}
			// Wildcard findings are acknowledged one by one, never wholesale.
			if a.ID == "AwsSolutions-IAM5" && len(a.AppliesTo) == 0 {
				t.Errorf("%s acknowledges every IAM5 finding instead of naming them", id)
			}
		}
	}
	if count == 0 {
		t.Error("no acknowledgements found; the metadata layout changed?")
	}
}

// TestNoDependencyCycle guards the wiring order in NewStack: the uploads bucket's
// CORS names the API's origin while the API's function names the bucket, which
// works only because the API resource itself depends on neither. CloudFormation
// would refuse a cycle only at deployment; Template_FromStack refuses it here.
func TestNoDependencyCycle(t *testing.T) {
	var s *synthesized
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("synthesis: %v", r)
			}
		}()
		s = synth(t, map[string]any{"allowedOrigins": "https://photos.example"})
	}()
	raw, _ := json.Marshal(s.resources[s.id(s.stack.Storage.Uploads)].Properties["CorsConfiguration"])
	if !strings.Contains(string(raw), s.id(s.stack.API.HttpApi)) {
		t.Errorf("the uploads bucket's CORS does not name the API's origin: %s", raw)
	}
}

// bucketArn matches the rendered ARN of the bucket whose quoted logical id is id.
func bucketArn(id string) string { return `^\{"Fn::GetAtt":\["` + id + `","Arn"\]\}$` }

// TestRateAlarms: the ImagesFailed and TransientErrors alarms divide the resize
// function's own EMF metrics (under the emitter's dimension) with a volume floor,
// and say what to do.
func TestRateAlarms(t *testing.T) {
	runbook, err := os.ReadFile("../docs/runbook.md")
	if err != nil {
		t.Fatal(err)
	}
	s := defaults(t)
	tests := []struct {
		name      string
		alarm     awscdk.IResource
		metrics   []string
		threshold float64
		periods   float64
		period    float64
	}{
		{"images failed", s.stack.Alarms.ImagesFailedRate, []string{metrics.ImagesFailed, metrics.ImagesProcessed}, imagesFailedPercent, 1, 300},
		{"transient errors", s.stack.Alarms.TransientErrorsRate, []string{metrics.TransientErrors, metrics.ImagesFailed, metrics.ImagesProcessed}, transientPercent, 3, 60},
	}
	topic := ref(s.id(s.stack.Alarms.Topic))
	anchor := regexp.MustCompile(`docs/runbook\.md#([a-z0-9-]+)`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			props := s.resources[s.id(tt.alarm)].Properties
			if num(t, props["Threshold"]) != tt.threshold || num(t, props["EvaluationPeriods"]) != tt.periods ||
				props["ComparisonOperator"] != "GreaterThanThreshold" || props["TreatMissingData"] != "notBreaching" ||
				fmt.Sprint(props["AlarmActions"]) != fmt.Sprint([]any{topic}) {
				t.Errorf("alarm %v", props)
			}
			raw, _ := json.Marshal(props["Metrics"])
			text := string(raw)
			if !strings.Contains(text, `"Expression":"IF(`) {
				t.Errorf("no rate expression with a floor: %s", text)
			}
			for _, m := range tt.metrics {
				want := fmt.Sprintf(`"Dimensions":[{"Name":"%s","Value":"%s"}],"MetricName":"%s","Namespace":"%s"`,
					metrics.DimensionService, metrics.ServiceResize, m, metrics.Namespace)
				if !strings.Contains(text, want) {
					t.Errorf("metric %s not read under the emitter's dimension: %s", m, text)
				}
			}
			if !strings.Contains(text, fmt.Sprintf(`"Period":%v`, tt.period)) {
				t.Errorf("period is not %vs: %s", tt.period, text)
			}
			desc, _ := props["AlarmDescription"].(string)
			if m := anchor.FindStringSubmatch(desc); m == nil || !runbookHasAnchor(string(runbook), m[1]) {
				t.Errorf("description does not link a runbook heading: %q", desc)
			}
		})
	}
	// The resize errors alarm no longer claims bad images cannot cause it.
	if desc := s.resources[s.id(s.stack.Alarms.ResizeErrors)].Properties["AlarmDescription"].(string); strings.Contains(desc, "do not cause") ||
		!strings.Contains(desc, "resizeImageTimeout") {
		t.Errorf("resize errors alarm text: %q", desc)
	}
}
