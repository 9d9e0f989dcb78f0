package localcloud

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// receiveBodies drains the resize queue of n messages (deleting them).
func receiveBodies(t *testing.T, c *Cloud, n int) []string {
	t.Helper()
	var bodies []string
	deadline := time.Now().Add(10 * time.Second)
	for len(bodies) < n && time.Now().Before(deadline) {
		out, err := c.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: &c.ResizeQueueURL, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
		})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
			if _, err := c.SQS.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: &c.ResizeQueueURL, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("delete: %v", err)
			}
		}
	}
	if len(bodies) != n {
		t.Fatalf("got %d messages, want %d: %q", len(bodies), n, bodies)
	}
	return bodies
}

func TestNotificationsSendS3EventJSON(t *testing.T) {
	c := startCloud(t, func(cfg *Config) { cfg.NoEventSource = true })
	ctx := context.Background()

	// S3 sends a test event when the notification is configured.
	var test events.S3TestEvent
	if err := json.Unmarshal([]byte(receiveBodies(t, c, 1)[0]), &test); err != nil || test.Event != "s3:TestEvent" || test.Bucket != c.UploadsBucket {
		t.Fatalf("first message is not the s3:TestEvent of %s: %+v %v", c.UploadsBucket, test, err)
	}

	data := []byte("some bytes")
	sum := md5.Sum(data)
	etag := hex.EncodeToString(sum[:])
	put := func(bucket, key string) {
		t.Helper()
		if _, err := c.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	// Not notified: outside the prefix, or in the output bucket.
	put(c.UploadsBucket, "elsewhere/a.png")
	put(c.OutputBucket, "uploads/a.png")

	tests := []struct {
		name, key, encoded, event string
		create                    func(key string)
	}{
		{"put", "uploads/a b+c é.png", "uploads/a+b%2Bc+%C3%A9.png", EventPut, func(k string) { put(c.UploadsBucket, k) }},
		{"copy", "uploads/copied.png", "uploads/copied.png", EventCopy, func(k string) {
			if _, err := c.S3.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &c.UploadsBucket, Key: &k,
				CopySource: aws.String(c.UploadsBucket + "/elsewhere/a.png")}); err != nil {
				t.Fatalf("copy: %v", err)
			}
		}},
		{"multipart", "uploads/multi part.png", "uploads/multi+part.png", EventComplete, func(k string) {
			mp, err := c.S3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &c.UploadsBucket, Key: &k})
			if err != nil {
				t.Fatalf("create multipart: %v", err)
			}
			part, err := c.S3.UploadPart(ctx, &s3.UploadPartInput{Bucket: &c.UploadsBucket, Key: &k, UploadId: mp.UploadId,
				PartNumber: aws.Int32(1), Body: bytes.NewReader(data)})
			if err != nil {
				t.Fatalf("upload part: %v", err)
			}
			if _, err := c.S3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &c.UploadsBucket, Key: &k, UploadId: mp.UploadId,
				MultipartUpload: &s3types.CompletedMultipartUpload{Parts: []s3types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}}}); err != nil {
				t.Fatalf("complete multipart: %v", err)
			}
		}},
	}
	var lastSeq string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.create(tc.key)
			body := receiveBodies(t, c, 1)[0]
			var raw struct {
				Records []struct {
					S3 struct {
						Object map[string]any `json:"object"`
					} `json:"s3"`
				}
			}
			if err := json.Unmarshal([]byte(body), &raw); err != nil || len(raw.Records) != 1 {
				t.Fatalf("not one S3 record: %v %s", err, body)
			}
			if _, has := raw.Records[0].S3.Object["urlDecodedKey"]; has {
				t.Errorf("the event carries urlDecodedKey, which S3 never sends: %s", body)
			}
			var ev events.S3Event
			if err := json.Unmarshal([]byte(body), &ev); err != nil {
				t.Fatalf("not an events.S3Event: %v", err)
			}
			r := ev.Records[0]
			checks := map[string][2]any{
				"eventVersion":  {r.EventVersion, "2.1"},
				"eventSource":   {r.EventSource, "aws:s3"},
				"awsRegion":     {r.AWSRegion, DefaultRegion},
				"eventName":     {r.EventName, tc.event},
				"bucket.name":   {r.S3.Bucket.Name, c.UploadsBucket},
				"bucket.arn":    {r.S3.Bucket.Arn, "arn:aws:s3:::" + c.UploadsBucket},
				"object.key":    {r.S3.Object.Key, tc.encoded},
				"URLDecodedKey": {r.S3.Object.URLDecodedKey, tc.key},
				"object.size":   {r.S3.Object.Size, int64(len(data))},
				"schema":        {r.S3.SchemaVersion, "1.0"},
			}
			if tc.event != EventComplete {
				checks["object.eTag"] = [2]any{r.S3.Object.ETag, etag}
			}
			for name, pair := range checks {
				if pair[0] != pair[1] {
					t.Errorf("%s = %v, want %v", name, pair[0], pair[1])
				}
			}
			if r.EventTime.IsZero() || time.Since(r.EventTime) > time.Minute {
				t.Errorf("eventTime %v", r.EventTime)
			}
			if r.S3.Object.Sequencer <= lastSeq {
				t.Errorf("sequencer %q does not grow after %q", r.S3.Object.Sequencer, lastSeq)
			}
			lastSeq = r.S3.Object.Sequencer
		})
	}
}

