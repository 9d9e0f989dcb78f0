package web_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/imagepipe/imagepipe/web"
)

// scripted is an API and storage that answer the page as the real ones do (the
// contract of issue 2), scripted by file name to produce the failures that are
// hard to provoke on demand in the local cloud: an expired URL, a dead storage
// endpoint, the API refusing what the page let through. The happy path against
// the real local cloud is in localcloud_test.go.
type scripted struct {
	srv        *httptest.Server
	deadOrigin string
	apiMax     int64

	mu      sync.Mutex
	uploads map[string]*scriptedUpload
	puts    []http.Header
}

type scriptedUpload struct {
	name, ctype string
	size        int64
	received    bool
	polls       int
}

func newScripted(t *testing.T, apiMax int64) *scripted {
	t.Helper()
	// An origin nobody listens on: the PUT fails like a dropped network.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()

	s := &scripted{deadOrigin: dead, apiMax: apiMax, uploads: map[string]*scriptedUpload{}}
	csp, err := web.CSP([]string{dead}, nil)
	if err != nil {
		t.Fatal(err)
	}
	page := web.Handler()
	mux := http.NewServeMux()
	mux.Handle("/", page)
	mux.HandleFunc("POST /v1/uploads", s.create)
	mux.HandleFunc("PUT /s3/put/{id}", s.put)
	mux.HandleFunc("PUT /s3/expired/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>`)
	})
	mux.HandleFunc("GET /v1/images/{id}", s.status)
	mux.HandleFunc("GET /variants/{id}/{w}/{h}", func(w http.ResponseWriter, r *http.Request) {
		wd, _ := strconv.Atoi(r.PathValue("w"))
		ht, _ := strconv.Atoi(r.PathValue("h"))
		w.Header().Set("Content-Type", "image/png")
		png.Encode(w, image.NewGray(image.Rect(0, 0, wd, ht)))
	})
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func (s *scripted) create(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Filename    string `json:"filename"`
		ContentType string `json:"contentType"`
		Size        int64  `json:"size"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Filename == "" || req.Size <= 0 {
		apiError(w, 400, "bad_request", fmt.Sprintf("bad request %+v: %v", req, err))
		return
	}
	if req.Size > s.apiMax {
		apiError(w, 413, "too_large", fmt.Sprintf("the file is %d bytes; the limit is %d bytes", req.Size, s.apiMax))
		return
	}
	if req.Filename == "crash.png" {
		apiError(w, 500, "internal_error", "could not prepare the upload; try again")
		return
	}
	if req.ContentType == "image/webp" {
		apiError(w, 415, "unsupported_type", `content type "image/webp" is not accepted by this server`)
		return
	}
	b := make([]byte, 16)
	rand.Read(b)
	id := hex.EncodeToString(b)
	s.mu.Lock()
	s.uploads[id] = &scriptedUpload{name: req.Filename, ctype: req.ContentType, size: req.Size}
	s.mu.Unlock()
	target := s.srv.URL + "/s3/put/" + id
	switch req.Filename {
	case "expired.png":
		target = s.srv.URL + "/s3/expired/" + id
	case "offline.png":
		target = s.deadOrigin + "/uploads/" + id
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{
		"id": id,
		"upload": map[string]any{"method": "PUT", "url": target, "headers": map[string]string{
			"content-length":      strconv.FormatInt(req.Size, 10),
			"content-type":        req.ContentType,
			"if-none-match":       "*",
			"x-amz-meta-filename": url.PathEscape(req.Filename),
		}},
		"expiresAt": time.Now().Add(5 * time.Minute).UTC().Format(time.RFC3339),
		"statusUrl": "/v1/images/" + id,
	})
}

// put checks what a presigned URL would: every signed header, exactly.
func (s *scripted) put(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	up := s.uploads[r.PathValue("id")]
	s.puts = append(s.puts, r.Header.Clone())
	s.mu.Unlock()
	body, err := io.ReadAll(r.Body)
	switch {
	case up == nil || err != nil:
		http.Error(w, "unknown upload", 404)
	case r.Header.Get("Content-Type") != up.ctype, r.Header.Get("If-None-Match") != "*",
		r.Header.Get("X-Amz-Meta-Filename") != url.PathEscape(up.name), int64(len(body)) != up.size, r.ContentLength != up.size:
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `<Error><Code>SignatureDoesNotMatch</Code><Message>headers differ from the signed ones</Message></Error>`)
	default:
		s.mu.Lock()
		up.received = true
		s.mu.Unlock()
		w.Header().Set("ETag", `"abc"`)
	}
}

func (s *scripted) status(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	up := s.uploads[id]
	if up != nil {
		up.polls++
	}
	s.mu.Unlock()
	if up == nil || !up.received {
		apiError(w, 404, "not_found", "no such image")
		return
	}
	resp := map[string]any{"id": id, "filename": up.name, "status": "pending"}
	if up.name == "busy.png" && up.polls <= 2 {
		apiError(w, http.StatusServiceUnavailable, "unavailable", "try later")
		return
	}
	switch {
	case up.polls < 2: // pending first, so the page has to poll again
	case strings.HasPrefix(up.name, "code-"): // code-<error code>.png fails with that code
		resp["status"] = "failed"
		resp["error"] = map[string]string{"code": strings.TrimSuffix(strings.TrimPrefix(up.name, "code-"), ".png"), "message": "details from the server"}
	case up.name == "broken.png":
		resp["status"] = "failed"
		resp["error"] = map[string]string{"code": "corrupt_image", "message": "png: invalid format: not a PNG file"}
	default:
		resp["status"] = "ready"
		resp["source"] = map[string]any{"format": "png", "width": 640, "height": 320, "bytes": up.size}
		var vs []map[string]any
		for _, v := range []struct {
			name string
			w, h int
		}{{"thumb", 200, 200}, {"small", 480, 240}} {
			vs = append(vs, map[string]any{"name": v.name, "format": "png", "width": v.w, "height": v.h, "bytes": 1234,
				"url": fmt.Sprintf("%s/variants/%s/%d/%d", s.srv.URL, id, v.w, v.h)})
		}
		resp["variants"] = vs
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

func TestPageShowsEveryOutcome(t *testing.T) {
	s := newScripted(t, 1<<20)
	b := newBrowser(t)
	dir := t.TempDir()
	noise := make([]byte, 700<<10)
	rand.Read(noise)
	files := []string{
		writePNG(t, dir, "cat.png", 64, 32),
		writeFile(t, dir, "big.png", noise, 0),                            // uploads slowly (throttled below)
		writeFile(t, dir, "notes.txt", []byte("not an image"), 0),         // refused by the page
		writeFile(t, dir, "huge.jpg", []byte{0xff, 0xd8, 0xff}, 26<<20),   // over the page's 25 MiB
		writeFile(t, dir, "empty.gif", nil, 0),                            // nothing to upload
		writeFile(t, dir, "medium.jpg", []byte{0xff, 0xd8, 0xff}, 2<<20),  // over the API's 1 MiB: its 413
		writeFile(t, dir, "photo.webp", []byte("RIFF....WEBPVP8 "), 0),    // the API's 415
		writeFile(t, dir, "expired.png", bytes.Repeat([]byte{1}, 100), 0), // S3 answers 403 expired
		writeFile(t, dir, "offline.png", bytes.Repeat([]byte{2}, 100), 0), // storage unreachable
		writeFile(t, dir, "broken.png", bytes.Repeat([]byte{3}, 100), 0),  // resize fails: corrupt
		writeFile(t, dir, "crash.png", bytes.Repeat([]byte{4}, 100), 0),   // the API fails: 500
		writeFile(t, dir, "busy.png", bytes.Repeat([]byte{5}, 100), 0),    // status answers 503 twice
	}

	b.run(t,
		network.EmulateNetworkConditions(false, 0, -1, 256<<10), // 256 KiB/s up: big.png takes ~3 s
		chromedp.Navigate(s.srv.URL+"/"),
		chromedp.WaitVisible("#drop", chromedp.ByID),
		chromedp.SetUploadFiles("#files", files, chromedp.ByID),
	)

	// The progress bar of big.png must be seen part way, not only at the end.
	b.expectProgressPartway(t, "big.png")

	items := b.waitSettled(t, len(files), 60*time.Second)
	tests := []struct {
		name, state string
		want        []string // substrings of the state text and detail
		retry       bool
	}{
		{"cat.png", "ready", []string{"Ready: 2 sizes", "640 × 320"}, false},
		{"big.png", "ready", []string{"Ready: 2 sizes"}, false},
		{"notes.txt", "refused", []string{"Not an accepted image type", "JPEG, PNG, GIF or WebP"}, false},
		{"huge.jpg", "refused", []string{"Too big: 26.0 MiB", "limit is 25.0 MiB"}, false},
		{"empty.gif", "refused", []string{"The file is empty"}, false},
		{"medium.jpg", "refused", []string{"Too big", "the limit is 1048576 bytes"}, false},
		{"photo.webp", "refused", []string{"Not an accepted image type", "not accepted by this server"}, false},
		{"expired.png", "failed", []string{"upload link expired"}, true},
		{"offline.png", "failed", []string{"Network error while uploading"}, true},
		{"broken.png", "failed", []string{"damaged or incomplete", "not a PNG file"}, false},
		{"crash.png", "failed", []string{"The server refused the upload (HTTP 500)", "could not prepare the upload"}, true},
		{"busy.png", "ready", []string{"Ready: 2 sizes"}, false},
	}
	for _, tt := range tests {
		it, ok := items[tt.name]
		if !ok {
			t.Errorf("%s: not listed on the page (silently dropped)", tt.name)
			continue
		}
		if it.State != tt.state {
			t.Errorf("%s: state %q (%s / %s), want %q", tt.name, it.State, it.Text, it.Detail, tt.state)
		}
		for _, w := range tt.want {
			if !strings.Contains(it.Text+" "+it.Detail, w) {
				t.Errorf("%s: page says %q / %q, want it to mention %q", tt.name, it.Text, it.Detail, w)
			}
		}
		if got := len(it.Buttons) > 0; got != tt.retry {
			t.Errorf("%s: retry button %v, want %v", tt.name, got, tt.retry)
		}
	}
	for _, name := range []string{"cat.png", "big.png"} {
		it := items[name]
		if it.Progress != "100" {
			t.Errorf("%s: progress ended at %q, want 100", name, it.Progress)
		}
		if len(it.Variants) != 2 {
			t.Fatalf("%s: %d variants shown, want 2", name, len(it.Variants))
		}
		for _, v := range it.Variants {
			want := map[string]string{"thumb": "200 × 200 px", "small": "480 × 240 px"}[v.Name]
			if v.Dims != want || !strings.HasPrefix(v.Bytes, "1.2 KiB") || v.Href != v.Src || !v.Loaded {
				t.Errorf("%s/%s: %+v, want dims %q, 1.2 KiB, a link to the image, a loaded thumbnail", name, v.Name, v, want)
			}
		}
	}
	s.mu.Lock()
	puts := len(s.puts)
	s.mu.Unlock()
	if puts != 4 { // cat, big, broken and busy; the others never reach the signed endpoint
		t.Errorf("%d PUTs reached the signed endpoint, want 4", puts)
	}
	b.screenshot(t, "page-outcomes.png")
	expectNoPageErrors(t, b)
}

func TestPageKeyboardDragAndDropAndPhone(t *testing.T) {
	s := newScripted(t, 1<<20)
	b := newBrowser(t)
	b.run(t,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(s.srv.URL+"/"),
		chromedp.WaitVisible("#drop", chromedp.ByID),
	)

	// Keyboard: the first Tab reaches the file input, and its label (the drop
	// zone) shows a focus ring.
	var focus struct {
		ID      string `json:"id"`
		Outline string `json:"outline"`
	}
	b.run(t,
		chromedp.KeyEvent("\t"),
		chromedp.Evaluate(`({id: document.activeElement.id, outline: getComputedStyle(document.getElementById("drop")).outlineStyle})`, &focus),
	)
	if focus.ID != "files" || focus.Outline == "none" {
		t.Errorf("after Tab: focus on %q, drop zone outline %q; want the file input focused and a visible outline", focus.ID, focus.Outline)
	}
	var label string
	b.run(t, chromedp.Evaluate(`document.querySelector("label[for=files]").textContent.replace(/\s+/g, " ").trim()`, &label))
	if !strings.Contains(label, "Choose images") {
		t.Errorf("the file input's label is %q", label)
	}

	// Drag and drop: a real drop event carrying two files, one of them refused.
	var highlighted bool
	b.run(t, chromedp.Evaluate(`(function () {
		var dt = new DataTransfer();
		dt.items.add(new File([new Uint8Array(2048)], "dropped.png", {type: "image/png"}));
		dt.items.add(new File(["%PDF-1.4"], "paper.pdf", {type: "application/pdf"}));
		var zone = document.getElementById("drop");
		zone.dispatchEvent(new DragEvent("dragenter", {dataTransfer: dt, bubbles: true, cancelable: true}));
		var highlighted = zone.classList.contains("dragging");
		zone.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
		return highlighted;
	})()`, &highlighted))
	if !highlighted {
		t.Error("the drop zone did not highlight while files were dragged over it")
	}
	items := b.waitSettled(t, 2, 60*time.Second)
	if it := items["dropped.png"]; it.State != "ready" || len(it.Variants) != 2 {
		t.Errorf("dropped.png: %+v, want ready with 2 variants", it)
	}
	if it := items["paper.pdf"]; it.State != "refused" || !strings.Contains(it.Detail, "application/pdf") {
		t.Errorf("paper.pdf: %+v, want refused naming its type", it)
	}

	// Phone: nothing wider than the screen, and the status is announced.
	var layout struct {
		ScrollWidth, InnerWidth int
		Announce                string
	}
	b.run(t, chromedp.Evaluate(`({ScrollWidth: document.documentElement.scrollWidth, InnerWidth: window.innerWidth,
		Announce: document.getElementById("announce").textContent})`, &layout))
	if layout.ScrollWidth > layout.InnerWidth {
		t.Errorf("page is %d px wide on a %d px phone screen", layout.ScrollWidth, layout.InnerWidth)
	}
	if layout.Announce == "" {
		t.Error("nothing announced in the live region")
	}
	b.screenshot(t, "page-phone.png")
	expectNoPageErrors(t, b)
}

// Every error code the resize function records gets its own sentence on the page,
// never the generic fallback, and unknown codes still get a sentence.
func TestPageExplainsEveryErrorCode(t *testing.T) {
	s := newScripted(t, 1<<20)
	b := newBrowser(t)
	dir := t.TempDir()
	codes := []string{"unsupported_format", "corrupt_image", "too_large", "too_many_pixels", "dimensions_too_large", "empty_file", "source_missing",
		"too_complex", "processing_failed", "brand_new_code"}
	var files []string
	for _, c := range codes {
		files = append(files, writeFile(t, dir, "code-"+c+".png", []byte{1, 2, 3}, 0))
	}
	b.run(t,
		chromedp.Navigate(s.srv.URL+"/"),
		chromedp.WaitVisible("#drop", chromedp.ByID),
		chromedp.SetUploadFiles("#files", files, chromedp.ByID),
	)
	items := b.waitSettled(t, len(codes), 60*time.Second)
	const generic = "The image could not be resized."
	seen := map[string]string{}
	for _, c := range codes {
		it := items["code-"+c+".png"]
		if it.State != "failed" || it.Detail != "details from the server" {
			t.Errorf("%s: %+v, want failed with the server's details", c, it)
		}
		if c == "brand_new_code" {
			if it.Text != generic {
				t.Errorf("unknown code shows %q, want %q", it.Text, generic)
			}
			continue
		}
		if it.Text == generic || it.Text == "" || strings.Contains(it.Text, "_") {
			t.Errorf("%s: page says %q, want a sentence of its own", c, it.Text)
		}
		if other, dup := seen[it.Text]; dup {
			t.Errorf("%s and %s share the sentence %q", c, other, it.Text)
		}
		seen[it.Text] = c
	}
	expectNoPageErrors(t, b)
}
