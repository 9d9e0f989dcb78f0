package main

import "testing"

func TestParseSARIFAndSuppress(t *testing.T) {
	report := []byte(`{"runs":[{"results":[
		{"ruleId":"SQS_DLQ_CHECK","message":{"text":"property [RedrivePolicy] is missing. Value traversed to [Path=/Resources/QueueDeadLetter5B394E74/Properties[L:1,C:2]"}},
		{"ruleId":"SQS_DLQ_CHECK","message":{"text":"another clause of /Resources/QueueDeadLetter5B394E74/Properties"}},
		{"ruleId":"S3_BUCKET_LOGGING_ENABLED_CHECK","message":{"text":"[Path=/Resources/StorageUploadsBDC5E374/Properties[L:3,C:4]"}},
		{"ruleId":"S3_BUCKET_LOGGING_ENABLED_CHECK","message":{"text":"no path at all"}}]}]}`)
	got, err := parseSARIF(report)
	if err != nil {
		t.Fatal(err)
	}
	want := []finding{
		{Rule: "S3_BUCKET_LOGGING_ENABLED_CHECK", Resource: "(template)"},
		{Rule: "S3_BUCKET_LOGGING_ENABLED_CHECK", Resource: "StorageUploadsBDC5E374"},
		{Rule: "SQS_DLQ_CHECK", Resource: "QueueDeadLetter5B394E74"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want one finding per rule and resource: %+v", got, want)
	}
	for i := range want {
		if got[i].Rule != want[i].Rule || got[i].Resource != want[i].Resource {
			t.Errorf("finding %d = %s on %s, want %s on %s", i, got[i].Rule, got[i].Resource, want[i].Rule, want[i].Resource)
		}
	}
	s := suppression{Rule: "SQS_DLQ_CHECK", Resources: []string{"QueueDeadLetter*"}, Reason: "it is the DLQ"}
	for _, tc := range []struct {
		f    finding
		want bool
	}{
		{finding{Rule: "SQS_DLQ_CHECK", Resource: "QueueDeadLetter5B394E74"}, true},
		{finding{Rule: "SQS_DLQ_CHECK", Resource: "QueueResizeD5AE4FBC"}, false},
		{finding{Rule: "SQS_QUEUE_ENCRYPTED_CHECK", Resource: "QueueDeadLetter5B394E74"}, false},
	} {
		if got := s.matches(tc.f); got != tc.want {
			t.Errorf("suppression matches %+v = %v, want %v", tc.f, got, tc.want)
		}
	}
}