func TestQueueURLsPointAtTheLocalEndpoint(t *testing.T) {
	c := startCloud(t, func(cfg *Config) { cfg.NoEventSource = true })
	want := c.SQSURL + "/000000000000/" + c.cfg.Name + "-resize"
	if c.ResizeQueueURL != want {
		t.Errorf("resize queue URL %q, want %q", c.ResizeQueueURL, want)
	}
	out, err := c.SQS.GetQueueUrl(context.Background(), &sqs.GetQueueUrlInput{QueueName: aws.String(c.cfg.Name + "-resize-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.QueueUrl); got != c.DLQURL || got != c.SQSURL+"/000000000000/"+c.cfg.Name+"-resize-dlq" {
		t.Errorf("GetQueueUrl %q, want %q", got, c.DLQURL)
	}
}

func TestStartFailsCleanly(t *testing.T) {
	dir := t.TempDir()
	first := startCloud(t, func(cfg *Config) { cfg.DataDir, cfg.NoEventSource = dir, true })
	// Same data directory: the database is locked by the first cloud.
	_, err := Start(context.Background(), Config{Settings: testSettings(), Name: "second", DataDir: dir})
	if err == nil {
		t.Fatal("a second cloud on the same data directory started")
	}
	// Same API address: taken.
	_, err = Start(context.Background(), Config{Settings: testSettings(), Name: "third", Addr: first.APIURL[len("http://"):]})
	if err == nil {
		t.Fatal("a second cloud on the same address started")
	}
	// Both failures released what they had taken: the names can be used again.
	again := startCloud(t, func(cfg *Config) { cfg.Name = "second"; cfg.NoEventSource = true })
	if again.ResizeQueueURL == "" {
		t.Fatal("no queue")
	}
}

func TestEnvPointsFunctionsAndToolsAtTheCloud(t *testing.T) {
	c := startCloud(t, func(cfg *Config) { cfg.NoEventSource = true })
	env := c.Env()
	for k, want := range map[string]string{
		"AWS_ENDPOINT_URL_S3":  c.S3URL,
		"AWS_ENDPOINT_URL_SQS": c.SQSURL,
		"AWS_ACCESS_KEY_ID":    DefaultAccessKeyID,
		"UPLOADS_BUCKET":       c.UploadsBucket,
		"OUTPUT_BUCKET":        c.OutputBucket,
		"UPLOAD_PREFIX":        "uploads/",
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	if env["VARIANTS"] == "" || env["ALLOWED_ORIGINS"] == "" {
		t.Errorf("function settings missing: %v", env)
	}
}

func TestCloudsInOneProcessDoNotDisturbEachOther(t *testing.T) {
	// One cloud polls its queue while others are started and stopped: goaws keeps all
	// queues in one process-wide map, which the SQS front guards.
	busy := startCloud(t, nil)
	for i := range 1 {
		other := startCloud(t, func(cfg *Config) { cfg.NoEventSource = true })
		if err := other.Close(context.Background()); err != nil {
			t.Fatalf("close %d: %v", i, err)
		}
	}
	id, _ := putUploadDirect(t, busy, "still-works.png", pngBytes(t, 30, 20))
	if st := waitStatus(t, busy, id); st.Status != "ready" {
		t.Fatalf("status %q", st.Status)
	}
}
