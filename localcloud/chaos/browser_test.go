package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	_ "image/png"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/localcloud"
	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/ownership"
	"github.com/imagepipe/imagepipe/shared/settings"
)

var cloudSeq atomic.Int64

// chaosSettings are the default settings with timeouts cut to seconds.
func chaosSettings() settings.Settings {
	s := settings.Default()
	// Primaries only: the default AVIF alternates cost more CPU than these
	// cut-down budgets give a test image on a loaded machine; the tests of
	// alternates set their own variants.
	for i := range s.Variants {
		s.Variants[i].Formats = nil
	}
	s.Resize.Timeout = 4 * time.Second
	s.Resize.DeadlineMargin = time.Second
	// Batches of two, so each image's budget (the 4s timeout less the 1s margin,
	// shared by the batch) stays well above what a test image costs on a loaded
	// machine: the engine honours the budget, and a tight one would make healthy
	// images too_complex.
	s.Resize.BatchSize = 2
	s.Resize.BatchWindow = 100 * time.Millisecond
	s.Resize.MaxConcurrency = 2
	s.Queue.MaxReceiveCount = 5
	s.Resize.ImageTimeout = 1500 * time.Millisecond
	return s
}

// startCloud starts an in-memory local cloud on free ports; edit adjusts its config.
func startCloud(tb testing.TB, edit func(*localcloud.Config)) *localcloud.Cloud {
	tb.Helper()
	cfg := localcloud.Config{
		Settings: chaosSettings(),
		Name:     fmt.Sprintf("chaos%d", cloudSeq.Add(1)),
		// Longer than the function timeout, as in AWS (where it is six times
		// longer): a message must not come back while an invocation still holds it.
		VisibilityTimeout: 5 * time.Second,
		PollWait:          time.Second,
		StopGrace:         2 * time.Second,
		Log:               slog.New(slog.NewTextHandler(logWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if edit != nil {
		edit(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := localcloud.Start(ctx, cfg)
	if err != nil {
		tb.Fatalf("start local cloud: %v", err)
	}
	tb.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			tb.Errorf("close local cloud: %v", err)
		}
	})
	return c
}

// logWriter sends logs to tb.Log, so they show only when a test fails.
type logWriter struct{ tb testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// browser uploads as the page does: ask the API for a presigned PUT, then send
// the bytes with exactly the headers the API listed.
type browser struct {
	api    string
	client *http.Client
	// tokens are access tokens of browserUsers users, used in turn, so many
	// uploads spread over several users' quotas; owners remembers whose each is.
	tokens []string
	cloud  *localcloud.Cloud
	next   atomic.Int64
	owners sync.Map // image id -> token
}

// browserUsers sign in to one browser; their quotas together bound a test's uploads.
const browserUsers = 32

func newBrowser(c *localcloud.Cloud) *browser {
	b := &browser{cloud: c, api: c.APIURL, client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	for i := range browserUsers {
		tok, err := c.AccessToken(fmt.Sprintf("chaos-user-%d", i))
		if err != nil {
			panic(err) // signing with an in-memory key cannot fail but for a bug
		}
		b.tokens = append(b.tokens, tok)
	}
	return b
}

func authorize(req *http.Request, token string) {
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
}

type presigned struct {
	ID     string `json:"id"`
	Upload struct {
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
	} `json:"upload"`
}

// upload presigns and PUTs one file and returns its image ID once S3 has it.
func (b *browser) upload(ctx context.Context, filename, ctype string, data []byte) (string, error) {
	p, err := b.presign(ctx, filename, ctype, len(data))
	if err != nil {
		return "", err
	}
	return p.ID, b.put(ctx, p, data)
}

// presign asks the API for an upload of size bytes.
func (b *browser) presign(ctx context.Context, filename, ctype string, size int) (presigned, error) {
	var p presigned
	body, _ := json.Marshal(map[string]any{"filename": filename, "contentType": ctype, "size": size})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.api+"/v1/uploads", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	token := b.tokens[int(b.next.Add(1))%len(b.tokens)]
	authorize(req, token)
	status, respBody, err := b.do(req)
	if err != nil {
		return p, fmt.Errorf("presign: %w", err)
	}
	if status != http.StatusCreated {
		return p, fmt.Errorf("presign: %d %s", status, respBody)
	}
	if err := json.Unmarshal(respBody, &p); err != nil {
		return p, fmt.Errorf("presign answer: %w", err)
	}
	b.owners.Store(p.ID, token)
	return p, nil
}

// put sends the bytes with exactly the headers the API listed.
func (b *browser) put(ctx context.Context, p presigned, data []byte) error {
	put, _ := http.NewRequestWithContext(ctx, p.Upload.Method, p.Upload.URL, bytes.NewReader(data))
	for k, v := range p.Upload.Headers {
		put.Header.Set(k, v)
	}
	status, respBody, err := b.do(put)
	if err != nil {
		return fmt.Errorf("put %s: %w", p.ID, err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("put %s: %d %s", p.ID, status, respBody)
	}
	return nil
}

// imageStatus is the API's answer for one image.
type imageStatus struct {
	Status   string `json:"status"`
	Variants []struct {
		Name   string `json:"name"`
		Width  int    `json:"width"`
		Height int    `json:"height"`
	} `json:"variants"`
	Error *struct {
		Code string `json:"code"`
	} `json:"error"`
}

func (b *browser) status(ctx context.Context, id string) (imageStatus, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.api+"/v1/images/"+id, nil)
	authorize(req, b.ownerToken(ctx, id))
	code, body, err := b.do(req)
	if err != nil {
		return imageStatus{}, err
	}
	if code != http.StatusOK {
		return imageStatus{}, fmt.Errorf("GET /v1/images/%s: %d %s", id, code, body)
	}
	var st imageStatus
	return st, json.Unmarshal(body, &st)
}

// ownerToken is the token of the user who uploaded id: remembered when this
// browser presigned it, else read from the original's owner metadata (another
// browser of the same cloud uploaded it).
func (b *browser) ownerToken(ctx context.Context, id string) string {
	if token, ok := b.owners.Load(id); ok {
		return token.(string)
	}
	head, err := b.cloud.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.cloud.UploadsBucket, Key: aws.String("uploads/" + id)})
	if err != nil {
		return ""
	}
	tok, _ := b.cloud.AccessToken(ownership.DecodeOwner(head.Metadata))
	return tok
}

func (b *browser) do(req *http.Request) (int, []byte, error) {
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// waitAll polls the API until every ID has left pending or the deadline passes,
// and returns the last status of each.
func (b *browser) waitAll(ctx context.Context, ids []string, timeout time.Duration) map[string]imageStatus {
	deadline := time.Now().Add(timeout)
	out := map[string]imageStatus{}
	for {
		pending := 0
		for _, id := range ids {
			if st, ok := out[id]; ok && st.Status != string(manifest.StatusPending) {
				continue
			}
			st, err := b.status(ctx, id)
			if err != nil || st.Status == string(manifest.StatusPending) {
				pending++
				continue
			}
			out[id] = st
		}
		if pending == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return out
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// smallJPEG is a 400x300 gradient, quick to process even on a loaded machine, so
// fault tests depend on faults and not on CPU time.
func smallJPEG(tb testing.TB, seed int) []byte {
	tb.Helper()
	return sizedJPEG(tb, 400, 300, seed)
}

// sizedJPEG is a w x h gradient JPEG.
func sizedJPEG(tb testing.TB, w, h, seed int) []byte {
	tb.Helper()
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.Set(x, y, color.RGBA{uint8(x + seed), uint8(y * 3), uint8(seed * 40), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: 85}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// photos are the real test photographs, read once.
func photos(tb testing.TB) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, name := range []string{"friends.jpg", "seeding.jpg", "wine.jpg"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "images", name))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// checkConsistent reads the manifest of id from the output bucket and checks it
// agrees with the objects under variants/{id}/: every listed variant exists with
// the listed size, type and dimensions, and nothing else is there.
func checkConsistent(ctx context.Context, c *localcloud.Cloud, id string) error {
	get := func(key string) ([]byte, string, error) {
		out, err := c.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: &c.OutputBucket, Key: &key})
		if err != nil {
			return nil, "", err
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		return b, aws.ToString(out.ContentType), err
	}
	raw, _, err := get(manifest.Key(id))
	if err != nil {
		return fmt.Errorf("manifest of %s: %w", id, err)
	}
	var m manifest.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("manifest of %s: %w", id, err)
	}
	if m.Status != manifest.StatusReady {
		return fmt.Errorf("image %s is %s (%+v)", id, m.Status, m.Error)
	}
	listed := map[string]bool{manifest.Key(id): true}
	for _, v := range m.Variants {
		listed[v.Key] = true
		for _, alt := range v.Alternates {
			listed[alt.Key] = true
			if _, _, err := get(alt.Key); err != nil {
				return fmt.Errorf("image %s variant %s: %s alternate listed but unreadable: %w", id, v.Name, alt.Format, err)
			}
		}
		data, ctype, err := get(v.Key)
		if err != nil {
			return fmt.Errorf("image %s variant %s listed but unreadable: %w", id, v.Name, err)
		}
		cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil || int64(len(data)) != v.Bytes || format != v.Format || cfg.Width != v.Width || cfg.Height != v.Height || !strings.HasPrefix(ctype, "image/") {
			return fmt.Errorf("image %s variant %s: stored %d bytes %s %dx%d (%s, %v); manifest says %d bytes %s %dx%d",
				id, v.Name, len(data), format, cfg.Width, cfg.Height, ctype, err, v.Bytes, v.Format, v.Width, v.Height)
		}
	}
	prefix := manifest.Prefix(id)
	objs, err := c.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &c.OutputBucket, Prefix: &prefix})
	if err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	for _, o := range objs.Contents {
		if !listed[aws.ToString(o.Key)] {
			return fmt.Errorf("image %s: %s is stored but not in the manifest", id, aws.ToString(o.Key))
		}
	}
	return nil
}
