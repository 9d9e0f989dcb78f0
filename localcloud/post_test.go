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
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// postRequest is a presigned browser POST a test may change before it is sent.
type postRequest struct {
	URL    string
	Fields map[string]string
}

// postForm presigns a browser POST upload with the SDK (a policy allowing files of
// 1 to maxSize bytes, 1 MiB when zero) and sends it as a form.
func postForm(t *testing.T, c *Cloud, key string, data []byte, expires time.Duration, maxSize int, edit func(*postRequest)) (int, []byte) {
	t.Helper()
	if maxSize == 0 {
		maxSize = 1 << 20
	}
	p, err := c.Presigner.PresignPostObject(context.Background(), &s3.PutObjectInput{Bucket: &c.UploadsBucket, Key: &key},
		func(o *s3.PresignPostOptions) {
			o.Expires = expires
			o.Conditions = []any{[]any{"content-length-range", 1, maxSize}}
		})
	if err != nil {
		t.Fatal(err)
	}
	pr := postRequest{URL: p.URL, Fields: map[string]string{}}
	for k, v := range p.Values {
		pr.Fields[k] = v
	}
	if edit != nil {
		edit(&pr)
	}
	return sendForm(t, pr, data)
}

// sendForm posts the fields and the file as multipart/form-data.
func sendForm(t *testing.T, pr postRequest, data []byte) (int, []byte) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range pr.Fields {
		_ = mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", "upload.png")
	_, _ = fw.Write(data)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, pr.URL, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	status, _, resp := do(t, req)
	return status, resp
}

