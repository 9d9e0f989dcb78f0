// Package cdn is the local cloud's CloudFront: it serves delivery URLs with the
// same paths, the same viewer-request function (the very JavaScript file the CDK
// app deploys, run with goja), the same response headers policy and the same
// cache semantics as the deployed distribution, from the local S3.
//
// What it mirrors: the origin path (variants/), the cache key (the URI the
// function produced, nothing else), GET and HEAD only, Cache-Control, ETag and
// Last-Modified from the object, If-None-Match and If-Modified-Since answered 304,
// Range, X-Cache, and a missing object answered 403 as S3 answers a distribution
// without s3:ListBucket. What it does not: TLS, HTTP/2 and HTTP/3, edge locations,
// access logs.
package cdn

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/shared/delivery"
	"github.com/imagepipe/imagepipe/shared/manifest"
)

// Getter is the part of *s3.Client the CDN reads objects with.
type Getter interface {
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Config describes one local distribution.
type Config struct {
	// Bucket is the origin; OriginPath ("variants", as deployed) is put in front
	// of every URI the function produces.
	Bucket     string
	OriginPath string
	Objects    Getter
	// AllowedOrigins get CORS answers, as the response headers policy lists them.
	AllowedOrigins []string
	// DistributionID and DomainName fill the function's event context.
	DistributionID, DomainName string
	// CacheBytes bounds the edge cache (64 MiB when zero); MaxObjectBytes is the
	// largest object it keeps (8 MiB when zero).
	CacheBytes, MaxObjectBytes int64
	Log                        *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// CDN is an http.Handler serving a distribution.
type CDN struct {
	cfg      Config
	function *Function
	cache    *cache
	requests int
	mu       sync.Mutex
}

// New compiles the deployed function and builds the distribution.
func New(cfg Config) (*CDN, error) {
	if cfg.Objects == nil || cfg.Bucket == "" {
		return nil, errors.New("cdn: objects and bucket are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CacheBytes == 0 {
		cfg.CacheBytes = 64 << 20
	}
	if cfg.MaxObjectBytes == 0 {
		cfg.MaxObjectBytes = 8 << 20
	}
	if cfg.DistributionID == "" {
		cfg.DistributionID = "ELOCALCLOUD"
	}
	cfg.OriginPath = strings.Trim(cfg.OriginPath, "/")
	fn, err := Compile("negotiate.js", delivery.FunctionCode)
	if err != nil {
		return nil, fmt.Errorf("cdn: %w", err)
	}
	return &CDN{cfg: cfg, function: fn, cache: newCache(cfg.CacheBytes)}, nil
}

// maxOriginBytes bounds one object read from the origin: more than the largest
// variant the engine can make (8192 x 8192).
const maxOriginBytes = 512 << 20

// DefaultOriginPath is the folder the deployed distribution serves.
var DefaultOriginPath = strings.TrimSuffix(manifest.VariantsPrefix, "/")

// object is one cached origin answer.
type object struct {
	key      string
	body     []byte
	header   http.Header
	modified time.Time
	fetched  time.Time
	expires  time.Time
}

func (c *CDN) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	c.policyHeaders(h, r)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		// The distribution allows GET and HEAD; CloudFront refuses the rest itself.
		h.Set("Allow", "GET, HEAD")
		writeText(w, http.StatusForbidden, "This distribution is not configured to allow the HTTP request method that was used for this request.")
		return
	}
	res, err := c.function.Run(c.event(r))
	if err != nil {
		c.cfg.Log.Error("cdn: viewer-request function", "uri", r.URL.Path, "error", err)
		writeText(w, http.StatusServiceUnavailable, "The CloudFront function associated with the request failed.")
		return
	}
	if res.Response != nil {
		c.writeGenerated(w, r, res.Response)
		return
	}
	key := strings.TrimPrefix(c.cfg.OriginPath+res.Request.URI, "/")
	obj, hit, status := c.lookup(r.Context(), key)
	if obj == nil {
		writeText(w, status, http.StatusText(status))
		return
	}
	for k, v := range obj.header {
		h[k] = v
	}
	if hit {
		h.Set("X-Cache", "Hit from localcloud")
		h.Set("Age", strconv.Itoa(max(0, int(c.cfg.Now().Sub(obj.fetched).Seconds()))))
	} else {
		h.Set("X-Cache", "Miss from localcloud")
	}
	// ServeContent answers If-None-Match (against the ETag set above),
	// If-Modified-Since, Range and HEAD as CloudFront does for a cached object.
	http.ServeContent(w, r, "", obj.modified, bytes.NewReader(obj.body))
}

// event is the CloudFront Functions event for a viewer request.
func (c *CDN) event(r *http.Request) Event {
	c.mu.Lock()
	c.requests++
	n := c.requests
	c.mu.Unlock()
	ev := Event{Version: "1.0", Context: EventContext{
		DistributionDomainName: c.cfg.DomainName, DistributionID: c.cfg.DistributionID,
		EventType: "viewer-request", RequestID: fmt.Sprintf("localcloud-%d", n),
	}}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		ev.Viewer.IP = host
	}
	req := Request{Method: r.Method, URI: r.URL.EscapedPath(), QueryString: map[string]Value{}, Headers: map[string]Value{}, Cookies: map[string]Value{}}
	for name, values := range r.Header {
		if strings.EqualFold(name, "Cookie") {
			continue
		}
		req.Headers[strings.ToLower(name)] = multi(values)
	}
	if r.Host != "" {
		req.Headers["host"] = Value{Value: r.Host}
	}
	for name, values := range r.URL.Query() {
		req.QueryString[name] = multi(values)
	}
	for _, ck := range r.Cookies() {
		v := req.Cookies[ck.Name]
		if v.Value == "" && len(v.MultiValue) == 0 {
			req.Cookies[ck.Name] = Value{Value: ck.Value}
			continue
		}
		if len(v.MultiValue) == 0 {
			v.MultiValue = []Value{{Value: v.Value}}
		}
		v.MultiValue = append(v.MultiValue, Value{Value: ck.Value})
		req.Cookies[ck.Name] = v
	}
	ev.Request = req
	return ev
}

