package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var refRE = regexp.MustCompile(`(?:src|href)="([^"]+)"`)

// references lists the local URLs index.html points at.
func references(t *testing.T, h http.Handler) []string {
	t.Helper()
	page := body(t, get(t, h, "GET", "/", nil))
	var refs []string
	for _, m := range refRE.FindAllStringSubmatch(page, -1) {
		refs = append(refs, m[1])
	}
	if len(refs) < 3 {
		t.Fatalf("index.html references %d assets, want at least the script, the stylesheet and the icon: %q", len(refs), refs)
	}
	return refs
}

func TestServesPageAndAssets(t *testing.T) {
	h := Handler()
	tests := []struct {
		target, wantType string
		wantStatus       int
	}{
		{"/", "text/html; charset=utf-8", 200},
		{"/index.html", "text/html; charset=utf-8", 200},
		{"/app.js", "text/javascript; charset=utf-8", 200},
		{"/app.css", "text/css; charset=utf-8", 200},
		{"/favicon.svg", "image/svg+xml", 200},
		{"/nope.js", "text/plain; charset=utf-8", 404},
		{"/static/app.js", "text/plain; charset=utf-8", 404},
		{"/../web.go", "text/plain; charset=utf-8", 404},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			res := get(t, h, "GET", tt.target, nil)
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.wantStatus)
			}
			if got := res.Header.Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type %q, want %q", got, tt.wantType)
			}
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
			if tt.wantStatus == 200 && len(body(t, res)) == 0 {
				t.Error("empty body")
			}
		})
	}
}

func TestEveryReferencedAssetIsServedAndCachedForever(t *testing.T) {
	h := Handler()
	for _, ref := range references(t, h) {
		t.Run(ref, func(t *testing.T) {
			if !strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "//") {
				t.Fatalf("reference %q is not a path on this origin", ref)
			}
			if !strings.Contains(ref, "?v=") {
				t.Errorf("reference %q has no content version, so it cannot be cached safely", ref)
			}
			res := get(t, h, "GET", ref, nil)
			if res.StatusCode != 200 {
				t.Fatalf("status %d", res.StatusCode)
			}
			if got := res.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
				t.Errorf("Cache-Control %q for a versioned asset", got)
			}
			if len(body(t, res)) == 0 {
				t.Error("empty body")
			}
		})
	}
}

func TestCacheHeaders(t *testing.T) {
	h := Handler()
	if got := get(t, h, "GET", "/", nil).Header.Get("Cache-Control"); got != "no-cache" {
		t.Errorf("page Cache-Control %q, want no-cache so a deploy shows at once", got)
	}
	res := get(t, h, "GET", "/app.js?v=stale", nil)
	if got := res.Header.Get("Cache-Control"); got != "no-cache" {
		t.Errorf("wrong version Cache-Control %q, want no-cache", got)
	}
	etag := res.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	res = get(t, h, "GET", "/app.js", map[string]string{"If-None-Match": etag})
	if res.StatusCode != http.StatusNotModified || body(t, res) != "" {
		t.Errorf("revalidation: status %d, want 304 with no body", res.StatusCode)
	}
}

func TestMethods(t *testing.T) {
	h := Handler()
	res := get(t, h, "HEAD", "/app.css", nil)
	if res.StatusCode != 200 || res.Header.Get("Content-Length") == "0" || body(t, res) != "" {
		t.Errorf("HEAD: status %d, length %q", res.StatusCode, res.Header.Get("Content-Length"))
	}
	res = get(t, h, "POST", "/", nil)
	if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: status %d, Allow %q", res.StatusCode, res.Header.Get("Allow"))
	}
}

func TestLimitIsRenderedIntoThePage(t *testing.T) {
	h, err := NewHandler(1234567)
	if err != nil {
		t.Fatal(err)
	}
	if page := body(t, get(t, h, "GET", "/", nil)); !strings.Contains(page, `data-max-bytes="1234567"`) {
		t.Errorf("page does not carry the limit:\n%s", page)
	}
	if !strings.Contains(body(t, get(t, Handler(), "GET", "/", nil)), `data-max-bytes="26214400"`) {
		t.Error("default page does not carry the 25 MiB default limit")
	}
	if _, err := NewHandler(0); err == nil {
		t.Error("NewHandler(0) succeeded")
	}
}