// TestBrowserPostStoresWhatWasChecked: field names are case-insensitive, so the
// object gets the checked content type and metadata whatever their spelling, and
// none of the authentication fields.
func TestBrowserPostStoresWhatWasChecked(t *testing.T) {
	c := startCloud(t, func(cfg *Config) { cfg.NoEventSource = true })
	ctx := context.Background()
	key := "uploads/fields.png"
	p, err := c.Presigner.PresignPostObject(ctx, &s3.PutObjectInput{Bucket: &c.UploadsBucket, Key: &key},
		func(o *s3.PresignPostOptions) {
			o.Conditions = []any{
				map[string]string{"content-type": "image/png"},
				map[string]string{"x-amz-meta-filename": "cat.png"},
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	pr := postRequest{URL: p.URL, Fields: map[string]string{"content-type": "image/png", "x-amz-meta-filename": "cat.png"}}
	for k, v := range p.Values {
		pr.Fields[k] = v
	}
	if status, body := sendForm(t, pr, pngBytes(t, 8, 8)); status != http.StatusNoContent {
		t.Fatalf("POST: %d %s", status, body)
	}
	head, err := c.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &c.UploadsBucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(head.ContentType) != "image/png" || head.Metadata["filename"] != "cat.png" {
		t.Errorf("stored content type %q, metadata %v; want image/png and filename cat.png", aws.ToString(head.ContentType), head.Metadata)
	}
	if len(head.Metadata) != 1 {
		t.Errorf("stored metadata %v, want only filename", head.Metadata)
	}
}

func TestBrowserPostUploads(t *testing.T) {
	const uploadLimit = 256 << 10
	c := startCloud(t, func(cfg *Config) {
		cfg.NoEventSource = true
		cfg.Settings.Limits.MaxBytes = uploadLimit
	})
	receiveBodies(t, c, 1) // the s3:TestEvent
	data := pngBytes(t, 40, 30)
	fields := func(edit func(f map[string]string)) func(*postRequest) {
		return func(p *postRequest) { edit(p.Fields) }
	}
	tamperPolicy := fields(func(f map[string]string) {
		raw, _ := base64.StdEncoding.DecodeString(f["policy"])
		var doc map[string]any
		_ = json.Unmarshal(raw, &doc)
		doc["expiration"] = time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
		b, _ := json.Marshal(doc)
		f["policy"] = base64.StdEncoding.EncodeToString(b)
	})
	tests := []struct {
		name    string
		data    []byte
		expires time.Duration
		maxSize int // the policy's content-length-range top; 1 MiB when zero
		edit    func(*postRequest)
		status  int
		code    string
		message string
		// tries repeats a refusal whose cause used to depend on map order.
		tries int
	}{
		{name: "good", data: data, expires: time.Minute, status: http.StatusNoContent},
		{name: "policy tampered", data: data, expires: time.Minute, edit: tamperPolicy, status: 403, code: "SignatureDoesNotMatch"},
		{name: "signature tampered", data: data, expires: time.Minute,
			edit:   fields(func(f map[string]string) { f["X-Amz-Signature"] = "00" + f["X-Amz-Signature"][2:] }),
			status: 403, code: "SignatureDoesNotMatch"},
		{name: "expired", data: data, expires: time.Nanosecond, status: 403, code: "AccessDenied", message: "Policy expired"},
		{name: "other key than the policy allows", data: data, expires: time.Minute,
			edit:   fields(func(f map[string]string) { f["key"] = "uploads/other.png" }),
			status: 403, code: "AccessDenied", message: "Policy Condition failed"},
		{name: "field the policy does not cover", data: data, expires: time.Minute,
			edit:   fields(func(f map[string]string) { f["x-amz-meta-evil"] = "1" }),
			status: 403, code: "AccessDenied", message: "Extra input fields: x-amz-meta-evil"},
		{name: "unknown access key", data: data, expires: time.Minute,
			edit: fields(func(f map[string]string) {
				f["X-Amz-Credential"] = "AKIDNOBODYKNOWS" + f["X-Amz-Credential"][len(DefaultAccessKeyID):]
			}),
			status: 403, code: "InvalidAccessKeyId"},
		{name: "no policy", data: data, expires: time.Minute, edit: fields(func(f map[string]string) { delete(f, "policy") }), status: 403, code: "AccessDenied"},
		{name: "key twice, in two spellings", data: data, expires: time.Minute, tries: 8,
			edit: fields(func(f map[string]string) {
				// The signed key under one spelling, another key under the one gofakes3 reads.
				f["Key"] = f["key"]
				f["key"] = "variants/evil"
			}),
			status: 400, code: "InvalidArgument", message: "more than once"},
		{name: "bucket field naming the bucket the policy is for, posted to another bucket", data: data, expires: time.Minute,
			edit: func(p *postRequest) {
				p.URL = c.S3URL + "/" + c.OutputBucket
				p.Fields["bucket"] = c.UploadsBucket
			},
			status: 400, code: "InvalidArgument", message: "bucket"},
		{name: "policy for another bucket", data: data, expires: time.Minute,
			edit:   func(p *postRequest) { p.URL = c.S3URL + "/" + c.OutputBucket },
			status: 403, code: "AccessDenied", message: "Policy Condition failed"},
		{name: "file larger than the policy allows", data: bytes.Repeat([]byte{1}, 100<<10+1), expires: time.Minute, maxSize: 100 << 10,
			status: 400, code: "EntityTooLarge", message: "outside the allowed range"},
		{name: "file the policy allows, over the upload limit", data: bytes.Repeat([]byte{1}, 2*uploadLimit), expires: time.Minute,
			status: 400, code: "EntityTooLarge", message: "exceeds the maximum allowed size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "uploads/post " + tc.name + ".png"
			for range max(tc.tries, 1) {
				// A 1ns expiry is already past: the policy states it in whole seconds.
				status, body := postForm(t, c, key, tc.data, tc.expires, tc.maxSize, tc.edit)
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
				}
			}
			if tc.code != "" {
				for _, b := range []string{c.UploadsBucket, c.OutputBucket} {
					out, err := c.S3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &b, Prefix: aws.String("variants/")})
					if err != nil {
						t.Fatal(err)
					}
					if len(out.Contents) != 0 {
						t.Fatalf("a refused POST stored %s/%s", b, aws.ToString(out.Contents[0].Key))
					}
				}
				if _, err := c.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &c.OutputBucket, Key: &key}); err == nil {
					t.Fatalf("a refused POST stored %s/%s", c.OutputBucket, key)
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
