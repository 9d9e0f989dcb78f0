package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/localcloud"
)

// startDev runs `imagepipe dev` with args and returns the page URL and the S3 endpoint.
func startDev(t *testing.T, args ...string) (base, s3URL string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runDev(ctx, append([]string{"-addr", "127.0.0.1:0", "-log", "error"}, args...), pw)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("dev did not stop")
		}
	})
	lines := bufio.NewScanner(pr)
	for lines.Scan() {
		line := strings.TrimSpace(lines.Text())
		if rest, ok := strings.CutPrefix(line, "page and API"); ok {
			base = strings.TrimSpace(rest)
		}
		if _, rest, ok := strings.Cut(line, "AWS_ENDPOINT_URL_S3="); ok {
			s3URL, _, _ = strings.Cut(rest, " ")
			break
		}
	}
	if base == "" || s3URL == "" {
		t.Fatalf("banner incomplete; dev returned %v", <-done)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	return base, s3URL
}

func send(t *testing.T, method, url, token, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// `imagepipe token` mints what the running local cloud of the same DATA_DIR
// accepts, and `imagepipe erase` removes everything of that user.
func TestTokenAndErase(t *testing.T) {
	dir := t.TempDir()
	base, s3URL := startDev(t, "-data", dir)
	var out, errOut bytes.Buffer
	if err := tokenCommand([]string{"-user", "alice", "-data", dir}, &out, &errOut); err != nil {
		t.Fatalf("token: %v %s", err, errOut.String())
	}
	token := strings.TrimSpace(out.String())
	if status, body := send(t, "POST", base+"/v1/uploads", "", `{"filename":"a.png","contentType":"image/png","size":4}`); status != 401 {
		t.Fatalf("without a token: %d %s", status, body)
	}
	status, body := send(t, "POST", base+"/v1/uploads", token, `{"filename":"a.png","contentType":"image/png","size":4}`)
	if status != 201 {
		t.Fatalf("with the token: %d %s", status, body)
	}
	var up struct {
		ID     string `json:"id"`
		Upload struct {
			URL     string            `json:"url"`
			Headers map[string]string `json:"headers"`
		} `json:"upload"`
	}
	if err := json.Unmarshal(body, &up); err != nil {
		t.Fatal(err)
	}
	put, _ := http.NewRequest("PUT", up.Upload.URL, strings.NewReader("abcd"))
	for k, v := range up.Upload.Headers {
		put.Header.Set(k, v)
	}
	if resp, err := http.DefaultClient.Do(put); err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT: %v %v", resp, err)
	}
	if status, body := send(t, "GET", base+"/v1/images", token, ""); status != 200 || !bytes.Contains(body, []byte(up.ID)) {
		t.Fatalf("list before erase: %d %s", status, body)
	}
	store := s3.New(s3.Options{Region: localcloud.DefaultRegion, BaseEndpoint: aws.String(s3URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(localcloud.DefaultAccessKeyID, localcloud.DefaultSecretAccessKey, "")})
	out.Reset()
	cdn := &recordingCDN{}
	if err := eraseCommand(context.Background(), []string{"-user", "alice", "-distribution", "EDISTRIBUTION"}, &out, &errOut, store, cdn); err != nil {
		t.Fatalf("erase: %v", err)
	}
	if len(cdn.calls) != 1 || aws.ToString(cdn.calls[0].DistributionId) != "EDISTRIBUTION" ||
		!strings.Contains(strings.Join(cdn.calls[0].InvalidationBatch.Paths.Items, " "), up.ID) {
		t.Errorf("CDN invalidations %+v, want one of %s's paths on EDISTRIBUTION", cdn.calls, up.ID)
	}
	if !strings.Contains(out.String(), "erased 1 images of alice") {
		t.Errorf("erase said %q", out.String())
	}
	if status, body := send(t, "GET", base+"/v1/images", token, ""); status != 200 || bytes.Contains(body, []byte(up.ID)) {
		t.Errorf("list after erase: %d %s", status, body)
	}
	if status, _ := send(t, "GET", base+"/v1/images/"+up.ID, token, ""); status != 404 {
		t.Errorf("GET after erase: %d", status)
	}
}

func TestTokenRefusals(t *testing.T) {
	for _, args := range [][]string{{}, {"-user", "alice", "-data", t.TempDir()}, {"-user", "a", "-ttl", "48h"}} {
		if err := tokenCommand(args, io.Discard, io.Discard); err == nil {
			t.Errorf("token %v succeeded", args)
		}
	}
	if err := eraseCommand(context.Background(), nil, io.Discard, io.Discard, nil, nil); err == nil {
		t.Error("erase without -user succeeded")
	}
}

func TestDevAuthNoneIsOpenAndABadModeIsNamed(t *testing.T) {
	base, _ := startDev(t, "-data", t.TempDir(), "-auth", "none")
	if status, body := send(t, "POST", base+"/v1/uploads", "", `{"filename":"a.png","contentType":"image/png","size":4}`); status != 201 {
		t.Errorf("open upload: %d %s", status, body)
	}
	err := runDev(context.Background(), []string{"-addr", "127.0.0.1:0", "-data", t.TempDir(), "-auth", "open"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "authMode") {
		t.Errorf("bad mode: %v", err)
	}
}

// recordingCDN is a CloudFront that records the invalidations asked of it.
type recordingCDN struct {
	calls []*cloudfront.CreateInvalidationInput
}

func (c *recordingCDN) CreateInvalidation(_ context.Context, in *cloudfront.CreateInvalidationInput, _ ...func(*cloudfront.Options)) (*cloudfront.CreateInvalidationOutput, error) {
	c.calls = append(c.calls, in)
	return &cloudfront.CreateInvalidationOutput{}, nil
}
