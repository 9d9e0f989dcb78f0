package cdn

import (
	"strings"
	"testing"

	"github.com/imagepipe/imagepipe/shared/delivery"
	"github.com/imagepipe/imagepipe/shared/manifest"
)

const (
	testID   = "0123456789abcdef0123456789abcdef"
	testStem = "/" + testID + "/thumb-0a1b2c3d"
)

func deployed(t *testing.T) *Function {
	t.Helper()
	fn, err := Compile("negotiate.js", delivery.FunctionCode)
	if err != nil {
		t.Fatal(err)
	}
	return fn
}

func viewerRequest(uri string, accept ...string) Event {
	ev := Event{Version: "1.0", Context: EventContext{EventType: "viewer-request"},
		Request: Request{Method: "GET", URI: uri, QueryString: map[string]Value{"w": {Value: "9"}}, Headers: map[string]Value{}, Cookies: map[string]Value{}}}
	if len(accept) > 0 {
		ev.Request.Headers["accept"] = multi(accept)
	}
	return ev
}

// Browsers' real image Accept headers, for the table below.
const (
	chrome  = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
	firefox = "image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
	safari  = "image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
	oldEdge = "image/webp,image/apng,image/*,*/*;q=0.8"
	legacy  = "image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
)

// TestNegotiation runs the deployed function's own file on viewer requests and
// checks the object each one is rewritten to.
func TestNegotiation(t *testing.T) {
	fn := deployed(t)
	tests := []struct {
		name   string
		uri    string
		accept []string
		want   string // the rewritten URI's extension
	}{
		{"chrome gets avif", ".avif.webp.jpg", []string{chrome}, "avif"},
		{"firefox gets avif", ".avif.webp.jpg", []string{firefox}, "avif"},
		{"safari gets avif", ".avif.webp.jpg", []string{safari}, "avif"},
		{"webp-only browser gets webp", ".avif.webp.jpg", []string{oldEdge}, "webp"},
		{"legacy browser gets the primary", ".avif.webp.jpg", []string{legacy}, "jpg"},
		{"no accept header gets the primary", ".avif.webp.jpg", nil, "jpg"},
		{"empty accept header gets the primary", ".avif.webp.jpg", []string{""}, "jpg"},
		{"a wildcard does not admit avif", ".avif.webp.jpg", []string{"*/*"}, "jpg"},
		{"image/* does not admit webp", ".webp.png", []string{"image/*"}, "png"},
		{"avif refused with q=0", ".avif.webp.jpg", []string{"image/avif;q=0, image/webp, */*"}, "webp"},
		{"both refused with q=0", ".avif.webp.jpg", []string{"image/avif;q=0,image/webp;q=0,image/*"}, "jpg"},
		{"q=0.000 refuses too", ".avif.jpg", []string{"image/avif;q=0.000,*/*"}, "jpg"},
		{"higher q wins over preference", ".avif.webp.jpg", []string{"image/avif;q=0.5,image/webp;q=0.9"}, "webp"},
		{"primary preferred by q", ".avif.webp.jpg", []string{"image/jpeg,image/avif;q=0.4"}, "jpg"},
		{"tie goes to avif", ".avif.webp.jpg", []string{"image/webp;q=0.7,image/avif;q=0.7,image/jpeg;q=0.7"}, "avif"},
		{"case and spaces do not matter", ".avif.webp.jpg", []string{"  IMAGE/AVIF ; Q=1 , */*"}, "avif"},
		{"malformed q ignores the entry", ".avif.webp.jpg", []string{"image/avif;q=2,image/webp;q=abc,*/*"}, "jpg"},
		{"other parameters are ignored", ".avif.jpg", []string{"image/avif;foo=bar;q=0.9"}, "avif"},
		{"several accept headers are joined", ".avif.webp.jpg", []string{"text/html", "image/webp"}, "webp"},
		{"avif missing: webp served", ".webp.jpg", []string{chrome}, "webp"},
		{"alternates missing: primary served", ".jpg", []string{chrome}, "jpg"},
		{"png primary with avif", ".avif.png", []string{firefox}, "avif"},
		{"png primary for a legacy browser", ".avif.png", []string{legacy}, "png"},
		{"fixed-format webp URL stays webp", ".webp", []string{legacy}, "webp"},
		{"fixed-format avif URL stays avif", ".avif", nil, "avif"},
		{"order in the URL does not change preference", ".webp.avif.jpg", []string{chrome}, "avif"},
		{"only a q above 0 admits", ".avif.webp.jpg", []string{"image/avif;q=0.001"}, "avif"},
		{"duplicate ranges keep the highest q", ".avif.jpg", []string{"image/avif;q=0,image/avif;q=0.5"}, "avif"},
		{"webp as primary for a legacy browser", ".avif.webp", []string{legacy}, "webp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := fn.Run(viewerRequest(testStem+tc.uri, tc.accept...))
			if err != nil {
				t.Fatal(err)
			}
			if res.Request == nil {
				t.Fatalf("answered %+v, want the request forwarded", res.Response)
			}
			if want := testStem + "." + tc.want; res.Request.URI != want {
				t.Errorf("Accept %q: uri %q, want %q", tc.accept, res.Request.URI, want)
			}
			if len(res.Request.QueryString) != 0 {
				t.Errorf("query string %v forwarded: it would split the cache", res.Request.QueryString)
			}
		})
	}
}

