package localcloud

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/metrics"
	"github.com/imagepipe/imagepipe/shared/ownership"
)

type uploadResponse struct {
	ID     string `json:"id"`
	Upload struct {
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
	} `json:"upload"`
	StatusURL string `json:"statusUrl"`
}

type imageStatus struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Filename string `json:"filename"`
	Variants []struct {
		Name   string `json:"name"`
		Width  int    `json:"width"`
		Height int    `json:"height"`
		URL    string `json:"url"`
	} `json:"variants"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// presign asks the API for an upload, as the page does.
func presign(t *testing.T, c *Cloud, filename, ctype string, size int) uploadResponse {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.APIURL+"/v1/uploads",
		jsonBody(t, map[string]any{"filename": filename, "contentType": ctype, "size": size}))
	req.Header.Set("Content-Type", "application/json")
	authorize(t, c, req, testUser)
	status, _, body := do(t, req)
	if status != http.StatusCreated {
		t.Fatalf("POST /v1/uploads: %d %s", status, body)
	}
	var up uploadResponse
	if err := json.Unmarshal(body, &up); err != nil {
		t.Fatalf("decode upload response: %v: %s", err, body)
	}
	return up
}

// putUpload sends the bytes with exactly the headers the API listed.
func putUpload(t *testing.T, up uploadResponse, data []byte, edit func(*http.Request)) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(up.Upload.Method, up.Upload.URL, bytes.NewReader(data))
	for k, v := range up.Upload.Headers {
		req.Header.Set(k, v)
	}
	if edit != nil {
		edit(req)
	}
	return do(t, req)
}

// waitStatus polls GET /v1/images/{id} until it leaves pending.
func waitStatus(t *testing.T, c *Cloud, id string) imageStatus {
	t.Helper()
	var st imageStatus
	eventually(t, 30*time.Second, "image "+id+" processed", func() error {
		req, _ := http.NewRequest(http.MethodGet, c.APIURL+"/v1/images/"+id, nil)
		authorize(t, c, req, testUser)
		status, _, body := do(t, req)
		if status != http.StatusOK {
			return fmt.Errorf("GET /v1/images/%s: %d %s", id, status, body)
		}
		st = imageStatus{}
		if err := json.Unmarshal(body, &st); err != nil {
			return err
		}
		if st.Status == string(manifest.StatusPending) {
			return fmt.Errorf("still pending")
		}
		return nil
	})
	return st
}

// checkVariants downloads every variant URL and checks its size matches.
func checkVariants(t *testing.T, st imageStatus) {
	t.Helper()
	if len(st.Variants) == 0 {
		t.Fatalf("image %s is ready with no variants", st.ID)
	}
	for _, v := range st.Variants {
		req, _ := http.NewRequest(http.MethodGet, v.URL, nil)
		status, _, body := do(t, req)
		if status != http.StatusOK {
			t.Fatalf("variant %s: GET %d %s", v.Name, status, body)
		}
		cfg, _, err := image.DecodeConfig(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("variant %s is not an image: %v", v.Name, err)
		}
		if cfg.Width != v.Width || cfg.Height != v.Height {
			t.Errorf("variant %s is %dx%d, the API says %dx%d", v.Name, cfg.Width, cfg.Height, v.Width, v.Height)
		}
	}
}

func TestUploadFlowOverHTTP(t *testing.T) {
	c := startCloud(t, nil)
	tests := []struct {
		name     string
		filename string
		ctype    string
		data     []byte
		status   string
	}{
		{"png becomes ready", "holiday photo é+1.png", "image/png", pngBytes(t, 640, 480), "ready"},
		{"corrupt file fails with a reason", "broken.jpg", "image/jpeg", []byte("\xff\xd8\xff\xe0 this is not really a jpeg"), "failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := presign(t, c, tc.filename, tc.ctype, len(tc.data))
			status, hdr, body := putUpload(t, up, tc.data, func(r *http.Request) { r.Header.Set("Origin", c.APIURL) })
			if status != http.StatusOK {
				t.Fatalf("PUT upload: %d %s", status, body)
			}
			if hdr.Get("ETag") == "" || hdr.Get("Access-Control-Allow-Origin") != c.APIURL || hdr.Get("Access-Control-Expose-Headers") != "ETag" {
				t.Errorf("PUT response headers: ETag %q, Allow-Origin %q, Expose %q", hdr.Get("ETag"),
					hdr.Get("Access-Control-Allow-Origin"), hdr.Get("Access-Control-Expose-Headers"))
			}
			st := waitStatus(t, c, up.ID)
			if st.Status != tc.status {
				t.Fatalf("status %q, want %q (%+v)", st.Status, tc.status, st)
			}
			switch tc.status {
			case "ready":
				if st.Filename != tc.filename {
					t.Errorf("filename %q, want %q", st.Filename, tc.filename)
				}
				checkVariants(t, st)
			case "failed":
				if st.Error == nil || st.Error.Code == "" || st.Error.Message == "" {
					t.Fatalf("failed without a reason: %+v", st)
				}
			}
		})
	}
}

func TestOddKeysUnderUploadsAreProcessed(t *testing.T) {
	c := startCloud(t, nil)
	data := pngBytes(t, 300, 200)
	for _, key := range []string{"uploads/my holiday photo.png", "uploads/a+b=c.png", "uploads/grüße/日本 1.png"} {
		t.Run(key, func(t *testing.T) {
			_, err := c.S3.PutObject(context.Background(), &s3.PutObjectInput{
				Bucket: &c.UploadsBucket, Key: aws.String(key), Body: bytes.NewReader(data), ContentType: aws.String("image/png"),
				Metadata: map[string]string{ownership.OwnerMetaKey: testUser},
			})
			if err != nil {
				t.Fatalf("put %q: %v", key, err)
			}
			id, _ := manifest.IDForUploadKey(c.Settings().UploadPrefix, key)
			st := waitStatus(t, c, id)
			if st.Status != "ready" {
				t.Fatalf("status %q, want ready (%+v)", st.Status, st)
			}
			checkVariants(t, st)
		})
	}
}

func TestOpsFeedsSeeEveryImage(t *testing.T) {
	images := make(chan ImageResult, 4)
	c := startCloud(t, func(cfg *Config) { cfg.OnImage = func(r ImageResult) { images <- r } })
	records := make(chan metrics.Record, 16)
	defer c.SubscribeMetrics(func(r metrics.Record) { records <- r })()

	id, key := putUploadDirect(t, c, "ops.png", pngBytes(t, 50, 40))
	select {
	case r := <-images:
		if r.ID != id || r.Key != key || r.Manifest.Status != manifest.StatusReady || len(r.Manifest.Variants) == 0 {
			t.Errorf("OnImage got %+v, want ready %s (%s)", r, id, key)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("OnImage never called")
	}
	deadline := time.After(5 * time.Second)
	for found := false; !found; {
		select {
		case r := <-records:
			found = r.Service == metrics.ServiceResize && r.Values[metrics.ImagesProcessed] == 1
		case <-deadline:
			t.Fatalf("no ImagesProcessed record; recent: %+v", c.RecentMetrics())
		}
	}
	if len(c.RecentMetrics()) == 0 {
		t.Error("RecentMetrics is empty after an image")
	}
	stats, err := c.QueueStats(context.Background())
	if err != nil || stats.DLQ != 0 {
		t.Errorf("queue stats %+v, %v", stats, err)
	}
}
