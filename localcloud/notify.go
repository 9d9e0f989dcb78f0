package localcloud

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Publisher is the part of *sqs.Client that notifications need.
type Publisher interface {
	SendMessage(ctx context.Context, params *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Event names S3 uses for s3:ObjectCreated:*.
const (
	EventPut      = "ObjectCreated:Put"
	EventPost     = "ObjectCreated:Post"
	EventCopy     = "ObjectCreated:Copy"
	EventComplete = "ObjectCreated:CompleteMultipartUpload"
)

// Notifier sends what an S3 bucket notification configured for s3:ObjectCreated:*
// with a key prefix filter sends to an SQS queue: one JSON record per object.
type Notifier struct {
	Region   string
	Bucket   string
	Prefix   string
	QueueURL string
	Queue    Publisher
	// ConfigurationID names the notification, as in the bucket's configuration.
	ConfigurationID string
	Now             func() time.Time

	mu      sync.Mutex
	lastSeq int64
}

// The JSON of an S3 event record, field for field as S3 writes it. (events.S3Event
// would also marshal its urlDecodedKey, which S3 never sends.)
type s3Record struct {
	EventVersion      string            `json:"eventVersion"`
	EventSource       string            `json:"eventSource"`
	AWSRegion         string            `json:"awsRegion"`
	EventTime         string            `json:"eventTime"`
	EventName         string            `json:"eventName"`
	UserIdentity      principal         `json:"userIdentity"`
	RequestParameters map[string]string `json:"requestParameters"`
	ResponseElements  map[string]string `json:"responseElements"`
	S3                s3Entity          `json:"s3"`
}

type principal struct {
	PrincipalID string `json:"principalId"`
}

type s3Entity struct {
	SchemaVersion   string   `json:"s3SchemaVersion"`
	ConfigurationID string   `json:"configurationId"`
	Bucket          s3Bucket `json:"bucket"`
	Object          s3Object `json:"object"`
}

type s3Bucket struct {
	Name          string    `json:"name"`
	OwnerIdentity principal `json:"ownerIdentity"`
	ARN           string    `json:"arn"`
}

type s3Object struct {
	Key       string `json:"key"`
	Size      int64  `json:"size"`
	ETag      string `json:"eTag"`
	Sequencer string `json:"sequencer"`
}

type s3TestEvent struct {
	Service   string `json:"Service"`
	Event     string `json:"Event"`
	Time      string `json:"Time"`
	Bucket    string `json:"Bucket"`
	RequestID string `json:"RequestId"`
	HostID    string `json:"HostId"`
}

const eventTimeFormat = "2006-01-02T15:04:05.000Z"

// localPrincipal stands in for the AWS account's canonical principal.
const localPrincipal = "AWS:LOCALCLOUD"

// EncodeEventKey form-encodes an object key the way S3 does in event
// notifications: spaces become '+', '+' and non-ASCII bytes are percent-encoded,
// and '/' is left alone.
func EncodeEventKey(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.QueryEscape(p)
	}
	return strings.Join(parts, "/")
}

// Matches reports whether a created object should be notified.
func (n *Notifier) Matches(bucket, key string) bool {
	return bucket == n.Bucket && strings.HasPrefix(key, n.Prefix)
}

func (n *Notifier) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

// sequencer grows with every event, as S3's does for events of one key.
func (n *Notifier) sequencer(t time.Time) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := t.UnixNano()
	if s <= n.lastSeq {
		s = n.lastSeq + 1
	}
	n.lastSeq = s
	return fmt.Sprintf("%018X", s)
}

// ObjectCreated sends the event of one created object. etag is the hex MD5 (or
// multipart ETag) without quotes.
func (n *Notifier) ObjectCreated(ctx context.Context, eventName, key string, size int64, etag, sourceIP, requestID string) error {
	t := n.now().UTC()
	rec := s3Record{
		EventVersion:      "2.1",
		EventSource:       "aws:s3",
		AWSRegion:         n.Region,
		EventTime:         t.Format(eventTimeFormat),
		EventName:         eventName,
		UserIdentity:      principal{localPrincipal},
		RequestParameters: map[string]string{"sourceIPAddress": sourceIP},
		ResponseElements:  map[string]string{"x-amz-request-id": requestID, "x-amz-id-2": requestID},
		S3: s3Entity{
			SchemaVersion:   "1.0",
			ConfigurationID: n.ConfigurationID,
			Bucket: s3Bucket{
				Name:          n.Bucket,
				OwnerIdentity: principal{localPrincipal},
				ARN:           "arn:aws:s3:::" + n.Bucket,
			},
			Object: s3Object{Key: EncodeEventKey(key), Size: size, ETag: strings.Trim(etag, `"`), Sequencer: n.sequencer(t)},
		},
	}
	body, err := json.Marshal(map[string][]s3Record{"Records": {rec}})
	if err != nil {
		return fmt.Errorf("encode event for %s: %w", key, err)
	}
	if _, err := n.Queue.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &n.QueueURL, MessageBody: aws.String(string(body))}); err != nil {
		return fmt.Errorf("notify %s %s: %w", eventName, key, err)
	}
	return nil
}

// TestEvent sends the s3:TestEvent S3 sends when a notification is configured.
func (n *Notifier) TestEvent(ctx context.Context) error {
	t := n.now().UTC()
	body, err := json.Marshal(s3TestEvent{
		Service:   "Amazon S3",
		Event:     "s3:TestEvent",
		Time:      t.Format(eventTimeFormat),
		Bucket:    n.Bucket,
		RequestID: fmt.Sprintf("%016X", t.UnixNano()),
		HostID:    "localcloud",
	})
	if err != nil {
		return fmt.Errorf("encode test event: %w", err)
	}
	if _, err := n.Queue.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &n.QueueURL, MessageBody: aws.String(string(body))}); err != nil {
		return fmt.Errorf("send s3:TestEvent: %w", err)
	}
	return nil
}
