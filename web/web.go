// Package web is the upload page: plain HTML, CSS and JavaScript embedded in the
// binary, so the API serves the same page on Lambda and locally, offline, with no
// build step. The page talks to the API contract of issue 2 (POST /v1/uploads, a
// presigned PUT straight to S3, then GET /v1/images/{id}).
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/imagepipe/imagepipe/shared/imagecore"
)

//go:embed static
var static embed.FS

// ContentSecurityPolicy is the policy for a page whose uploads and thumbnails are
// served from its own origin. When S3 lives on another origin (always on AWS), use
// CSP with that origin instead.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// CSP returns ContentSecurityPolicy widened by the origins the page must reach:
// connectSrc for the presigned PUT to the uploads bucket, imgSrc for the variant
// thumbnails in the output bucket. Each entry must be a bare origin such as
// https://uploads.s3.eu-west-1.amazonaws.com (a "*." host prefix is allowed), so a
// misconfigured value cannot inject another directive.
func CSP(connectSrc, imgSrc []string) (string, error) {
	for _, o := range append(append([]string{}, connectSrc...), imgSrc...) {
		if err := checkOrigin(o); err != nil {
			return "", err
		}
	}
	join := func(self string, extra []string) string {
		return strings.Join(append([]string{self}, dedupe(extra)...), " ")
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; " +
		"img-src " + join("'self'", imgSrc) + "; " +
		"connect-src " + join("'self'", connectSrc) + "; " +
		"base-uri 'none'; form-action 'none'; frame-ancestors 'none'", nil
}

func checkOrigin(o string) error {
	scheme, host, ok := strings.Cut(o, "://")
	if !ok || (scheme != "https" && scheme != "http") || host == "" {
		return fmt.Errorf("csp source %q: want an origin like https://bucket.s3.amazonaws.com", o)
	}
	for _, r := range host {
		ok := r == '.' || r == '-' || r == ':' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !ok && !(r == '*' && strings.HasPrefix(host, "*.") && strings.Count(host, "*") == 1) {
			return fmt.Errorf("csp source %q: host may hold only letters, digits, '.', '-', ':' and a leading \"*.\"", o)
		}
	}
	return nil
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Handler serves the page with the default upload limit.
func Handler() http.Handler {
	h, err := NewHandler(imagecore.DefaultLimits().MaxBytes)
	if err != nil {
		// The embedded files are fixed at build time and covered by tests, so
		// this can only be a programming error in this package.
		panic(err)
	}
	return h
}

// NewHandler serves the page, telling it to refuse files over maxBytes before
// asking the API for an upload URL (the API refuses them anyway; this saves a
// round trip and says why sooner).
func NewHandler(maxBytes int64) (http.Handler, error) {
	return newHandler(Options{MaxBytes: maxBytes})
}

func newHandler(opt Options) (http.Handler, error) {
	maxBytes := opt.MaxBytes
	if maxBytes <= 0 {
		return nil, fmt.Errorf("web: max bytes must be positive, got %d", maxBytes)
	}
	h := &handler{assets: map[string]asset{}}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "static/index.html" {
			return err
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		name := "/" + strings.TrimPrefix(p, "static/")
		h.assets[name] = asset{body: body, ctype: contentType(name), version: hex.EncodeToString(sum[:6])}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: read assets: %w", err)
	}
	// Asset URLs carry a content hash, so a browser may keep them for a year and
	// still never runs an old script against a new page.
	tpl, err := template.New("index.html").Funcs(template.FuncMap{
		"asset": func(name string) (string, error) {
			a, ok := h.assets["/"+name]
			if !ok {
				return "", fmt.Errorf("index.html references missing asset %q", name)
			}
			return "/" + name + "?v=" + a.version, nil
		},
	}).ParseFS(static, "static/index.html")
	if err != nil {
		return nil, fmt.Errorf("web: parse index.html: %w", err)
	}
	var buf bytes.Buffer
	if err := tpl.Execute(&buf, struct {
		MaxBytes int64
		Auth     Auth
	}{maxBytes, opt.Auth}); err != nil {
		return nil, fmt.Errorf("web: render index.html: %w", err)
	}
	h.index = buf.Bytes()
	return h, nil
}

type asset struct {
	body    []byte
	ctype   string
	version string
}

type handler struct {
	index  []byte
	assets map[string]asset
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	if r.URL.Path == "/" || r.URL.Path == "/index.html" {
		hdr.Set("Content-Type", "text/html; charset=utf-8")
		hdr.Set("Cache-Control", "no-cache")
		hdr.Set("Referrer-Policy", "no-referrer")
		h.write(w, r, h.index)
		return
	}
	a, ok := h.assets[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hdr.Set("Content-Type", a.ctype)
	hdr.Set("ETag", strconv.Quote(a.version))
	if r.URL.Query().Get("v") == a.version {
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hdr.Set("Cache-Control", "no-cache")
	}
	if r.Header.Get("If-None-Match") == strconv.Quote(a.version) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.write(w, r, a.body)
}

func (h *handler) write(w http.ResponseWriter, r *http.Request, body []byte) {
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}