func multi(values []string) Value {
	v := Value{Value: values[0]}
	if len(values) > 1 {
		for _, s := range values {
			v.MultiValue = append(v.MultiValue, Value{Value: s})
		}
	}
	return v
}

// lookup answers from the edge cache or fetches from the origin; status is the
// error to answer when there is no object.
func (c *CDN) lookup(ctx context.Context, key string) (obj *object, hit bool, status int) {
	if o := c.cache.get(key, c.cfg.Now()); o != nil {
		return o, true, 0
	}
	out, err := c.cfg.Objects.GetObject(ctx, &s3.GetObjectInput{Bucket: &c.cfg.Bucket, Key: &key})
	if manifest.IsNotFound(err) {
		// S3 answers 403, not 404, to a distribution that may not list the bucket.
		return nil, false, http.StatusForbidden
	}
	if err != nil {
		c.cfg.Log.Error("cdn: origin", "key", key, "error", err)
		return nil, false, http.StatusBadGateway
	}
	defer out.Body.Close()
	body, err := io.ReadAll(io.LimitReader(out.Body, maxOriginBytes+1))
	if err != nil || len(body) > maxOriginBytes {
		c.cfg.Log.Error("cdn: origin read", "key", key, "bytes", len(body), "error", err)
		return nil, false, http.StatusBadGateway
	}
	o := &object{key: key, body: body, header: http.Header{}, modified: c.cfg.Now(), fetched: c.cfg.Now()}
	if out.LastModified != nil {
		o.modified = *out.LastModified
	}
	set := func(name string, v *string) {
		if v != nil && *v != "" {
			o.header.Set(name, *v)
		}
	}
	set("Content-Type", out.ContentType)
	set("Cache-Control", out.CacheControl)
	set("ETag", out.ETag)
	if ttl := maxAge(o.header.Get("Cache-Control")); ttl > 0 && int64(len(body)) <= c.cfg.MaxObjectBytes {
		o.expires = c.cfg.Now().Add(ttl)
		c.cache.put(o)
	}
	return o, false, 0
}

// maxAge is the time a shared cache may keep an answer with this Cache-Control,
// or 0 when it may not (no-cache, no-store, private, or no max-age: the cache
// policy's default TTL is not modelled, so those are always fetched).
func maxAge(cc string) time.Duration {
	var age time.Duration
	for _, d := range strings.Split(cc, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "no-cache" || d == "no-store" || d == "private":
			return 0
		case strings.HasPrefix(d, "s-maxage="), strings.HasPrefix(d, "max-age=") && age == 0:
			_, v, _ := strings.Cut(d, "=")
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				age = time.Duration(n) * time.Second
			}
		}
	}
	return age
}

