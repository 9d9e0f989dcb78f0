package ownership

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// QuotaStore is the part of *s3.Client the quota uses.
type QuotaStore interface {
	ListObjectsV2(ctx context.Context, params *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	PutObject(ctx context.Context, params *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// QuotaWindow is the period the quota counts over: any 24 hours, not a calendar
// day, so nobody gets twice the quota around midnight.
const QuotaWindow = 24 * time.Hour

// Quota bounds one owner's uploads in any QuotaWindow. The count lives in S3 as one
// empty object per presigned upload, so there is no database; two presigns of the
// same owner at the same instant can both pass the check (see docs: the window is
// the time of one S3 list and put, and each upload is still capped by size).
type Quota struct {
	Store   QuotaStore
	Bucket  string
	Uploads int
	Bytes   int64
}

// ExceededError says which limit an upload would break and when to try again.
type ExceededError struct {
	What       string // "uploads" or "bytes"
	Limit      int64
	RetryAfter time.Duration
}

func (e *ExceededError) Error() string {
	if e.What == "bytes" {
		return fmt.Sprintf("this upload would take you over %d bytes in 24 hours", e.Limit)
	}
	return fmt.Sprintf("you have made %d uploads in the last 24 hours, the limit", e.Limit)
}

// Reserve checks that subject may upload size more bytes at now and records the
// upload of id. It returns an *ExceededError when a limit would be broken.
func (q Quota) Reserve(ctx context.Context, subject, id string, size int64, now time.Time) error {
	prefix := ownerQuotaPrefix(subject)
	// Newest first; at most Uploads entries matter: with that many inside the
	// window the count is exceeded, with fewer every entry inside it was seen.
	out, err := q.Store.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &q.Bucket, Prefix: &prefix, MaxKeys: ptr(int32(q.Uploads))})
	if err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	type entry struct {
		at   time.Time
		size int64
	}
	var recent []entry
	var total int64
	for _, o := range out.Contents {
		at, n, ok := parseQuotaKey(deref(o.Key))
		if !ok || now.Sub(at) >= QuotaWindow {
			continue // entries are newest first, but a stray key must not stop the count
		}
		recent = append(recent, entry{at, n})
		total += n
	}
	if len(recent) >= q.Uploads {
		// One more is allowed once the Uploads-th newest has left the window.
		return &ExceededError{What: "uploads", Limit: int64(q.Uploads), RetryAfter: recent[q.Uploads-1].at.Add(QuotaWindow).Sub(now)}
	}
	if total+size > q.Bytes {
		// Wait until enough of the oldest uploads have left the window.
		for i := len(recent) - 1; i >= 0; i-- {
			total -= recent[i].size
			if total+size <= q.Bytes {
				return &ExceededError{What: "bytes", Limit: q.Bytes, RetryAfter: recent[i].at.Add(QuotaWindow).Sub(now)}
			}
		}
		return &ExceededError{What: "bytes", Limit: q.Bytes, RetryAfter: QuotaWindow}
	}
	key := quotaKey(subject, id, now, size)
	if _, err := q.Store.PutObject(ctx, &s3.PutObjectInput{Bucket: &q.Bucket, Key: &key, Body: bytes.NewReader(nil), ContentLength: ptr(int64(0))}); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
