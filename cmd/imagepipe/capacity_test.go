package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestCapacityAnswersTheBurstQuestion(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"100,000 in 10 minutes with the defaults", []string{"-profile", "100000 in 10m"}, []string{
			"100000 uploads over 10m0s", "ceiling: 10 concurrent invocations (resizeMaxConcurrency (10)), 16.7 images/s",
			"concurrency at its ceiling", "OldestMessageAge alarm fires", "set resizeMaxConcurrency to at least 125", "lost 0", "cost: $",
		}},
		{"idle: nothing breaks", []string{"-profile", "0.1/s for 10m"}, []string{
			"upload to ready: p50 600ms", "where it breaks first: nowhere",
		}},
		{"the local cloud's pollers", []string{"-profile", "2/s for 1m", "-mix", "400ms", "-max-concurrency", "2", "-local"}, []string{
			"a fixed pool of pollers", "ceiling: 2 concurrent invocations", "5.0 images/s",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := capacityTo(tc.args, &out); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestCapacityRejectsBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"-profile", "fast"},
		{"-mix", "quick"},
		{"-batch", "0"},
		{"-max-concurrency", "1"},
	} {
		if err := capacityTo(args, &bytes.Buffer{}); err == nil {
			t.Errorf("capacity %v succeeded", args)
		}
	}
}
