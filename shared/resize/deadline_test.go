package resize

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/metrics"
)

// stallingStore is S3 whose PUTs of keys starting with stallPrefix hang until the
// caller gives up, as a throttled S3 does while the SDK backs off and retries.
type stallingStore struct {
	*fakeStore
	stallPrefix string
}

func (s stallingStore) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if strings.HasPrefix(*in.Key, s.stallPrefix) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return s.fakeStore.PutObject(ctx, in, opts...)
}

// TestAnswersBeforeTheDeadlineWhenS3Stalls: an S3 call that hangs must not run
// the invocation into its timeout, because Lambda then fails the whole batch:
// images already finished are redone and healthy messages climb toward
// maxReceiveCount and the DLQ. The handler must answer in time, acknowledging
// what it finished and handing back only the stalled image and those after it.
func TestAnswersBeforeTheDeadlineWhenS3Stalls(t *testing.T) {
	ids := []string{manifest.NewID(), manifest.NewID(), manifest.NewID()}
	store := stallingStore{fakeStore: newFakeStore(), stallPrefix: manifest.Prefix(ids[1]) + "small-"}
	for _, id := range ids {
		store.add(uploads, "uploads/"+id, []byte("jpeg"), nil)
	}
	cfg := Config{OutputBucket: output, UploadPrefix: "uploads/", Limits: imagecore.DefaultLimits(),
		Variants: imagecore.DefaultVariants(), DeadlineMargin: 400 * time.Millisecond,
		UploadsBucket: uploads, ImageTimeout: time.Minute, MaxReceiveCount: 5}
	h, err := NewWithProcessor(cfg, store, &fakeEngine{}, slog.New(slog.NewTextHandler(io.Discard, nil)), metrics.NewEmitter(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(1500 * time.Millisecond)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var msgs []string
	var ev events.SQSEvent
	for i, id := range ids {
		ev.Records = append(ev.Records, s3Message(fmt.Sprint("m", i), uploads, "uploads/"+id))
	}
	resp, err := h.Handle(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if time.Now().After(deadline) {
		t.Fatalf("answered %s after the invocation deadline: Lambda would fail the whole batch", time.Since(deadline))
	}
	for _, f := range resp.BatchItemFailures {
		msgs = append(msgs, f.ItemIdentifier)
	}
	if got := strings.Join(msgs, ","); got != "m1,m2" {
		t.Errorf("handed back %q, want m1,m2 (the stalled image and the one never started)", got)
	}
	if _, ok := store.get(output, manifest.Key(ids[0])); !ok {
		t.Error("the first image, finished before the stall, has no manifest")
	}
}
