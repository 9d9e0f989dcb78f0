package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/imagepipe/imagepipe/shared/imageevents"
)

// patternOf decodes a template's EventPattern for comparison with the Go one.
func patternOf(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var p imageevents.EventPattern
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("event pattern %s: %v", raw, err)
	}
	return string(p.JSON())
}

func TestEventBus(t *testing.T) {
	s := defaults(t)
	e := s.stack.Events
	bus := s.id(e.Bus)
	want := string(imageevents.Pattern().JSON())

	archives := s.ofType("AWS::Events::Archive")
	if len(archives) != 1 {
		t.Fatalf("%d archives", len(archives))
	}
	for _, a := range archives {
		if got := patternOf(t, a.Properties["EventPattern"]); got != want {
			t.Errorf("archive pattern %s, want %s", got, want)
		}
		if num(t, a.Properties["RetentionDays"]) != 14 {
			t.Errorf("archive retention %v", a.Properties["RetentionDays"])
		}
		if fmt.Sprint(a.Properties["SourceArn"]) != fmt.Sprint(getAtt(bus, "Arn")) {
			t.Errorf("archive of %v", a.Properties["SourceArn"])
		}
	}

	dlq := s.resources[s.id(e.DLQ)].Properties
	if dlq["SqsManagedSseEnabled"] != true || num(t, dlq["MessageRetentionPeriod"]) != 14*24*3600 {
		t.Errorf("events DLQ %v", dlq)
	}
	policies, _ := json.Marshal(s.ofType("AWS::SQS::QueuePolicy"))
	for _, w := range []string{`"Service":"events.amazonaws.com"`, `"aws:SourceArn"`, `:rule/`, `"sqs:SendMessage"`} {
		if !strings.Contains(string(policies), w) {
			t.Errorf("no queue policy lets the bus's rules dead-letter (%s): %s", w, policies)
		}
	}

	sts := identityStatements(t, s)
	busArn := regexp.QuoteMeta(bus) + `.*Arn`
	for _, fn := range []struct {
		name string
		role string
		env  map[string]any
	}{
		{"resize", s.id(s.stack.Functions.Resize.Role()), s.resources[s.id(s.stack.Functions.Resize)].Properties},
		{"api", s.id(s.stack.Functions.API.Role()), s.resources[s.id(s.stack.Functions.API)].Properties},
	} {
		if !allowed(sts, fn.role, "events:PutEvents", busArn) {
			t.Errorf("%s may not put events on the bus", fn.name)
		}
		vars := fn.env["Environment"].(map[string]any)["Variables"].(map[string]any)
		if fmt.Sprint(vars["EVENT_BUS_NAME"]) != fmt.Sprint(ref(bus)) {
			t.Errorf("%s EVENT_BUS_NAME = %v", fn.name, vars["EVENT_BUS_NAME"])
		}
	}
	if allowed(sts, s.id(s.stack.Functions.Resize.Role()), "events:PutEvents", `^\*$`) {
		t.Error("PutEvents on every bus")
	}

	// No webhook by default: nothing that would call out.
	for _, typ := range []string{"AWS::Events::Rule", "AWS::Events::Connection", "AWS::Events::ApiDestination", "AWS::SecretsManager::Secret"} {
		if n := len(s.ofType(typ)); n != 0 {
			t.Errorf("%d %s without webhookUrl", n, typ)
		}
	}
	for _, name := range []string{"EventBusName", "EventBusArn", "EventsDeadLetterQueueUrl"} {
		if _, ok := s.outputs[name]; !ok {
			t.Errorf("no output %s", name)
		}
	}
	if _, ok := s.outputs["WebhookSecretArn"]; ok {
		t.Error("a webhook secret output without a webhook")
	}
}

