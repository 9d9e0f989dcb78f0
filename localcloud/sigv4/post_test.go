package sigv4

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"
)

// postFields is a form whose policy allows key uploads/a.png in bucket "bucket",
// signed with the test key.
func postFields(t *testing.T) map[string][]string {
	t.Helper()
	policy, err := json.Marshal(map[string]any{
		"expiration": now.Add(time.Minute).Format(time.RFC3339),
		"conditions": []any{
			map[string]string{"bucket": "bucket"},
			map[string]string{"key": "uploads/a.png"},
			[]any{"starts-with", "$Content-Type", "image/"},
			map[string]string{"x-amz-algorithm": algorithm},
			map[string]string{"x-amz-credential": akid + "/20261122/" + region + "/s3/aws4_request"},
			map[string]string{"x-amz-date": "20261122T120000Z"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(policy)
	return map[string][]string{
		"key":              {"uploads/a.png"},
		"Content-Type":     {"image/png"},
		"policy":           {b64},
		"X-Amz-Algorithm":  {algorithm},
		"X-Amz-Credential": {akid + "/20261122/" + region + "/s3/aws4_request"},
		"X-Amz-Date":       {"20261122T120000Z"},
		"X-Amz-Signature":  {postSignature(b64, secret, scope{akid, "20261122", region, "s3"})},
	}
}

func TestVerifyPostFields(t *testing.T) {
	tests := []struct {
		name   string
		bucket string
		edit   func(f map[string][]string)
		code   string // "" means accepted
	}{
		{"good", "bucket", nil, ""},
		{"another bucket in the URL", "other", nil, "AccessDenied"},
		{"bucket field, even the right one", "bucket", func(f map[string][]string) { f["bucket"] = []string{"bucket"} }, "InvalidArgument"},
		{"bucket field in another spelling", "other", func(f map[string][]string) { f["Bucket"] = []string{"bucket"} }, "InvalidArgument"},
		{"key in two spellings", "bucket", func(f map[string][]string) { f["Key"] = []string{"variants/evil"} }, "InvalidArgument"},
		{"key with two values", "bucket", func(f map[string][]string) { f["key"] = []string{"uploads/a.png", "variants/evil"} }, "InvalidArgument"},
		{"content type in two spellings", "bucket", func(f map[string][]string) { f["content-type"] = []string{"text/html"} }, "InvalidArgument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := postFields(t)
			if tc.edit != nil {
				tc.edit(f)
			}
			signed, refusal := verifier().VerifyPost(tc.bucket, f, 10)
			switch {
			case tc.code == "" && refusal != nil:
				t.Fatalf("refused: %v", refusal)
			case tc.code != "" && refusal == nil:
				t.Fatalf("accepted, want %s", tc.code)
			case tc.code != "" && refusal.Code != tc.code:
				t.Fatalf("refused with %v, want %s", refusal, tc.code)
			case tc.code != "":
				return
			}
			want := map[string]string{}
			for k, v := range postFields(t) {
				want[strings.ToLower(k)] = v[0]
			}
			if !maps.Equal(signed.Fields, want) {
				t.Errorf("checked fields %v, want %v", signed.Fields, want)
			}
		})
	}
}
