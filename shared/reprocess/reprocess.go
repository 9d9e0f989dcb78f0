// Package reprocess puts uploaded originals through the resize pipeline again,
// after a limit change, a variants change or a decoder fix. It sends, for each
// chosen original, the S3 event S3 itself would have sent to the resize queue, so
// the work goes through the normal queue, retries, DLQ and manifest rules: an image
// whose manifest already records this source, engine and settings is skipped by
// the resize function, and one made under other settings is redone.
package reprocess

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/imagepipe/imagepipe/shared/manifest"
)

// Store is the part of *s3.Client reprocess uses: finding originals and reading
// manifests.
type Store interface {
	HeadObject(ctx context.Context, params *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	ListObjectsV2(ctx context.Context, params *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Queue is the part of *sqs.Client reprocess uses.
type Queue interface {
	SendMessageBatch(ctx context.Context, params *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// AnyFailure, given as a failure code, selects every failed image.
const AnyFailure = "any"

// Options say which originals to re-queue, and where.
type Options struct {
	UploadsBucket string
	OutputBucket  string
	// UploadPrefix is the folder of originals ("uploads/" when empty).
	UploadPrefix string
	// QueueURL is the resize queue.
	QueueURL string
	// Region fills the event's awsRegion.
	Region string

	// Exactly one selection: All originals, those whose manifest failed with one of
	// FailedCodes (AnyFailure for every failure), or the images IDs names.
	All         bool
	FailedCodes []string
	IDs         []string

	// DryRun chooses and reports without sending.
	DryRun bool
	// Progress, when set, hears how far the run is, after every page of originals.
	Progress func(Progress)
}

// Progress is a running count.
type Progress struct {
	Scanned  int // originals listed
	Selected int // chosen for reprocessing
	Queued   int // sent to the queue
}

// Report is what a run did.
type Report struct {
	Progress
	// ByStatus counts the chosen images by the status they had (pending, ready,
	// failed:CODE).
	ByStatus map[string]int `json:"byStatus"`
	// NotFound lists IDs asked for that have no original.
	NotFound []string `json:"notFound,omitempty"`
	// NotSent lists the keys SQS refused, with its reason.
	NotSent []string `json:"notSent,omitempty"`
	DryRun  bool     `json:"dryRun,omitempty"`
}

// Validate reports what is missing or contradictory in o.
func (o Options) Validate() error {
	var errs []error
	if o.UploadsBucket == "" {
		errs = append(errs, errors.New("the uploads bucket is required"))
	}
	if o.QueueURL == "" {
		errs = append(errs, errors.New("the resize queue is required"))
	}
	n := 0
	if o.All {
		n++
	}
	if len(o.FailedCodes) > 0 {
		n++
		if o.OutputBucket == "" {
			errs = append(errs, errors.New("the output bucket is required to select by failure code"))
		}
	}
	if len(o.IDs) > 0 {
		n++
		for _, id := range o.IDs {
			if !manifest.ValidID(id) {
				errs = append(errs, fmt.Errorf("%q is not an image id (32 hex digits)", id))
			}
		}
	}
	if n != 1 {
		errs = append(errs, errors.New("choose exactly one of: all originals, failure codes, or ids"))
	}
	return errors.Join(errs...)
}

// Run lists the originals, chooses, and sends one S3 event per chosen original,
// ten to a batch. It stops at the first listing or manifest read error (what was
// sent stays sent, and is reported); a message SQS refuses is reported in NotSent.
func Run(ctx context.Context, store Store, queue Queue, o Options) (Report, error) {
	if o.UploadPrefix == "" {
		o.UploadPrefix = "uploads/"
	}
	rep := Report{ByStatus: map[string]int{}, DryRun: o.DryRun}
	if err := o.Validate(); err != nil {
		return rep, fmt.Errorf("reprocess: %w", err)
	}
	wanted := map[string]bool{}
	for _, id := range o.IDs {
		wanted[id] = true
	}
	seen := map[string]bool{}
	var batch []original
	flush := func() error {
		if len(batch) == 0 || o.DryRun {
			batch = batch[:0]
			return nil
		}
		sent, refused, err := send(ctx, queue, o, batch)
		rep.Queued += sent
		rep.NotSent = append(rep.NotSent, refused...)
		batch = batch[:0]
		return err
	}
	consider := func(id, key string, size int64, etag string) error {
		seen[id] = true
		status, chosen, err := choose(ctx, store, o, id)
		if err != nil || !chosen {
			return err
		}
		rep.Selected++
		rep.ByStatus[status]++
		batch = append(batch, original{key: key, size: size, etag: etag})
		if len(batch) == 10 {
			return flush()
		}
		return nil
	}
	// Ids the API made name their key: look them up directly. Only the rest (ids
	// derived from other keys, or unknown) need the listing.
	for _, id := range o.IDs {
		key := manifest.UploadKey(o.UploadPrefix, id)
		head, err := store.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &o.UploadsBucket, Key: &key})
		if manifest.IsNotFound(err) {
			continue
		}
		if err != nil {
			return rep, fmt.Errorf("reprocess: head %s: %w", key, err)
		}
		rep.Scanned++
		if err := consider(id, key, deref(head.ContentLength), deref(head.ETag)); err != nil {
			return rep, err
		}
	}
	if len(o.IDs) == 0 || len(seen) < len(wanted) {
		if err := list(ctx, store, o, func(id, key string, size int64, etag string) error {
			if seen[id] {
				return nil // found by its id already
			}
			rep.Scanned++
			if len(wanted) > 0 && !wanted[id] {
				return nil
			}
			return consider(id, key, size, etag)
		}, func() {
			if o.Progress != nil {
				o.Progress(rep.Progress)
			}
		}); err != nil {
			return rep, err
		}
	}
	if err := flush(); err != nil {
		return rep, err
	}
	for _, id := range o.IDs {
		if !seen[id] {
			rep.NotFound = append(rep.NotFound, id)
		}
	}
	if o.Progress != nil {
		o.Progress(rep.Progress)
	}
	return rep, nil
}

// list calls each for every original under the prefix, and page after each page.
func list(ctx context.Context, store Store, o Options, each func(id, key string, size int64, etag string) error, page func()) error {
	p := s3.NewListObjectsV2Paginator(store, &s3.ListObjectsV2Input{Bucket: &o.UploadsBucket, Prefix: &o.UploadPrefix})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("reprocess: list %s/%s: %w", o.UploadsBucket, o.UploadPrefix, err)
		}
		for _, obj := range out.Contents {
			key := deref(obj.Key)
			if id, ok := manifest.IDForUploadKey(o.UploadPrefix, key); ok {
				if err := each(id, key, deref(obj.Size), deref(obj.ETag)); err != nil {
					return err
				}
			}
		}
		page()
	}
	return nil
}

// choose reads the image's manifest when the selection needs it (or to report the
// status it had) and decides.
func choose(ctx context.Context, store Store, o Options, id string) (status string, chosen bool, err error) {
	status = string(manifest.StatusPending)
	if o.OutputBucket != "" {
		m, err := manifest.Read(ctx, store, o.OutputBucket, id)
		switch {
		case errors.Is(err, manifest.ErrUnreadable):
			status = "unreadable"
		case err != nil:
			return "", false, fmt.Errorf("reprocess: image %s: %w", id, err)
		case m != nil:
			status = string(m.Status)
			if m.Status == manifest.StatusFailed && m.Error != nil {
				status += ":" + m.Error.Code
				if len(o.FailedCodes) > 0 {
					return status, slices.Contains(o.FailedCodes, AnyFailure) || slices.Contains(o.FailedCodes, m.Error.Code), nil
				}
			}
		}
	}
	if len(o.FailedCodes) > 0 {
		return status, false, nil
	}
	return status, true, nil
}

type original struct {
	key  string
	size int64
	etag string
}

// send sends one batch and returns how many SQS took and the keys it refused.
func send(ctx context.Context, queue Queue, o Options, batch []original) (int, []string, error) {
	entries := make([]sqstypes.SendMessageBatchRequestEntry, len(batch))
	now := time.Now().UTC()
	for i, b := range batch {
		body, err := eventBody(o, b, now, i)
		if err != nil {
			return 0, nil, err
		}
		entries[i] = sqstypes.SendMessageBatchRequestEntry{Id: ptr(strconv.Itoa(i)), MessageBody: &body}
	}
	out, err := queue.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &o.QueueURL, Entries: entries})
	if err != nil {
		return 0, nil, fmt.Errorf("reprocess: send to %s: %w", o.QueueURL, err)
	}
	var refused []string
	for _, f := range out.Failed {
		i, _ := strconv.Atoi(deref(f.Id))
		key := "?"
		if i >= 0 && i < len(batch) {
			key = batch[i].key
		}
		refused = append(refused, fmt.Sprintf("%s: %s %s", key, deref(f.Code), deref(f.Message)))
	}
	return len(out.Successful), refused, nil
}