func TestWebhookTarget(t *testing.T) {
	secretArn := "arn:aws:secretsmanager:eu-west-1:123456789012:secret:imagepipe/webhook-AbCdEf"
	tests := []struct {
		name      string
		context   map[string]any
		generated bool
		retries   float64
		age       float64
	}{
		{"generated key", map[string]any{"webhookUrl": "https://app.example.com/hooks/imagepipe"}, true, 185, 86400},
		{"key from a secret", map[string]any{"webhookUrl": "https://app.example.com/hooks/imagepipe", "webhookSecretArn": secretArn,
			"webhookHeaderName": "X-Imagepipe-Key", "webhookRetryAttempts": "20", "webhookMaxEventAge": "2h",
			"eventArchiveRetention": "0", "webhookRateLimitPerSecond": "50"}, false, 20, 7200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := synth(t, tt.context)
			e := s.stack.Events
			header := "x-api-key"
			if h, ok := tt.context["webhookHeaderName"].(string); ok {
				header = h
			}
			// Connection and ApiDestination name their L1 child after themselves, so
			// DefaultChild cannot find it: find the one of each type instead.
			only := func(typ string) (string, map[string]any) {
				t.Helper()
				all := s.ofType(typ)
				if len(all) != 1 {
					t.Fatalf("%d %s", len(all), typ)
				}
				for id, r := range all {
					return id, r.Properties
				}
				return "", nil
			}
			_, conn := only("AWS::Events::Connection")
			raw, _ := json.Marshal(conn)
			if conn["AuthorizationType"] != "API_KEY" || !strings.Contains(string(raw), `"ApiKeyName":"`+header+`"`) {
				t.Errorf("connection %s", raw)
			}
			// The key is a dynamic reference, resolved by CloudFormation, never in the template.
			if !strings.Contains(string(raw), "{{resolve:secretsmanager:") {
				t.Errorf("the API key is not a Secrets Manager reference: %s", raw)
			}
			secrets := s.ofType("AWS::SecretsManager::Secret")
			if tt.generated != (len(secrets) == 1) || tt.generated != (e.WebhookSecret != nil) {
				t.Errorf("%d secrets, generated=%v", len(secrets), tt.generated)
			}
			if !tt.generated && !strings.Contains(string(raw), secretArn) {
				t.Errorf("connection does not use %s: %s", secretArn, raw)
			}
			if _, ok := s.outputs["WebhookSecretArn"]; ok != tt.generated {
				t.Errorf("WebhookSecretArn output present=%v", ok)
			}

			destID, dest := only("AWS::Events::ApiDestination")
			if dest["InvocationEndpoint"] != "https://app.example.com/hooks/imagepipe" || dest["HttpMethod"] != "POST" {
				t.Errorf("API destination %v", dest)
			}
			rule := s.resources[s.id(e.WebhookRule)].Properties
			if got := patternOf(t, rule["EventPattern"]); got != string(imageevents.Pattern().JSON()) {
				t.Errorf("rule pattern %s", got)
			}
			if fmt.Sprint(rule["EventBusName"]) != fmt.Sprint(ref(s.id(e.Bus))) {
				t.Errorf("rule on bus %v", rule["EventBusName"])
			}
			targets := rule["Targets"].([]any)
			if len(targets) != 1 {
				t.Fatalf("targets %v", targets)
			}
			target := targets[0].(map[string]any)
			if fmt.Sprint(target["Arn"]) != fmt.Sprint(getAtt(destID, "Arn")) ||
				fmt.Sprint(target["DeadLetterConfig"]) != fmt.Sprint(map[string]any{"Arn": getAtt(s.id(e.DLQ), "Arn")}) {
				t.Errorf("target %v", target)
			}
			retry := target["RetryPolicy"].(map[string]any)
			if num(t, retry["MaximumRetryAttempts"]) != tt.retries || num(t, retry["MaximumEventAgeInSeconds"]) != tt.age {
				t.Errorf("retry policy %v", retry)
			}
			for _, a := range s.ofType("AWS::Events::Archive") {
				// EventBridge keeps an archive's events forever at 0 days.
				days, _ := a.Properties["RetentionDays"].(float64)
				if forever := tt.context["eventArchiveRetention"] == "0"; forever != (days == 0) {
					t.Errorf("archive retention %v with eventArchiveRetention %v", a.Properties["RetentionDays"], tt.context["eventArchiveRetention"])
				}
			}

			annotations := assertions.Annotations_FromStack(s.stack.Stack)
			for _, m := range *annotations.FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))) {
				t.Errorf("cdk-nag error at %s: %v", *m.Id, m.Entry.Data)
			}
			for _, m := range *annotations.FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))) {
				t.Errorf("cdk-nag warning at %s: %v", *m.Id, m.Entry.Data)
			}
		})
	}
}