// TestNotVariantURLs: anything that is not a variant URL is answered 404 by the
// function, so nothing else in the bucket is ever requested from the origin.
func TestNotVariantURLs(t *testing.T) {
	fn := deployed(t)
	for _, uri := range []string{
		"/", "/index.html", "/" + testID, "/" + testID + "/",
		"/manifests/" + testID + ".json", "/../manifests/" + testID + ".json",
		"/" + testID + "/manifest.json", "/" + testID + "/thumb.jpg",
		"/" + testID + "/thumb-0a1b2c3d", "/" + testID + "/thumb-0a1b2c3d.",
		"/" + testID + "/thumb-0a1b2c3d.gif", "/" + testID + "/thumb-0a1b2c3d.jpg.jpg",
		"/" + testID + "/thumb-0a1b2c3d.avif.webp.png.jpg.avif",
		"/" + testID + "/thumb-0A1B2C3D.jpg", "/" + strings.ToUpper(testID) + "/thumb-0a1b2c3d.jpg",
		"/" + testID + "/../x/thumb-0a1b2c3d.jpg", "/" + testID + "/Thumb-0a1b2c3d.jpg",
		"/" + testID + "/thumb-0a1b2c3d.jpg/", "/" + testID + "/thumb-0a1b2c3d.jpg%00",
		"/" + testID + "/-0a1b2c3d.jpg", "//" + testID + "/thumb-0a1b2c3d.jpg",
	} {
		res, err := fn.Run(viewerRequest(uri, chrome))
		if err != nil {
			t.Fatalf("%s: %v", uri, err)
		}
		if res.Response == nil || res.Response.StatusCode != 404 {
			t.Errorf("%s: forwarded as %+v, want a 404 from the function", uri, res.Request)
		}
	}
}

// TestFunctionLimits: a function that misbehaves fails the request instead of
// hanging or answering garbage.
func TestFunctionLimits(t *testing.T) {
	for name, src := range map[string]string{
		"no handler":      "var x = 1;",
		"throws":          "function handler(e) { throw new Error('boom'); }",
		"runs forever":    "function handler(e) { for (;;) {} }",
		"returns nothing": "function handler(e) { }",
		"changes method":  "function handler(e) { e.request.method = 'POST'; return e.request; }",
		"relative uri":    "function handler(e) { e.request.uri = 'x'; return e.request; }",
	} {
		fn, err := Compile(name, src)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		fn.limit = 50 * 1e6 // 50ms
		if _, err := fn.Run(viewerRequest(testStem + ".jpg")); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestFunctionSize: CloudFront refuses function code over 10 KB.
func TestFunctionSize(t *testing.T) {
	if n := len(delivery.FunctionCode); n > 10*1024 {
		t.Errorf("negotiate.js is %d bytes; CloudFront Functions take at most 10240", n)
	}
}

// TestURLsFromDeliveryAreServed: every URL shared/delivery makes for a manifest
// variant is forwarded by the function to one of that variant's own objects, for
// any browser, so the status API never hands out a URL the CDN answers 404.
func TestURLsFromDeliveryAreServed(t *testing.T) {
	fn := deployed(t)
	const base = "https://cdn.example"
	for _, formats := range [][]string{nil, {"webp"}, {"avif"}, {"webp", "avif"}, {"avif", "webp"}} {
		for _, primary := range []string{"jpeg", "png"} {
			for _, name := range []string{"thumb", "a", "x-large_2", "0"} {
				key := func(format string) string {
					return manifest.VariantKey(testID, name, "0a1b2c3d", delivery.Exts[format])
				}
				v := manifest.Variant{Name: name, Format: primary, Key: key(primary)}
				keys := map[string]bool{key(primary): true}
				for _, f := range formats {
					v.Alternates = append(v.Alternates, manifest.Alternate{Format: f, Key: key(f)})
					keys[key(f)] = true
				}
				urls := []string{}
				u, err := delivery.VariantURL(base, v)
				if err != nil {
					t.Fatal(err)
				}
				urls = append(urls, u)
				for _, a := range v.Alternates {
					u, err := delivery.ObjectURL(base, a.Key)
					if err != nil {
						t.Fatal(err)
					}
					urls = append(urls, u)
				}
				for _, u := range urls {
					for _, accept := range []string{chrome, firefox, safari, oldEdge, legacy, ""} {
						res, err := fn.Run(viewerRequest(strings.TrimPrefix(u, base), accept))
						if err != nil {
							t.Fatal(err)
						}
						if res.Request == nil || !keys[strings.TrimPrefix(DefaultOriginPath+res.Request.URI, "/")] {
							t.Errorf("%s with Accept %q: %+v, want one of %v", u, accept, res, keys)
						}
					}
				}
			}
		}
	}
}