// externalRE finds anything that would make the browser leave the origin: absolute
// or protocol-relative URLs, CSS imports. The SVG namespace is a name, not a fetch.
var externalRE = regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|url\(\s*['"]?(https?:|//)`)

func TestNoExternalURLsInAnyAsset(t *testing.T) {
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		text := strings.ReplaceAll(string(b), `xmlns="http://www.w3.org/2000/svg"`, "")
		if m := externalRE.FindString(text); m != "" {
			t.Errorf("%s reaches outside the origin: %q", p, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The page must run under the CSP: no inline script, no inline style, no handlers
// in attributes, nothing that evaluates strings.
func TestAssetsNeedNothingTheCSPForbids(t *testing.T) {
	page := body(t, get(t, Handler(), "GET", "/", nil))
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`), // inline script body
		regexp.MustCompile(`<style`),
		regexp.MustCompile(`\sstyle=`),
		regexp.MustCompile(`\son[a-z]+=`),
	} {
		if m := bad.FindString(page); m != "" {
			t.Errorf("index.html has %q, which the CSP blocks", m)
		}
	}
	js, err := static.ReadFile("static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"eval(", "new Function", "innerHTML", "setAttribute(\"style\"", "document.write"} {
		if strings.Contains(string(js), bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
}

func TestContentSecurityPolicy(t *testing.T) {
	directives := func(csp string) map[string]string {
		out := map[string]string{}
		for _, d := range strings.Split(csp, ";") {
			name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
			if _, dup := out[name]; dup {
				t.Errorf("directive %s appears twice in %q", name, csp)
			}
			out[name] = value
		}
		return out
	}
	base := directives(ContentSecurityPolicy)
	for name, want := range map[string]string{
		"default-src":     "'none'",
		"script-src":      "'self'",
		"style-src":       "'self'",
		"img-src":         "'self'",
		"connect-src":     "'self'",
		"base-uri":        "'none'",
		"form-action":     "'none'",
		"frame-ancestors": "'none'",
	} {
		if base[name] != want {
			t.Errorf("ContentSecurityPolicy %s = %q, want %q", name, base[name], want)
		}
	}
	if strings.Contains(ContentSecurityPolicy, "unsafe") {
		t.Error("ContentSecurityPolicy allows something unsafe")
	}

	csp, err := CSP([]string{"http://127.0.0.1:9000"}, []string{"https://out.s3.eu-west-1.amazonaws.com", "https://out.s3.eu-west-1.amazonaws.com"})
	if err != nil {
		t.Fatal(err)
	}
	d := directives(csp)
	if d["connect-src"] != "'self' http://127.0.0.1:9000" {
		t.Errorf("connect-src %q", d["connect-src"])
	}
	if d["img-src"] != "'self' https://out.s3.eu-west-1.amazonaws.com" {
		t.Errorf("img-src %q (duplicates should collapse)", d["img-src"])
	}
	if d["script-src"] != "'self'" || d["default-src"] != "'none'" {
		t.Errorf("CSP widened more than connect-src and img-src: %q", csp)
	}
	if same, err := CSP(nil, nil); err != nil || same != ContentSecurityPolicy {
		t.Errorf("CSP(nil, nil) = %q, %v; want ContentSecurityPolicy", same, err)
	}
	if wild, err := CSP([]string{"https://*.s3.amazonaws.com"}, nil); err != nil || !strings.Contains(wild, "https://*.s3.amazonaws.com") {
		t.Errorf("wildcard host: %q, %v", wild, err)
	}
}

func TestCSPRefusesWhatIsNotAnOrigin(t *testing.T) {
	for _, bad := range []string{
		"", "*", "'unsafe-inline'", "data:", "ftp://x", "https://", "127.0.0.1:9000",
		"https://a.example; script-src *", "https://a.example/path", "https://a.*.example",
		"https://a.example 'unsafe-eval'",
	} {
		if _, err := CSP([]string{bad}, nil); err == nil {
			t.Errorf("CSP accepted connect-src %q", bad)
		}
		if _, err := CSP(nil, []string{bad}); err == nil {
			t.Errorf("CSP accepted img-src %q", bad)
		}
	}
}
