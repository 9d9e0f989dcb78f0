package resize

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/ownership"
)

func (f *fakeStore) DeleteObject(_ context.Context, in *s3.DeleteObjectInput, _ ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	if err := f.record("delete", *in.Bucket, *in.Key); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.objects, *in.Bucket+"/"+*in.Key)
	return &s3.DeleteObjectOutput{}, nil
}

func (f *fakeStore) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	if err := f.record("list", *in.Bucket, aws.ToString(in.Prefix)); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var keys []string
	for k := range f.objects {
		if rest, ok := strings.CutPrefix(k, *in.Bucket+"/"); ok && strings.HasPrefix(rest, aws.ToString(in.Prefix)) {
			keys = append(keys, rest)
		}
	}
	slices.Sort(keys)
	out := &s3.ListObjectsV2Output{IsTruncated: aws.Bool(false)}
	for _, k := range keys {
		out.Contents = append(out.Contents, types.Object{Key: aws.String(k)})
	}
	return out, nil
}

// A delete that lands while the image is processed (its tombstone written, the
// original gone) leaves nothing: the handler finds the tombstone after its last
// write and removes what it made, and a redelivery makes nothing at all.
func TestDeletedWhileProcessingLeavesNothing(t *testing.T) {
	h := newHarness(t)
	id := manifest.NewID()
	h.store.add(uploads, "uploads/"+id, []byte("jpeg"), map[string]string{ownership.OwnerMetaKey: "alice"})
	engine := &duringEngine{inner: h.engine}
	handler, err := NewWithProcessor(h.handler.cfg, h.store, engine, h.handler.log, h.handler.metrics)
	if err != nil {
		t.Fatal(err)
	}
	h.handler = handler
	engine.during = func() {
		// The delete runs while the engine works: tombstone first, then the original.
		h.store.add(output, ownership.TombstoneKey(id), []byte(`{"owner":"x"}`), nil)
		h.store.mu.Lock()
		delete(h.store.objects, uploads+"/uploads/"+id)
		h.store.mu.Unlock()
	}
	if failed := h.run(t, context.Background(), s3Message("m", uploads, "uploads/"+id)); len(failed) != 0 {
		t.Fatalf("failures %v; logs:\n%s", failed, h.logs)
	}
	engine.during = nil
	if left := h.store.keysUnder(output + "/" + manifest.Prefix(id)); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	puts := h.store.count("put")
	// The original arrives after the delete (its presigned URL was still valid).
	h.store.add(uploads, "uploads/"+id, []byte("jpeg"), map[string]string{ownership.OwnerMetaKey: "alice"})
	if failed := h.run(t, context.Background(), s3Message("m2", uploads, "uploads/"+id)); len(failed) != 0 {
		t.Fatalf("redelivery failures %v", failed)
	}
	if h.store.count("put") != puts || len(h.store.keysUnder(output+"/"+manifest.Prefix(id))) != 0 {
		t.Errorf("a redelivery after the delete wrote something: %v", h.store.keysUnder(output+"/"))
	}
	if left := h.store.keysUnder(uploads + "/"); len(left) != 0 {
		t.Errorf("the late original was kept: %v", left)
	}
}

func TestOwnerCopiedIntoManifest(t *testing.T) {
	h := newHarness(t)
	id := manifest.NewID()
	h.store.add(uploads, "uploads/"+id, []byte("jpeg"), map[string]string{ownership.OwnerMetaKey: ownership.EncodeOwner("user@example.com")})
	if failed := h.run(t, context.Background(), s3Message("m", uploads, "uploads/"+id)); len(failed) != 0 {
		t.Fatalf("failures %v", failed)
	}
	if m := h.manifest(t, id); m == nil || m.Owner != "user@example.com" {
		t.Errorf("manifest %+v", m)
	}
}

func (f *fakeStore) keysUnder(prefix string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.objects {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out
}

// duringEngine runs during while the image is being processed.
type duringEngine struct {
	inner  Processor
	during func()
}

func (e *duringEngine) Process(ctx context.Context, data []byte) (*imagecore.Result, error) {
	if e.during != nil {
		e.during()
	}
	return e.inner.Process(ctx, data)
}
