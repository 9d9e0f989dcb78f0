package localcloud

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"

	"github.com/imagepipe/imagepipe/localcloud/sigv4"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// S3Gateway stands in front of gofakes3 and adds what gofakes3 does not do but
// S3 does: SigV4 checks, a strict CORS policy, atomic conditional writes
// (If-None-Match: *, If-Match), and bucket
// notifications. It also injects faults for tests.
type S3Gateway struct {
	Next     http.Handler
	Backend  gofakes3.Backend
	Verifier *sigv4.Verifier
	// CORS holds each bucket's CORS rule; a bucket without one answers no
	// cross-origin request, as in S3.
	CORS map[string]settings.CORSRule
	// MaxUploadBytes bounds what a request body may hold where the gateway reads
	// it itself (hash-signed bodies, form uploads); S3's own 5 GiB when zero.
	MaxUploadBytes int64
	Faults         *Faults
	Notifier       *Notifier
	Log            *slog.Logger

	// stripes serialise writes per key, so a conditional PUT's existence check and
	// its write cannot interleave with another write of the same key.
	stripes [64]sync.Mutex
}

const corsRefused = "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (g *S3Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		g.preflight(w, r)
		return
	}
	bucket, key := splitPath(r.URL.Path)
	cw := &corsWriter{ResponseWriter: w}
	if rule, ok := g.CORS[bucket]; ok {
		if o := r.Header.Get("Origin"); o != "" && slices.Contains(rule.Origins, o) {
			cw.origin, cw.expose = o, rule.ExposedHeaders
		}
	}
	w = cw

	var signed *sigv4.Signed
	var refusal *sigv4.Error
	if isBrowserPost(r, key) {
		signed, refusal = g.verifyPost(w, r, bucket)
	} else {
		signed, refusal = g.Verifier.Verify(r)
	}
	if refusal != nil {
		writeS3Error(w, r, refusal.Status, refusal.Code, refusal.Message)
		return
	}
	switch p := signed.PayloadHash; {
	case hexSHA256.MatchString(p):
		// The signature covers the body's hash: check the body matches it. The body
		// is held in memory for that, so it is bounded first.
		limit := g.maxUpload()
		if r.ContentLength > limit {
			writeS3Error(w, r, http.StatusBadRequest, "EntityTooLarge", entityTooLarge)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if int64(len(body)) > limit {
			writeS3Error(w, r, http.StatusBadRequest, "EntityTooLarge", entityTooLarge)
			return
		}
		if err != nil {
			writeS3Error(w, r, http.StatusBadRequest, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.")
			return
		}
		if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != p {
			writeS3Error(w, r, http.StatusBadRequest, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	case p == "UNSIGNED-PAYLOAD" || p == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD":
		// gofakes3 decodes aws-chunked bodies; chunk signatures are not checked.
	default:
		writeS3Error(w, r, http.StatusNotImplemented, "NotImplemented", "x-amz-content-sha256 "+p+" is not supported by the local cloud")
		return
	}

	if g.Faults != nil {
		if f := g.Faults.check(r.Method, bucket, key); f != nil {
			if f.Delay > 0 {
				t := time.NewTimer(f.Delay)
				select {
				case <-t.C:
				case <-r.Context().Done():
					t.Stop()
					return
				}
			}
			if f.Status != 0 {
				writeS3Error(w, r, f.Status, f.Code, f.Message)
				return
			}
		}
	}

	event := createEvent(r, key)
	if event == EventPost {
		// S3 answers a form upload with success_action_status, 204 by default.
		cw.success = http.StatusNoContent
		if v := r.MultipartForm.Value["success_action_status"]; len(v) == 1 && (v[0] == "200" || v[0] == "201") {
			cw.success, _ = strconv.Atoi(v[0])
		}
	}
	if event != "" && key != "" {
		mu := g.stripe(bucket, key)
		mu.Lock()
		defer mu.Unlock()
		if g.refuseConditionalWrite(w, r, bucket, key) {
			return
		}
	}
	keepCacheControl(r)
	g.Next.ServeHTTP(cw, r)
	if !cw.wroteHeader {
		// gofakes3 answered with an implicit 200: send it through our CORS headers.
		cw.WriteHeader(http.StatusOK)
	}

	if event == "" || cw.status >= 300 || g.Notifier == nil {
		return
	}
	if event == EventPost && r.MultipartForm != nil {
		// gofakes3 has parsed the form; the key is one of its fields.
		if k := r.MultipartForm.Value["key"]; len(k) == 1 {
			key = k[0]
		}
	}
	if !g.Notifier.Matches(bucket, key) {
		return
	}
	g.notify(r, event, bucket, key, cw.Header().Get("x-amz-request-id"))
}

// How hard the gateway tries to deliver one notification: the object is written
// by then, so the event must not depend on the client staying connected.
const (
	notifyTimeout  = 5 * time.Second
	notifyAttempts = 3
	notifyBackoff  = 100 * time.Millisecond
)

func (g *S3Gateway) notify(r *http.Request, event, bucket, key, requestID string) {
	obj, err := g.Backend.HeadObject(bucket, key)
	if err != nil {
		g.Log.Error("notification: object vanished", "bucket", bucket, "key", key, "err", err)
		return
	}
	_ = obj.Contents.Close()
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	// A client that hangs up once S3 has stored its object still gets its event.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), notifyTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		err = g.Notifier.ObjectCreated(ctx, event, key, obj.Size, hex.EncodeToString(obj.Hash), ip, requestID)
		if err == nil {
			return
		}
		if attempt == notifyAttempts || ctx.Err() != nil {
			break
		}
		g.Log.Warn("notification failed; retrying", "bucket", bucket, "key", key, "attempt", attempt, "err", err)
		t := time.NewTimer(time.Duration(attempt) * notifyBackoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	// S3 retries deliveries internally; a restart of the local cloud re-enqueues
	// uploads that have no manifest (see Cloud.Recover).
	g.Log.Error("notification not delivered", "bucket", bucket, "key", key, "err", err)
}

func (g *S3Gateway) stripe(bucket, key string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = io.WriteString(h, bucket+"/"+key)
	return &g.stripes[h.Sum32()%uint32(len(g.stripes))]
}

// preflight answers a CORS preflight as S3 does with a bucket CORS rule.
func (g *S3Gateway) preflight(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	method := r.Header.Get("Access-Control-Request-Method")
	if origin == "" || method == "" {
		writeS3Error(w, r, http.StatusBadRequest, "BadRequest", "Insufficient information. Origin request header needed.")
		return
	}
	bucket, _ := splitPath(r.URL.Path)
	rule, hasRule := g.CORS[bucket]
	if !hasRule {
		writeS3Error(w, r, http.StatusForbidden, "AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.")
		return
	}
	ok := slices.Contains(rule.Origins, origin) && slices.Contains(rule.Methods, method)
	var asked []string
	for _, h := range strings.Split(r.Header.Get("Access-Control-Request-Headers"), ",") {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		asked = append(asked, h)
		if !slices.Contains(rule.AllowedHeaders, h) {
			ok = false
		}
	}
	if !ok {
		writeS3Error(w, r, http.StatusForbidden, "AccessForbidden", corsRefused)
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", strings.Join(rule.Methods, ", "))
	if len(asked) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(asked, ", "))
	}
	if len(rule.ExposedHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(rule.ExposedHeaders, ", "))
	}
	if rule.MaxAge > 0 {
		h.Set("Access-Control-Max-Age", strconv.Itoa(int(rule.MaxAge/time.Second)))
	}
	h.Set("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method")
	w.WriteHeader(http.StatusOK)
}

// corsWriter records the status and replaces gofakes3's allow-everything CORS
// headers with the configured policy's.
type corsWriter struct {
	http.ResponseWriter
	// origin is the request's Origin when the bucket's rule allows it.
	origin      string
	expose      []string
	status      int
	wroteHeader bool
	// success, when set, replaces a 200 from gofakes3.
	success int
}

func (c *corsWriter) WriteHeader(status int) {
	if c.wroteHeader {
		return
	}
	c.wroteHeader = true
	if status == http.StatusOK && c.success != 0 {
		status = c.success
	}
	c.status = status
	h := c.Header()
	for k := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			delete(h, k)
		}
	}
	restoreCacheControl(h)
	h.Add("Vary", "Origin")
	if c.origin != "" {
		h.Set("Access-Control-Allow-Origin", c.origin)
		if len(c.expose) > 0 {
			h.Set("Access-Control-Expose-Headers", strings.Join(c.expose, ", "))
		}
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *corsWriter) Write(b []byte) (int, error) {
	if !c.wroteHeader {
		c.WriteHeader(http.StatusOK)
	}
	return c.ResponseWriter.Write(b)
}

// maxPostMemory is how much of a form upload is held in memory; the rest spills
// to temporary files.
const maxPostMemory = 32 << 20

// postFieldsOverhead is room for a form upload's other fields (policy, signature,
// metadata) and multipart framing on top of the file itself.
const postFieldsOverhead = 64 << 10

// s3MaxPut is S3's limit on a single PUT.
const s3MaxPut = 5 << 30

const entityTooLarge = "Your proposed upload exceeds the maximum allowed size"

func (g *S3Gateway) maxUpload() int64 {
	if g.MaxUploadBytes > 0 {
		return g.MaxUploadBytes
	}
	return s3MaxPut
}

// isBrowserPost reports whether r is an HTML form upload to a bucket.
func isBrowserPost(r *http.Request, key string) bool {
	return r.Method == http.MethodPost && key == "" && !r.URL.Query().Has("delete") &&
		strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data")
}

// verifyPost parses the form (gofakes3 reuses the parsed form), checks its policy,
// and leaves in the form only the fields that were checked, in the spelling
// gofakes3 reads, so that what is stored is what was verified.
func (g *S3Gateway) verifyPost(w http.ResponseWriter, r *http.Request, bucket string) (*sigv4.Signed, *sigv4.Error) {
	// Bound the body before parsing: the parser would otherwise spill any amount
	// to temporary files before the policy's content-length-range is looked at.
	r.Body = http.MaxBytesReader(w, r.Body, g.maxUpload()+postFieldsOverhead)
	if err := r.ParseMultipartForm(maxPostMemory); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, &sigv4.Error{Status: http.StatusBadRequest, Code: "EntityTooLarge", Message: entityTooLarge}
		}
		return nil, &sigv4.Error{Status: http.StatusBadRequest, Code: "MalformedPOSTRequest",
			Message: "The body of your POST request is not well-formed multipart/form-data."}
	}
	files := r.MultipartForm.File["file"]
	if len(files) != 1 || len(r.MultipartForm.File) != 1 {
		return nil, &sigv4.Error{Status: http.StatusBadRequest, Code: "InvalidArgument",
			Message: "POST requires exactly one file upload per request."}
	}
	signed, refusal := g.Verifier.VerifyPost(bucket, r.MultipartForm.Value, files[0].Size)
	if refusal != nil {
		return nil, refusal
	}
	r.MultipartForm.Value = storedFields(signed.Fields)
	return signed, nil
}