// The S3 event notification, as S3 writes it (only what a consumer reads).
type (
	eventRecord struct {
		EventVersion string            `json:"eventVersion"`
		EventSource  string            `json:"eventSource"`
		AWSRegion    string            `json:"awsRegion"`
		EventTime    string            `json:"eventTime"`
		EventName    string            `json:"eventName"`
		UserIdentity principal         `json:"userIdentity"`
		Request      map[string]string `json:"requestParameters"`
		S3           eventS3           `json:"s3"`
	}
	principal struct {
		PrincipalID string `json:"principalId"`
	}
	eventS3 struct {
		SchemaVersion   string      `json:"s3SchemaVersion"`
		ConfigurationID string      `json:"configurationId"`
		Bucket          eventBucket `json:"bucket"`
		Object          eventObject `json:"object"`
	}
	eventBucket struct {
		Name string `json:"name"`
		ARN  string `json:"arn"`
	}
	eventObject struct {
		Key       string `json:"key"`
		Size      int64  `json:"size"`
		ETag      string `json:"eTag"`
		Sequencer string `json:"sequencer"`
	}
)

func eventBody(o Options, b original, now time.Time, i int) (string, error) {
	rec := eventRecord{
		EventVersion: "2.1", EventSource: "aws:s3", AWSRegion: o.Region,
		EventTime: now.Format("2006-01-02T15:04:05.000Z"), EventName: "ObjectCreated:Put",
		// Who asked, for the logs: this is not S3's own event.
		UserIdentity: principal{PrincipalID: "imagepipe-reprocess"},
		Request:      map[string]string{"sourceIPAddress": "imagepipe-reprocess"},
		S3: eventS3{
			SchemaVersion: "1.0", ConfigurationID: "imagepipe-reprocess",
			Bucket: eventBucket{Name: o.UploadsBucket, ARN: "arn:aws:s3:::" + o.UploadsBucket},
			Object: eventObject{Key: encodeKey(b.key), Size: b.size, ETag: strings.Trim(b.etag, `"`),
				Sequencer: fmt.Sprintf("%016X%02X", now.UnixNano(), i)},
		},
	}
	raw, err := json.Marshal(map[string][]eventRecord{"Records": {rec}})
	if err != nil {
		return "", fmt.Errorf("reprocess: encode the event of %s: %w", b.key, err)
	}
	return string(raw), nil
}

// encodeKey form-encodes each path segment, as S3 writes keys in events.
func encodeKey(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.QueryEscape(p)
	}
	return strings.Join(parts, "/")
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func ptr[T any](v T) *T { return &v }
