// Package delivery maps variants to their public URLs on the CDN and holds the
// CloudFront Function that picks the best encoding for each browser. The CDK app
// deploys that function, the local cloud runs the same file, and the API and the
// events use these URLs, so every part agrees on one URL scheme.
//
// A variant's objects are variants/{id}/{name}-{tag}.{ext}, one per encoding
// (manifest.VariantKey). The CDN serves the variants/ folder at its root, so:
//
//	{base}/{id}/{name}-{tag}.avif.webp.jpg  the variant: the best encoding this browser accepts
//	{base}/{id}/{name}-{tag}.webp           one encoding, always (for <picture> sources)
package delivery

import (
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/imagepipe/imagepipe/shared/manifest"
)

// FunctionCode is the CloudFront Function (JavaScript runtime 2.0, viewer
// request) that turns a variant URL into the object of the best encoding.
//
//go:embed negotiate.js
var FunctionCode string

// Preference lists the alternate encodings the function negotiates, best first
// (the order it breaks ties in); it must match PREFERENCE in negotiate.js.
var Preference = []string{"avif", "webp"}

// Exts are the encodings the CDN serves, by manifest format name; a format not
// here (a future one) keeps its fixed-format URL but is left out of negotiation.
var Exts = map[string]string{"avif": "avif", "webp": "webp", "jpeg": "jpg", "png": "png"}

// ContentTypes are the media types of the extensions in Exts.
var ContentTypes = map[string]string{"avif": "image/avif", "webp": "image/webp", "jpg": "image/jpeg", "png": "image/png"}

// CheckBase reports whether base can prefix delivery URLs: an absolute http(s)
// URL with a host and no query, fragment or trailing slash.
func CheckBase(base string) error {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" ||
		strings.HasSuffix(base, "/") || u.User != nil {
		return fmt.Errorf("CDN base URL %q: want an absolute URL like https://d111111abcdef8.cloudfront.net, with no trailing slash", base)
	}
	return nil
}

// objectKey is the shape of the keys the CDN serves (manifest.VariantKey), the
// same shape negotiate.js accepts.
var objectKey = regexp.MustCompile(`^` + regexp.QuoteMeta(manifest.VariantsPrefix) +
	`([0-9a-f]{32}/[a-z0-9][a-z0-9_-]{0,31}-[0-9a-f]{` + strconv.Itoa(manifest.TagLen) + `})\.([a-z0-9]+)$`)

// path is the CDN path of a variant object's key, without its extension, and the
// extension. Keys of another shape (written before keys carried a tag) are not
// served by the CDN: the function would answer them 404.
func path(key string) (stem, ext string, err error) {
	m := objectKey.FindStringSubmatch(key)
	if m == nil || ContentTypes[m[2]] == "" {
		return "", "", fmt.Errorf("key %q is not a tagged variant object under %s", key, manifest.VariantsPrefix)
	}
	return m[1], m[2], nil
}

// ErrNotVariant is returned for a key the CDN does not serve.
var ErrNotVariant = errors.New("not a variant object")

// ObjectURL is the fixed-format URL of one object of a variant (the primary's key
// or an alternate's): it always serves exactly that encoding.
func ObjectURL(base, key string) (string, error) {
	stem, ext, err := path(key)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNotVariant, err)
	}
	return base + "/" + stem + "." + ext, nil
}

// VariantURL is the one URL of a variant: it lists the variant's encodings that
// share its primary's name, alternates in Preference order and the primary last,
// and the CDN answers each browser with the best of them it accepts.
func VariantURL(base string, v manifest.Variant) (string, error) {
	stem, primary, err := path(v.Key)
	if err != nil {
		return "", fmt.Errorf("%w: variant %s: %w", ErrNotVariant, v.Name, err)
	}
	have := map[string]bool{}
	for _, a := range v.Alternates {
		astem, ext, err := path(a.Key)
		// An alternate stored under another name cannot be reached by rewriting
		// the extension; it keeps its own fixed-format URL.
		if err == nil && astem == stem && Exts[a.Format] == ext {
			have[ext] = true
		}
	}
	var b strings.Builder
	b.WriteString(base + "/" + stem)
	for _, ext := range Preference {
		if have[ext] && ext != primary {
			b.WriteString("." + ext)
		}
	}
	b.WriteString("." + primary)
	return b.String(), nil
}

// InvalidationPaths are the CDN paths that cover every URL of an image: what an
// invalidation must name after its variants are deleted.
func InvalidationPaths(id string) []string { return []string{"/" + id + "/*"} }

// The response headers policy of the CDN (infra/cdn.go) and of the local CDN
// (localcloud/cdn): one definition, so the two send the same headers.
const (
	// ContentSecurityPolicy is strict for image answers: no script, no frame, no
	// load but the image itself, so a mislabelled object could not become a page.
	// Inline style is allowed because browsers style the document they wrap an
	// image opened on its own in, and would log a violation on every view.
	ContentSecurityPolicy = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'none'"
	// HSTSSeconds is the Strict-Transport-Security max-age: two years, the
	// preload lists' minimum.
	HSTSSeconds = 63072000
	// Vary says that one URL answers by the request's Accept (the format) and
	// Origin (CORS), so no browser or proxy cache reuses an answer across them.
	Vary = "Accept, Origin"
	// CORSMaxAgeSeconds is how long a browser may cache a CORS preflight answer.
	CORSMaxAgeSeconds = 600
)

// HSTS is the Strict-Transport-Security value the CDN sends.
func HSTS() string { return fmt.Sprintf("max-age=%d; includeSubDomains", HSTSSeconds) }
