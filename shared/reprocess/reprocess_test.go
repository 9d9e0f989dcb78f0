package reprocess

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/resize"
)

// fakeStore lists keys two to a page and serves manifests.
type fakeStore struct {
	keys      []string
	manifests map[string]string // id -> body
	listErr   error
	lists     int
}

func (f *fakeStore) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	if slices.Contains(f.keys, *in.Key) {
		return &s3.HeadObjectOutput{ContentLength: ptr(int64(len(*in.Key))), ETag: ptr(`"etag-` + *in.Key + `"`)}, nil
	}
	return nil, &s3types.NotFound{}
}

func (f *fakeStore) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	f.lists++
	if f.listErr != nil {
		return nil, f.listErr
	}
	start := 0
	if in.ContinuationToken != nil {
		start, _ = strconv.Atoi(*in.ContinuationToken)
	}
	end := min(start+2, len(f.keys))
	out := &s3.ListObjectsV2Output{}
	for _, k := range f.keys[start:end] {
		out.Contents = append(out.Contents, s3types.Object{Key: ptr(k), Size: ptr(int64(len(k))), ETag: ptr(`"etag-` + k + `"`)})
	}
	if end < len(f.keys) {
		out.IsTruncated, out.NextContinuationToken = ptr(true), ptr(strconv.Itoa(end))
	}
	return out, nil
}

func (f *fakeStore) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	for id, body := range f.manifests {
		if *in.Key == manifest.Key(id) {
			return &s3.GetObjectOutput{Body: io.NopCloser(strings.NewReader(body)), ETag: ptr(`"m"`)}, nil
		}
	}
	return nil, &s3types.NoSuchKey{}
}

type fakeQueue struct {
	bodies  []string
	batches int
	refuse  string // a key whose message SQS refuses
}

