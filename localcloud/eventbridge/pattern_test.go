package eventbridge

import (
	"testing"

	"github.com/imagepipe/imagepipe/shared/imageevents"
)

const sampleEvent = `{"version":"0","id":"e1","detail-type":"ImageReady","source":"imagepipe","account":"000000000000",
"time":"2026-11-22T10:00:02Z","region":"us-east-1","resources":["arn:aws:s3:::a","arn:aws:s3:::b"],
"detail":{"version":"1","id":"5b0c","owner":"","status":"ready","source":{"key":"uploads/5b0c","bytes":2481934,"format":"jpeg"},
"variants":[{"name":"thumb"}],"retried":false,"note":null,"score":5}}`

func TestPatternMatching(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		want    bool
	}{
		{"exact source", `{"source":["imagepipe"]}`, true},
		{"exact other source", `{"source":["aws.s3"]}`, false},
		{"one of several", `{"detail-type":["ImageFailed","ImageReady"]}`, true},
		{"nested exact", `{"detail":{"status":["ready"]}}`, true},
		{"deeply nested", `{"detail":{"source":{"format":["jpeg"]}}}`, true},
		{"deeply nested mismatch", `{"detail":{"source":{"format":["png"]}}}`, false},
		{"every field must match", `{"source":["imagepipe"],"detail-type":["ImageFailed"]}`, false},
		{"empty string matches empty", `{"detail":{"owner":[""]}}`, true},
		{"number by value", `{"detail":{"score":[5.0]}}`, true},
		{"number is not a string", `{"detail":{"score":["5"]}}`, false},
		{"bool", `{"detail":{"retried":[false]}}`, true},
		{"null", `{"detail":{"note":[null]}}`, true},
		{"null does not match a missing field", `{"detail":{"absent":[null]}}`, false},
		{"array value: any element", `{"resources":["arn:aws:s3:::b"]}`, true},
		{"array value: none", `{"resources":["arn:aws:s3:::c"]}`, false},
		{"prefix", `{"detail":{"source":{"key":[{"prefix":"uploads/"}]}}}`, true},
		{"prefix mismatch", `{"detail":{"source":{"key":[{"prefix":"variants/"}]}}}`, false},
		{"prefix ignoring case", `{"detail-type":[{"prefix":{"equals-ignore-case":"imageR"}}]}`, true},
		{"prefix on a number", `{"detail":{"score":[{"prefix":"5"}]}}`, false},
		{"suffix", `{"detail-type":[{"suffix":"Ready"}]}`, true},
		{"equals-ignore-case", `{"source":[{"equals-ignore-case":"ImagePipe"}]}`, true},
		{"anything-but value", `{"detail":{"status":[{"anything-but":"failed"}]}}`, true},
		{"anything-but the value", `{"detail":{"status":[{"anything-but":"ready"}]}}`, false},
		{"anything-but list", `{"detail-type":[{"anything-but":["ImageFailed","ImageDeleted"]}]}`, true},
		{"anything-but list containing it", `{"detail-type":[{"anything-but":["ImageReady","ImageDeleted"]}]}`, false},
		{"anything-but number", `{"detail":{"score":[{"anything-but":5}]}}`, false},
		{"anything-but prefix", `{"detail":{"source":{"key":[{"anything-but":{"prefix":"variants/"}}]}}}`, true},
		{"anything-but prefix matching", `{"detail":{"source":{"key":[{"anything-but":{"prefix":"uploads/"}}]}}}`, false},
		{"anything-but needs the field", `{"detail":{"absent":[{"anything-but":"x"}]}}`, false},
		{"exists", `{"detail":{"owner":[{"exists":true}]}}`, true},
		{"exists on a missing field", `{"detail":{"error":[{"exists":true}]}}`, false},
		{"not exists", `{"detail":{"error":[{"exists":false}]}}`, true},
		{"not exists on a present field", `{"detail":{"owner":[{"exists":false}]}}`, false},
		{"not exists under a missing object", `{"detail":{"error":{"code":[{"exists":false}]}}}`, true},
		{"exists is for leaves, not objects", `{"detail":{"source":[{"exists":true}]}}`, false},
		{"numeric range", `{"detail":{"source":{"bytes":[{"numeric":[">",0,"<=",26214400]}]}}}`, true},
		{"numeric out of range", `{"detail":{"source":{"bytes":[{"numeric":["<",1000]}]}}}`, false},
		{"numeric equal", `{"detail":{"score":[{"numeric":["=",5]}]}}`, true},
		{"numeric on a string", `{"detail":{"status":[{"numeric":[">",0]}]}}`, false},
		{"literal or operator", `{"detail":{"status":["failed",{"prefix":"rea"}]}}`, true},
		{"nested pattern on a scalar", `{"source":{"x":["y"]}}`, false},
		{"the deployed pattern", string(imageevents.Pattern().JSON()), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := CompilePattern([]byte(tt.pattern))
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Matches([]byte(sampleEvent)); got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDeployedPatternFilters(t *testing.T) {
	p, err := CompilePattern(imageevents.Pattern().JSON())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		event string
		want  bool
	}{
		{`{"source":"imagepipe","detail-type":"ImageFailed","detail":{"version":"1"}}`, true},
		{`{"source":"imagepipe","detail-type":"ImageDeleted","detail":{"version":"1"}}`, true},
		{`{"source":"imagepipe","detail-type":"ImageReady","detail":{"version":"2"}}`, false},
		{`{"source":"imagepipe","detail-type":"ImageResized","detail":{"version":"1"}}`, false},
		{`{"source":"someone.else","detail-type":"ImageReady","detail":{"version":"1"}}`, false},
		{`not json`, false},
	} {
		if got := p.Matches([]byte(tt.event)); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.event, got, tt.want)
		}
	}
}

func TestCompilePatternRefuses(t *testing.T) {
	for _, bad := range []string{
		``, `[]`, `{}`, `"x"`,
		`{"source":"imagepipe"}`,
		`{"source":[]}`,
		`{"source":[{"prefix":1}]}`,
		`{"source":[{"wildcard":"image*"}]}`,
		`{"$or":[{"source":["a"]},{"source":["b"]}]}`,
		`{"source":[{"prefix":"a","suffix":"b"}]}`,
		`{"detail":{"n":[{"numeric":[">"]}]}}`,
		`{"detail":{"n":[{"numeric":["~",1]}]}}`,
		`{"detail":{"n":[{"exists":"yes"}]}}`,
		`{"detail":{"n":[{"anything-but":{"exists":true}}]}}`,
		`{"source":["a"]} {"source":["b"]}`,
	} {
		if _, err := CompilePattern([]byte(bad)); err == nil {
			t.Errorf("compiled %q", bad)
		}
	}
}
