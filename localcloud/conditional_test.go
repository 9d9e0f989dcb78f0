package localcloud

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// apiCode is the S3 error code of err ("" for success, "?" for a non-S3 error).
func apiCode(err error) string {
	if err == nil {
		return ""
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return "?"
}

// TestConditionalPutsAsS3 checks the local S3 answers If-None-Match and If-Match
// on PutObject as S3 does, through the SDK the handlers use.
func TestConditionalPutsAsS3(t *testing.T) {
	c := startCloud(t, func(cfg *Config) { cfg.NoEventSource = true })
	ctx := context.Background()
	put := func(key, body string, edit func(*s3.PutObjectInput)) (string, error) {
		in := &s3.PutObjectInput{Bucket: &c.OutputBucket, Key: aws.String(key), Body: strings.NewReader(body)}
		if edit != nil {
			edit(in)
		}
		out, err := c.S3.PutObject(ctx, in)
		if err != nil {
			return "", err
		}
		return aws.ToString(out.ETag), nil
	}
	ifNone := func(in *s3.PutObjectInput) { in.IfNoneMatch = aws.String("*") }
	ifMatch := func(etag string) func(*s3.PutObjectInput) {
		return func(in *s3.PutObjectInput) { in.IfMatch = aws.String(etag) }
	}

	first, err := put("k", "one", ifNone)
	if err != nil || first == "" {
		t.Fatalf("first If-None-Match: * put: %q %v", first, err)
	}
	if _, err := put("k", "two", ifNone); apiCode(err) != "PreconditionFailed" {
		t.Errorf("If-None-Match: * over an existing object: %v, want PreconditionFailed", err)
	}
	second, err := put("k", "two", ifMatch(first))
	if err != nil || second == first {
		t.Fatalf("If-Match the current ETag: %q %v", second, err)
	}
	if _, err := put("k", "three", ifMatch(first)); apiCode(err) != "PreconditionFailed" {
		t.Errorf("If-Match a replaced ETag: %v, want PreconditionFailed", err)
	}
	if _, err := put("missing", "x", ifMatch(first)); apiCode(err) != "NoSuchKey" {
		t.Errorf("If-Match on a missing key: %v, want NoSuchKey", err)
	}
	got, err := c.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: &c.OutputBucket, Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	defer got.Body.Close()
	if aws.ToString(got.ETag) != second {
		t.Errorf("stored ETag %s, want %s (the refused writes must change nothing)", aws.ToString(got.ETag), second)
	}
}

// TestConcurrentConditionalPutsHaveOneWinner: of many writers racing with the same
// condition exactly one succeeds and every other is refused, so a read-decide-write
// cycle cannot interleave with another.
func TestConcurrentConditionalPutsHaveOneWinner(t *testing.T) {
	c := startCloud(t, func(cfg *Config) { cfg.NoEventSource = true })
	ctx := context.Background()
	// Each writer's bytes differ from every other's, in both races: rewriting the
	// same bytes keeps the ETag (it is their MD5), so If-Match would rightly hold
	// for the next writer too.
	race := func(fill string, edit func(*s3.PutObjectInput)) (wins int, codes []string) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				in := &s3.PutObjectInput{Bucket: &c.OutputBucket, Key: aws.String("race"), Body: strings.NewReader(strings.Repeat(fill, i+1))}
				edit(in)
				_, err := c.S3.PutObject(ctx, in)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					wins++
				} else {
					codes = append(codes, apiCode(err))
				}
			})
		}
		wg.Wait()
		return wins, codes
	}
	if wins, codes := race("x", func(in *s3.PutObjectInput) { in.IfNoneMatch = aws.String("*") }); wins != 1 || !allConflicts(codes) {
		t.Fatalf("If-None-Match race: %d winners, losers %v; want 1 winner, the rest 412 or 409", wins, codes)
	}
	head, err := c.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &c.OutputBucket, Key: aws.String("race")})
	if err != nil {
		t.Fatal(err)
	}
	etag := aws.ToString(head.ETag)
	if wins, codes := race("y", func(in *s3.PutObjectInput) { in.IfMatch = &etag }); wins != 1 || !allConflicts(codes) {
		t.Fatalf("If-Match race: %d winners, losers %v; want 1 winner, the rest 412 or 409", wins, codes)
	}
}

func allConflicts(codes []string) bool {
	for _, c := range codes {
		if c != "PreconditionFailed" && c != "ConditionalRequestConflict" {
			return false
		}
	}
	return true
}
