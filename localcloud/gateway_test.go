package localcloud

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/imagepipe/imagepipe/localcloud/sigv4"
)

// flakyQueue fails its first failures sends, and any send whose context has
// ended, as the SDK does.
type flakyQueue struct {
	mu        sync.Mutex
	failures  int
	calls     int
	delivered []string
}

func (q *flakyQueue) SendMessage(ctx context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls++
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if q.calls <= q.failures {
		return nil, errors.New("connection reset by peer")
	}
	q.delivered = append(q.delivered, aws.ToString(in.MessageBody))
	return &sqs.SendMessageOutput{}, nil
}

func TestNotificationSurvivesClientAndQueueHiccups(t *testing.T) {
	tests := []struct {
		name       string
		failures   int
		clientGone bool
	}{
		{"client hung up after the write", 0, true},
		{"queue failed twice", 2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			backend := s3mem.New()
			if err := backend.CreateBucket("up"); err != nil {
				t.Fatal(err)
			}
			q := &flakyQueue{failures: tc.failures}
			g := &S3Gateway{
				Next:     gofakes3.New(backend, gofakes3.WithoutVersioning()).Server(),
				Backend:  backend,
				Verifier: sigv4.New(DefaultRegion, "s3", map[string]string{DefaultAccessKeyID: DefaultSecretAccessKey}),
				Notifier: &Notifier{Region: DefaultRegion, Bucket: "up", Prefix: "uploads/", QueueURL: "q", Queue: q},
				Log:      slog.New(slog.NewTextHandler(testWriter{t}, nil)),
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req := httptest.NewRequestWithContext(ctx, http.MethodPut, "http://127.0.0.1/up/uploads/a.png", bytes.NewReader([]byte("png")))
			req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
			creds := aws.Credentials{AccessKeyID: DefaultAccessKeyID, SecretAccessKey: DefaultSecretAccessKey}
			if err := signer.SignHTTP(ctx, creds, req, "UNSIGNED-PAYLOAD", "s3", DefaultRegion, time.Now()); err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Length", "3") // a server request carries it as a header too
			if tc.clientGone {
				// The server cancels a request's context when its client disconnects.
				cancel()
			}
			rec := httptest.NewRecorder()
			g.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
			}
			q.mu.Lock()
			defer q.mu.Unlock()
			if len(q.delivered) != 1 {
				t.Fatalf("%d events delivered after %d sends, want 1", len(q.delivered), q.calls)
			}
		})
	}
}
