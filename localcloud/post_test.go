package localcloud

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// postForm presigns a browser POST upload with the SDK and sends it as a form.
func postForm(t *testing.T, c *Cloud, key string, data []byte, expires time.Duration, edit func(fields map[string]string)) (int, []byte) {
	t.Helper()
	p, err := c.Presigner.PresignPostObject(context.Background(), &s3.PutObjectInput{Bucket: &c.UploadsBucket, Key: &key},
		func(o *s3.PresignPostOptions) {
			o.Expires = expires
			o.Conditions = []any{[]any{"content-length-range", 1, 1 << 20}}
		})
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for k, v := range p.Values {
		fields[k] = v
	}
	if edit != nil {
		edit(fields)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", "upload.png")
	_, _ = fw.Write(data)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, p.URL, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	status, _, resp := do(t, req)
	return status, resp
}

func TestBrowserPostUploads(t *testing.T) {
	c := startCloud(t, func(cfg *Config) { cfg.NoEventSource = true })
	receiveBodies(t, c, 1) // the s3:TestEvent
	data := pngBytes(t, 40, 30)
	tamperPolicy := func(f map[string]string) {
		raw, _ := base64.StdEncoding.DecodeString(f["policy"])
		var doc map[string]any
		_ = json.Unmarshal(raw, &doc)
		doc["expiration"] = time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
		b, _ := json.Marshal(doc)
		f["policy"] = base64.StdEncoding.EncodeToString(b)
	}
	tests := []struct {
		name    string
		data    []byte
		expires time.Duration
		edit    func(map[string]string)
		status  int
		code    string
		message string
	}{
		{"good", data, time.Minute, nil, http.StatusNoContent, "", ""},
		{"policy tampered", data, time.Minute, tamperPolicy, 403, "SignatureDoesNotMatch", ""},
		{"signature tampered", data, time.Minute, func(f map[string]string) { f["X-Amz-Signature"] = "00" + f["X-Amz-Signature"][2:] }, 403, "SignatureDoesNotMatch", ""},
		{"expired", data, time.Nanosecond, nil, 403, "AccessDenied", "Policy expired"},
		{"other key than the policy allows", data, time.Minute, func(f map[string]string) { f["key"] = "uploads/other.png" }, 403, "AccessDenied", "Policy Condition failed"},
		{"field the policy does not cover", data, time.Minute, func(f map[string]string) { f["x-amz-meta-evil"] = "1" }, 403, "AccessDenied", "Extra input fields: x-amz-meta-evil"},
		{"unknown access key", data, time.Minute, func(f map[string]string) {
			f["X-Amz-Credential"] = "AKIDNOBODYKNOWS" + f["X-Amz-Credential"][len(DefaultAccessKeyID):]
		}, 403, "InvalidAccessKeyId", ""},
		{"no policy", data, time.Minute, func(f map[string]string) { delete(f, "policy") }, 403, "AccessDenied", ""},
		{"file larger than the policy allows", bytes.Repeat([]byte{1}, 1<<20+1), time.Minute, nil, 400, "EntityTooLarge", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "uploads/post " + tc.name + ".png"
			// A 1ns expiry is already past: the policy states it in whole seconds.
			status, body := postForm(t, c, key, tc.data, tc.expires, tc.edit)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if tc.code != "" {
				if got := s3ErrorCode(t, body); got != tc.code {
					t.Fatalf("code %q, want %q: %s", got, tc.code, body)
				}
				if !bytes.Contains(body, []byte(tc.message)) {
					t.Fatalf("body lacks %q: %s", tc.message, body)
				}
				return
			}
			var ev events.S3Event
			if err := json.Unmarshal([]byte(receiveBodies(t, c, 1)[0]), &ev); err != nil {
				t.Fatal(err)
			}
			if r := ev.Records[0]; r.EventName != EventPost || r.S3.Object.URLDecodedKey != key || r.S3.Object.Size != int64(len(tc.data)) {
				t.Errorf("event %s %q size %d, want %s %q size %d", r.EventName, r.S3.Object.URLDecodedKey, r.S3.Object.Size, EventPost, key, len(tc.data))
			}
		})
	}
}
