package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
)

func TestSLOAlarms(t *testing.T) {
	doc, err := os.ReadFile("../docs/slo.md")
	if err != nil {
		t.Fatal(err)
	}
	s := synth(t, map[string]any{
		"sloApiAvailability": "0.99", "sloApiLatencyP99": "800ms", "sloUploadToReadyP50": "1500ms",
		"sloUploadToReadyP99": "4s", "sloTerminalWithin": "2h",
	})
	o := s.stack.SLO
	topic := fmt.Sprint([]any{ref(s.id(s.stack.Alarms.Topic))})
	props := func(r awscdk.IResource) map[string]any { return s.resources[s.id(r)].Properties }
	body := func(r awscdk.IResource) string {
		b, _ := json.Marshal(props(r))
		return string(b)
	}
	tests := []struct {
		name      string
		alarm     awscdk.IResource
		threshold float64
		contains  []string
	}{
		{"API latency p99", o.APILatencyP99, 800, []string{`"MetricName":"Latency"`, `"ExtendedStatistic":"p99"`, `"Namespace":"AWS/ApiGateway"`}},
		{"upload to ready p50", o.UploadToReadyP50, 1500, []string{`IF(images \u003e= 20, latency, 0)`, `"Stat":"p50"`, `"MetricName":"UploadToReady"`}},
		{"upload to ready p99", o.UploadToReadyP99, 4000, []string{`IF(images \u003e= 20, latency, 0)`, `"Stat":"p99"`, `"Stat":"SampleCount"`}},
		{"durability", o.Durability, 7200, []string{`MAX([queue, dlq])`, `"MetricName":"ApproximateAgeOfOldestMessage"`,
			s.id(s.stack.Queue.Queue), s.id(s.stack.Queue.DLQ)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := props(tt.alarm)
			if got := num(t, p["Threshold"]); got != tt.threshold {
				t.Errorf("threshold %v, want %v", got, tt.threshold)
			}
			if fmt.Sprint(p["AlarmActions"]) != topic || fmt.Sprint(p["OKActions"]) != topic || p["TreatMissingData"] != "notBreaching" {
				t.Errorf("actions %v / %v, missing data %v: want the alarm topic both ways, not breaching", p["AlarmActions"], p["OKActions"], p["TreatMissingData"])
			}
			for _, c := range tt.contains {
				if !strings.Contains(body(tt.alarm), c) {
					t.Errorf("alarm lacks %s:\n%s", c, body(tt.alarm))
				}
			}
			checkSLOLink(t, string(doc), p["AlarmDescription"])
		})
	}

	// Burn rates: fast (1 h and 5 min at 14.4x) and slow (6 h and 30 min at 6x),
	// each window an alarm, each pair a composite that pages.
	windows := map[string]awscdk.IResource{}
	for _, w := range o.Windows {
		windows[*w.Node().Id()] = w
	}
	for _, tc := range []struct {
		id        string
		threshold float64
		period    float64
		contains  string
	}{
		{"ApiBurnFast60m", 0.144, 3600, "IF(requests \\u003e 0, errors / requests, 0)"},
		{"ApiBurnFast5m", 0.144, 300, `"MetricName":"5xx"`},
		{"ApiBurnSlow360m", 0.06, 21600, `"MetricName":"Count"`},
		{"ApiBurnSlow30m", 0.06, 1800, "errors / requests"},
		{"UploadToReadyBurnFast60m", 0.144, 3600, `"Stat":"PR(0:4000)"`},
		{"UploadToReadyBurnFast5m", 0.144, 300, "(100 - fast) / 100"},
		{"UploadToReadyBurnSlow360m", 0.06, 21600, `"Stat":"PR(0:4000)"`},
		{"UploadToReadyBurnSlow30m", 0.06, 1800, `"Stat":"SampleCount"`},
	} {
		w, ok := windows[tc.id]
		if !ok {
			t.Errorf("no window alarm %s among %v", tc.id, windows)
			continue
		}
		p := props(w)
		if got := num(t, p["Threshold"]); fmt.Sprintf("%.4f", got) != fmt.Sprintf("%.4f", tc.threshold) {
			t.Errorf("%s threshold %v, want %v", tc.id, got, tc.threshold)
		}
		if !strings.Contains(body(w), fmt.Sprintf(`"Period":%v`, tc.period)) || !strings.Contains(body(w), tc.contains) {
			t.Errorf("%s: want period %v and %s:\n%s", tc.id, tc.period, tc.contains, body(w))
		}
	}
	if n := len(s.ofType("AWS::CloudWatch::CompositeAlarm")); n != 4 {
		t.Errorf("%d composite alarms, want 4 (fast and slow, API and upload to ready)", n)
	}
	for _, c := range append(o.APIBudget, o.UploadToReadyBudget...) {
		p := props(c)
		rule := fmt.Sprint(p["AlarmRule"])
		if !strings.Contains(rule, "ALARM(") || !strings.Contains(rule, " AND ") {
			t.Errorf("composite %s rule %s: want both windows in ALARM", *c.Node().Id(), rule)
		}
		if fmt.Sprint(p["AlarmActions"]) != topic {
			t.Errorf("composite %s does not page: %v", *c.Node().Id(), p["AlarmActions"])
		}
		checkSLOLink(t, string(doc), p["AlarmDescription"])
	}
}

// checkSLOLink: an SLO alarm says what it means and links its section of docs/slo.md.
func checkSLOLink(t *testing.T, doc string, desc any) {
	t.Helper()
	d, _ := desc.(string)
	m := regexp.MustCompile(`docs/slo\.md#([a-z0-9-]+)`).FindStringSubmatch(d)
	if len(d) < 80 || m == nil {
		t.Errorf("description does not explain or link docs/slo.md: %q", d)
		return
	}
	if !runbookHasAnchor(doc, m[1]) {
		t.Errorf("docs/slo.md has no heading for #%s", m[1])
	}
}

func TestDashboardServiceLevelRow(t *testing.T) {
	s := defaults(t)
	raw, _ := json.Marshal(s.resources[s.id(s.stack.Dashboard.Dashboard)].Properties["DashboardBody"])
	for _, w := range []string{"SLO: API 5xx ratio", "SLO: API latency p99", "SLO: upload to ready", "SLO: durability",
		"p99 objective", s.id(s.stack.SLO.Durability)} {
		if !strings.Contains(string(raw), w) {
			t.Errorf("dashboard lacks %s", w)
		}
	}
}
