package api

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// fakeObjects is an in-memory ObjectStore keyed by "bucket/key".
type fakeObjects struct {
	mu      sync.Mutex
	objects map[string]fakeObject
	err     error // returned by every call when set
}

type fakeObject struct {
	body     []byte
	meta     map[string]string
	modified time.Time
}

func (f *fakeObjects) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	o, ok := f.objects[*in.Bucket+"/"+*in.Key]
	if !ok {
		return nil, &types.NotFound{}
	}
	return &s3.HeadObjectOutput{ContentLength: aws.Int64(int64(len(o.body))), Metadata: o.meta, LastModified: &o.modified}, nil
}

func (f *fakeObjects) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	o, ok := f.objects[*in.Bucket+"/"+*in.Key]
	if !ok {
		return nil, &types.NoSuchKey{}
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(o.body)), ContentLength: aws.Int64(int64(len(o.body)))}, nil
}

func (f *fakeObjects) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	var body []byte
	if in.Body != nil {
		body, _ = io.ReadAll(in.Body)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	f.objects[*in.Bucket+"/"+*in.Key] = fakeObject{body: body, meta: in.Metadata, modified: time.Now()}
	return &s3.PutObjectOutput{}, nil
}

func (f *fakeObjects) DeleteObject(_ context.Context, in *s3.DeleteObjectInput, _ ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	delete(f.objects, *in.Bucket+"/"+*in.Key)
	return &s3.DeleteObjectOutput{}, nil
}

// ListObjectsV2 honours Prefix, StartAfter and MaxKeys, in key order, as S3 does.
func (f *fakeObjects) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var keys []string
	for k := range f.objects {
		bucket, key, _ := strings.Cut(k, "/")
		if bucket == *in.Bucket && strings.HasPrefix(key, aws.ToString(in.Prefix)) && key > aws.ToString(in.StartAfter) {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	max := int(aws.ToInt32(in.MaxKeys))
	if max == 0 {
		max = 1000
	}
	out := &s3.ListObjectsV2Output{IsTruncated: aws.Bool(len(keys) > max)}
	for _, k := range keys[:min(len(keys), max)] {
		out.Contents = append(out.Contents, types.Object{Key: aws.String(k)})
	}
	return out, nil
}

func (f *fakeObjects) keys(prefix string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.objects {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
