package localcloud

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gen2brain/avif"
	xwebp "golang.org/x/image/webp"

	"github.com/imagepipe/imagepipe/shared/imagecore"
)

type altStatus struct {
	Status string `json:"status"`
	Source struct {
		Format string `json:"format"`
		Width  int    `json:"width"`
		Height int    `json:"height"`
	} `json:"source"`
	Variants []struct {
		Name       string `json:"name"`
		Width      int    `json:"width"`
		Height     int    `json:"height"`
		Alternates []struct {
			Format string `json:"format"`
			Bytes  int64  `json:"bytes"`
			URL    string `json:"url"`
		} `json:"alternates"`
	} `json:"variants"`
}

// TestHEICAndAVIFUploadsBecomeReady sends an iPhone-style grid HEIC, a HEIC
// with alpha, a rotated HEIC and a 10-bit AVIF through presign, PUT, the
// queue and the resize function, with a variant set asking for AVIF and WebP
// alternates, and reads every variant and alternate back through the API.
func TestHEICAndAVIFUploadsBecomeReady(t *testing.T) {
	c := startCloud(t, func(cfg *Config) {
		// WASM decoding and AVIF encoding cost more than the other test images'
		// 800 ms budget allows, and the budget is wall-clock time, which a loaded
		// machine stretches: one image per invocation, with most of its timeout.
		// (Their one-off compilation is outside any image's budget: Engine.Prepare.)
		cfg.Settings.Resize.Timeout = 30 * time.Second
		cfg.Settings.Resize.BatchSize = 1
		cfg.Settings.Resize.ImageTimeout = 25 * time.Second
		cfg.VisibilityTimeout = 35 * time.Second
		cfg.Settings.Variants = []imagecore.Variant{
			{Name: "thumb", Width: 48, Height: 48, Fit: imagecore.FitCover, Formats: []imagecore.Format{imagecore.FormatAVIF, imagecore.FormatWebP}},
			{Name: "small", Width: 80},
		}
	})
	tests := []struct {
		file, ctype, format string
		w, h                int
	}{
		{"heic-grid2x2.heic", "image/heic", "heic", 120, 110},
		{"heic-alpha.heic", "image/heif", "heic", 96, 72},
		{"heic-irot1.heic", "image/heic", "heic", 96, 128},
		{"avif-10bit.avif", "image/avif", "avif", 128, 96},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("..", "testdata", "formats", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			up := presign(t, c, tc.file, tc.ctype, len(data))
			if status, _, body := putUpload(t, up, data, nil); status != http.StatusOK {
				t.Fatalf("PUT upload: %d %s", status, body)
			}
			st := waitStatus(t, c, up.ID)
			if st.Status != "ready" {
				t.Fatalf("status %q, want ready (%+v)", st.Status, st.Error)
			}
			checkVariants(t, st)

			req, _ := http.NewRequest(http.MethodGet, c.APIURL+"/v1/images/"+up.ID, nil)
			authorize(t, c, req, testUser)
			_, _, body := do(t, req)
			var as altStatus
			if err := json.Unmarshal(body, &as); err != nil {
				t.Fatal(err)
			}
			if as.Source.Format != tc.format || as.Source.Width != tc.w || as.Source.Height != tc.h {
				t.Errorf("source %+v, want %s %dx%d", as.Source, tc.format, tc.w, tc.h)
			}
			for _, v := range as.Variants {
				want := map[string]bool{}
				if v.Name == "thumb" {
					want = map[string]bool{"avif": true, "webp": true}
				}
				if len(v.Alternates) != len(want) {
					t.Fatalf("%s: alternates %+v, want %v", v.Name, v.Alternates, want)
				}
				for _, a := range v.Alternates {
					if !want[a.Format] {
						t.Errorf("%s: unexpected alternate %s", v.Name, a.Format)
					}
					req, _ := http.NewRequest(http.MethodGet, a.URL, nil)
					status, hdr, b := do(t, req)
					if status != http.StatusOK || int64(len(b)) != a.Bytes || hdr.Get("Content-Type") != "image/"+a.Format {
						t.Fatalf("%s %s: GET %d, %d bytes (manifest %d), %q", v.Name, a.Format, status, len(b), a.Bytes, hdr.Get("Content-Type"))
					}
					m, err := decodeAlternate(a.Format, b)
					if err != nil {
						t.Fatalf("%s %s: %v", v.Name, a.Format, err)
					}
					if m.Bounds().Dx() != v.Width || m.Bounds().Dy() != v.Height {
						t.Errorf("%s %s is %v, the primary %dx%d", v.Name, a.Format, m.Bounds().Size(), v.Width, v.Height)
					}
				}
			}
		})
	}
}

func decodeAlternate(format string, b []byte) (image.Image, error) {
	switch format {
	case "webp":
		return xwebp.Decode(bytes.NewReader(b))
	case "avif":
		return avif.Decode(bytes.NewReader(b))
	}
	return nil, fmt.Errorf("format %q", format)
}