func (q *fakeQueue) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	q.batches++
	if len(in.Entries) > 10 {
		return nil, errors.New("AWS.SimpleQueueService.TooManyEntriesInBatchRequest")
	}
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		if q.refuse != "" && strings.Contains(*e.MessageBody, q.refuse) {
			out.Failed = append(out.Failed, sqstypes.BatchResultErrorEntry{Id: e.Id, Code: ptr("InternalError"), Message: ptr("try again")})
			continue
		}
		q.bodies = append(q.bodies, *e.MessageBody)
		out.Successful = append(out.Successful, sqstypes.SendMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

func failedManifest(id, code string) string {
	b, _ := json.Marshal(manifest.Manifest{ID: id, Status: manifest.StatusFailed, Error: &manifest.Error{Code: code, Message: "x"}})
	return string(b)
}

// sentKeys reads the keys back the way the resize function does.
func sentKeys(t *testing.T, q *fakeQueue) []string {
	t.Helper()
	var keys []string
	for _, b := range q.bodies {
		recs, err := resize.ParseBody(b)
		if err != nil {
			t.Fatalf("the resize function cannot read %s: %v", b, err)
		}
		if recs[0].EventName != "ObjectCreated:Put" || recs[0].S3.Bucket.Name != "up" || recs[0].S3.Object.ETag == "" || strings.Contains(recs[0].S3.Object.ETag, `"`) {
			t.Errorf("event %+v", recs[0])
		}
		keys = append(keys, recs[0].S3.Object.URLDecodedKey)
	}
	sort.Strings(keys)
	return keys
}

func TestRun(t *testing.T) {
	ids := []string{manifest.NewID(), manifest.NewID(), manifest.NewID(), manifest.NewID()}
	odd := "uploads/my cat+dog é 100%.jpg"
	oddID, _ := manifest.IDForUploadKey("uploads/", odd)
	store := func() *fakeStore {
		return &fakeStore{
			keys: []string{"uploads/" + ids[0], "uploads/" + ids[1], "uploads/" + ids[2], "uploads/" + ids[3], odd},
			manifests: map[string]string{
				ids[0]: failedManifest(ids[0], "too_many_pixels"),
				ids[1]: failedManifest(ids[1], resize.CodeProcessingFailed),
				ids[2]: `{"id":"` + ids[2] + `","status":"ready"}`,
				oddID:  failedManifest(oddID, "too_many_pixels"),
			},
		}
	}
	sortedKeys := func(ks ...string) []string { sort.Strings(ks); return ks }
	tests := []struct {
		name     string
		opts     func(*Options)
		want     []string
		status   map[string]int
		notFound []string
	}{
		{"all", func(o *Options) { o.All = true },
			sortedKeys("uploads/"+ids[0], "uploads/"+ids[1], "uploads/"+ids[2], "uploads/"+ids[3], odd),
			map[string]int{"failed:too_many_pixels": 2, "failed:processing_failed": 1, "ready": 1, "pending": 1}, nil},
		{"failed with a code", func(o *Options) { o.FailedCodes = []string{"too_many_pixels"} },
			sortedKeys("uploads/"+ids[0], odd), map[string]int{"failed:too_many_pixels": 2}, nil},
		{"failed with any code", func(o *Options) { o.FailedCodes = []string{AnyFailure} },
			sortedKeys("uploads/"+ids[0], "uploads/"+ids[1], odd), map[string]int{"failed:too_many_pixels": 2, "failed:processing_failed": 1}, nil},
		{"by id, one unknown", func(o *Options) { o.IDs = []string{ids[2], oddID, "0123456789abcdef0123456789abcdef"} },
			sortedKeys("uploads/"+ids[2], odd), map[string]int{"ready": 1, "failed:too_many_pixels": 1}, []string{"0123456789abcdef0123456789abcdef"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := &fakeQueue{}
			o := Options{UploadsBucket: "up", OutputBucket: "out", QueueURL: "q", Region: "eu-west-1"}
			tc.opts(&o)
			var progress []Progress
			o.Progress = func(p Progress) { progress = append(progress, p) }
			rep, err := Run(context.Background(), store(), q, o)
			if err != nil {
				t.Fatal(err)
			}
			if got := sentKeys(t, q); !slices.Equal(got, tc.want) {
				t.Errorf("sent %q, want %q", got, tc.want)
			}
			if rep.Scanned != 5 || rep.Selected != len(tc.want) || rep.Queued != len(tc.want) || fmt.Sprint(rep.ByStatus) != fmt.Sprint(tc.status) ||
				!slices.Equal(rep.NotFound, tc.notFound) {
				t.Errorf("report %+v, want %d queued by status %v, not found %v", rep, len(tc.want), tc.status, tc.notFound)
			}
			if len(progress) < 2 || progress[len(progress)-1] != rep.Progress {
				t.Errorf("progress %v: want one per page of originals and the final count", progress)
			}
		})
	}
}

func TestRunBatchesRefusalsAndDryRun(t *testing.T) {
	s := &fakeStore{}
	for range 23 {
		s.keys = append(s.keys, "uploads/"+manifest.NewID())
	}
	q := &fakeQueue{refuse: s.keys[4]}
	rep, err := Run(context.Background(), s, q, Options{UploadsBucket: "up", QueueURL: "q", All: true})
	if err != nil {
		t.Fatal(err)
	}
	if q.batches != 3 || rep.Queued != 22 || len(rep.NotSent) != 1 || !strings.Contains(rep.NotSent[0], s.keys[4]) {
		t.Errorf("%d batches, report %+v; want 3 batches, 22 queued, the refused key reported", q.batches, rep)
	}
	q = &fakeQueue{}
	rep, err = Run(context.Background(), s, q, Options{UploadsBucket: "up", QueueURL: "q", All: true, DryRun: true})
	if err != nil || q.batches != 0 || rep.Selected != 23 || rep.Queued != 0 {
		t.Errorf("dry run: %d batches, report %+v, %v", q.batches, rep, err)
	}
}

func TestRunErrors(t *testing.T) {
	bad := []Options{
		{QueueURL: "q", All: true},
		{UploadsBucket: "up", All: true},
		{UploadsBucket: "up", QueueURL: "q"},
		{UploadsBucket: "up", QueueURL: "q", All: true, IDs: []string{manifest.NewID()}},
		{UploadsBucket: "up", QueueURL: "q", FailedCodes: []string{"too_large"}},
		{UploadsBucket: "up", QueueURL: "q", IDs: []string{"../etc"}},
	}
	for _, o := range bad {
		if _, err := Run(context.Background(), &fakeStore{}, &fakeQueue{}, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	_, err := Run(context.Background(), &fakeStore{listErr: errors.New("AccessDenied")}, &fakeQueue{},
		Options{UploadsBucket: "up", QueueURL: "q", All: true})
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("list error: %v", err)
	}
	// A manifest that cannot be read stops the run rather than guessing.
	s := &fakeStore{keys: []string{"uploads/" + manifest.NewID()}}
	_, err = Run(context.Background(), brokenGets{s}, &fakeQueue{}, Options{UploadsBucket: "up", OutputBucket: "out", QueueURL: "q", FailedCodes: []string{AnyFailure}})
	if err == nil || !strings.Contains(err.Error(), "SlowDown") {
		t.Errorf("manifest read error: %v", err)
	}
}

type brokenGets struct{ *fakeStore }

func (brokenGets) GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return nil, errors.New("SlowDown")
}

// Ids the API made are looked up directly: no listing of the whole bucket.
func TestRunByIDsWithoutListing(t *testing.T) {
	a, b := manifest.NewID(), manifest.NewID()
	s := &fakeStore{keys: []string{"uploads/" + a, "uploads/" + b, "uploads/" + manifest.NewID()}}
	q := &fakeQueue{}
	rep, err := Run(context.Background(), s, q, Options{UploadsBucket: "up", QueueURL: "q", IDs: []string{a, b}})
	if err != nil {
		t.Fatal(err)
	}
	if s.lists != 0 || rep.Scanned != 2 || rep.Queued != 2 || len(rep.NotFound) != 0 {
		t.Errorf("%d listings, report %+v; want no listing and both queued", s.lists, rep)
	}
	want := []string{"uploads/" + a, "uploads/" + b}
	sort.Strings(want)
	if got := sentKeys(t, q); !slices.Equal(got, want) {
		t.Errorf("sent %v", got)
	}
}