// policyHeaders adds what the response headers policy adds to every answer.
func (c *CDN) policyHeaders(h http.Header, r *http.Request) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Strict-Transport-Security", delivery.HSTS())
	h.Set("Content-Security-Policy", delivery.ContentSecurityPolicy)
	h.Set("Vary", delivery.Vary)
	if origin := r.Header.Get("Origin"); origin != "" && slices.Contains(c.cfg.AllowedOrigins, origin) {
		// A GET or HEAD is a simple request: the policy's answer is the origin
		// alone (methods and max age go only with preflights, which the
		// distribution does not take, as it allows GET and HEAD only).
		h.Set("Access-Control-Allow-Origin", origin)
	}
}

func (c *CDN) writeGenerated(w http.ResponseWriter, r *http.Request, resp *Response) {
	for name, v := range resp.Headers {
		w.Header().Set(name, v.Value)
	}
	body := []byte(resp.Body.Data)
	if resp.Body.Encoding == "base64" {
		writeText(w, http.StatusServiceUnavailable, "The CloudFront function returned a body this local CDN does not decode.")
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func writeText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

// CreateInvalidation drops cached answers whose keys match the batch's paths
// (exact, or a prefix ending in *), as CloudFront's API does; it makes
// *CDN a delivery.Invalidator for the local cloud.
func (c *CDN) CreateInvalidation(_ context.Context, in *cloudfront.CreateInvalidationInput, _ ...func(*cloudfront.Options)) (*cloudfront.CreateInvalidationOutput, error) {
	if in == nil || in.InvalidationBatch == nil || in.InvalidationBatch.Paths == nil || in.InvalidationBatch.CallerReference == nil {
		return nil, errors.New("cdn: CreateInvalidation needs an InvalidationBatch with a CallerReference and Paths")
	}
	if in.DistributionId == nil || *in.DistributionId != c.cfg.DistributionID {
		return nil, fmt.Errorf("cdn: no distribution %q (this one is %s)", deref(in.DistributionId), c.cfg.DistributionID)
	}
	for _, p := range in.InvalidationBatch.Paths.Items {
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("cdn: invalidation path %q does not begin with /", p)
		}
		prefix := strings.TrimPrefix(c.cfg.OriginPath+"/", "/") + strings.TrimPrefix(p, "/")
		if strings.HasSuffix(prefix, "*") {
			c.cache.drop(strings.TrimSuffix(prefix, "*"), true)
		} else {
			c.cache.drop(prefix, false)
		}
	}
	id := "I" + strconv.FormatInt(c.cfg.Now().UnixNano(), 36)
	status := "Completed"
	return &cloudfront.CreateInvalidationOutput{Invalidation: &cftypes.Invalidation{
		Id: &id, Status: &status, InvalidationBatch: in.InvalidationBatch,
	}}, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// cache is the edge cache: objects by key, least recently used dropped first,
// bounded in bytes.
type cache struct {
	mu    sync.Mutex
	limit int64
	size  int64
	order *list.List // of *object, most recent first
	byKey map[string]*list.Element
}

func newCache(limit int64) *cache {
	return &cache{limit: limit, order: list.New(), byKey: map[string]*list.Element{}}
}

func (c *cache) get(key string, now time.Time) *object {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		return nil
	}
	o := el.Value.(*object)
	if !now.Before(o.expires) {
		c.remove(el)
		return nil
	}
	c.order.MoveToFront(el)
	return o
}

func (c *cache) put(o *object) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[o.key]; ok {
		c.remove(el)
	}
	c.byKey[o.key] = c.order.PushFront(o)
	c.size += int64(len(o.body))
	for c.size > c.limit && c.order.Len() > 0 {
		c.remove(c.order.Back())
	}
}

func (c *cache) drop(key string, prefix bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, el := range c.byKey {
		if k == key || prefix && strings.HasPrefix(k, key) {
			c.remove(el)
		}
	}
}

func (c *cache) remove(el *list.Element) {
	o := c.order.Remove(el).(*object)
	delete(c.byKey, o.key)
	c.size -= int64(len(o.body))
}