// storedFields turns checked form fields into the form gofakes3 stores from: the
// key as "key", success_action_status as is, and the object's headers (content-*,
// x-amz-meta-*, ...) in canonical header spelling, which is what gofakes3 matches
// to keep them as metadata. The authentication fields are not object metadata
// and are left out, as S3 leaves them out.
func storedFields(checked map[string]string) map[string][]string {
	out := make(map[string][]string, len(checked))
	for name, v := range checked {
		switch {
		case name == "key" || name == "success_action_status":
			out[name] = []string{v}
		case name == "policy" || name == "x-amz-signature" || name == "x-amz-credential" ||
			name == "x-amz-algorithm" || name == "x-amz-date" || name == "x-amz-security-token" ||
			name == "file" || strings.HasPrefix(name, "x-ignore-"):
		default:
			out[http.CanonicalHeaderKey(name)] = []string{v}
		}
	}
	return out
}

// createEvent names the s3:ObjectCreated event a request would cause, or "".
func createEvent(r *http.Request, key string) string {
	q := r.URL.Query()
	switch r.Method {
	case http.MethodPut:
		if key == "" || q.Has("uploadId") || q.Has("partNumber") || q.Has("tagging") || q.Has("acl") {
			return ""
		}
		if r.Header.Get("X-Amz-Copy-Source") != "" {
			return EventCopy
		}
		return EventPut
	case http.MethodPost:
		if key != "" && q.Has("uploadId") {
			return EventComplete
		}
		if isBrowserPost(r, key) {
			return EventPost
		}
	}
	return ""
}

// splitPath splits a path-style S3 URL path into bucket and key.
func splitPath(p string) (bucket, key string) {
	bucket, key, _ = strings.Cut(strings.TrimPrefix(p, "/"), "/")
	return bucket, key
}
