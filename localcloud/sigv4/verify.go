// Package sigv4 checks AWS Signature Version 4 on incoming S3 requests, both
// header-signed and presigned (query) ones. It recomputes each signature with the
// SDK's own signer over exactly the headers the client said it signed, so the
// local cloud refuses what S3 would refuse without any hand-rolled crypto.
package sigv4

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	algorithm       = "AWS4-HMAC-SHA256"
	amzDateFormat   = "20060102T150405Z"
	unsignedPayload = "UNSIGNED-PAYLOAD"
	// maxPresignExpiry is S3's limit: seven days.
	maxPresignExpiry = 7 * 24 * time.Hour
	// defaultMaxSkew is how far S3 lets a header-signed request's clock drift.
	defaultMaxSkew = 15 * time.Minute
)

// Error is a refusal in S3's terms: the HTTP status and the XML error code.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Signed describes a request whose signature checked out.
type Signed struct {
	AccessKeyID string
	Presigned   bool
	// SignedHeaders are the lower-case names the signature covers.
	SignedHeaders []string
	// PayloadHash is the x-amz-content-sha256 value the signature covers: a hex
	// SHA-256 the caller must check against the body, or UNSIGNED-PAYLOAD, or a
	// STREAMING-* marker.
	PayloadHash string
	// Fields are a browser POST's form fields as checked: lower-case names, one
	// value each.
	Fields map[string]string
}

// Verifier checks signatures for one service in one region.
type Verifier struct {
	// Keys maps access key IDs to their secrets.
	Keys    map[string]string
	Region  string
	Service string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// MaxSkew bounds the clock difference of header-signed requests (15m when zero).
	MaxSkew time.Duration
	signer  *v4.Signer
}

// New returns a Verifier for S3-style signing (no double path escaping).
func New(region, service string, keys map[string]string) *Verifier {
	return &Verifier{
		Keys:    keys,
		Region:  region,
		Service: service,
		signer: v4.NewSigner(func(o *v4.SignerOptions) {
			// S3 canonicalises the path as sent, without escaping it a second time.
			o.DisableURIPathEscaping = true
			// Recompute over the headers as the client sent them; never move them.
			o.DisableHeaderHoisting = true
		}),
	}
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

var (
	errUnsigned = &Error{http.StatusForbidden, "AccessDenied", "Access Denied"}
	errMismatch = &Error{http.StatusForbidden, "SignatureDoesNotMatch",
		"The request signature we calculated does not match the signature you provided. Check your key and signing method."}
	errUnknownKey = &Error{http.StatusForbidden, "InvalidAccessKeyId",
		"The AWS Access Key Id you provided does not exist in our records."}
	errExpired = &Error{http.StatusForbidden, "AccessDenied", "Request has expired"}
)

// checkAllSigned refuses x-amz-* headers the signature does not cover, as S3 does:
// gofakes3 acts on them (x-amz-copy-source turns a PUT into a copy, x-amz-meta-*
// become metadata), so an unsigned one would let the holder of a presigned URL
// do something else than what was signed. exempt names headers the
// authentication scheme lets the client leave unsigned.
func checkAllSigned(r *http.Request, signed []string, exempt ...string) *Error {
	var unsigned []string
	for name := range r.Header {
		h := strings.ToLower(name)
		if strings.HasPrefix(h, "x-amz-") && !contains(signed, h) && !contains(exempt, h) {
			unsigned = append(unsigned, h)
		}
	}
	if len(unsigned) == 0 {
		return nil
	}
	slices.Sort(unsigned)
	return &Error{http.StatusForbidden, "AccessDenied",
		"There were headers present in the request which were not signed: " + strings.Join(unsigned, ", ")}
}

// Verify checks r's signature. r's body is not read.
func (v *Verifier) Verify(r *http.Request) (*Signed, *Error) {
	q := r.URL.Query()
	auth := r.Header.Get("Authorization")
	switch {
	case auth != "" && q.Has("X-Amz-Signature"):
		return nil, &Error{http.StatusBadRequest, "InvalidArgument",
			"Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified"}
	case auth != "":
		return v.verifyHeader(r, auth)
	case q.Has("X-Amz-Signature") || q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Credential"):
		return v.verifyQuery(r, q)
	default:
		return nil, errUnsigned
	}
}

// VerifyBody checks a header-signed request of a service other than S3 (SQS,
// EventBridge), whose clients sign the body's hash without sending it in
// x-amz-content-sha256: the hash is computed from body, which the caller has read
// (bounded) from r.
func (v *Verifier) VerifyBody(r *http.Request, body []byte) (*Signed, *Error) {
	if r.Header.Get("Authorization") == "" {
		return nil, errUnsigned
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	switch sent := r.Header.Get("X-Amz-Content-Sha256"); sent {
	case "":
		r = r.Clone(r.Context())
		r.Header.Set("X-Amz-Content-Sha256", hash)
	case hash:
	default:
		return nil, &Error{http.StatusBadRequest, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed."}
	}
	return v.Verify(r)
}

// scope is the parsed Credential value: AKID/yyyymmdd/region/service/aws4_request.
type scope struct {
	accessKey, date, region, service string
}

func parseCredential(s string) (scope, bool) {
	parts := strings.Split(s, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" || parts[0] == "" {
		return scope{}, false
	}
	return scope{parts[0], parts[1], parts[2], parts[3]}, true
}

func (v *Verifier) checkScope(sc scope, signedAt time.Time) (aws.Credentials, *Error) {
	secret, ok := v.Keys[sc.accessKey]
	if !ok {
		return aws.Credentials{}, errUnknownKey
	}
	if sc.region != v.Region {
		return aws.Credentials{}, &Error{http.StatusBadRequest, "AuthorizationHeaderMalformed",
			fmt.Sprintf("The authorization header is malformed; the region '%s' is wrong; expecting '%s'", sc.region, v.Region)}
	}
	if sc.service != v.Service || sc.date != signedAt.UTC().Format("20060102") {
		// A scope that disagrees with the request yields a different signing key.
		return aws.Credentials{}, errMismatch
	}
	return aws.Credentials{AccessKeyID: sc.accessKey, SecretAccessKey: secret, Source: "sigv4.Verifier"}, nil
}

func (v *Verifier) verifyHeader(r *http.Request, auth string) (*Signed, *Error) {
	malformed := &Error{http.StatusBadRequest, "AuthorizationHeaderMalformed", "The authorization header is malformed"}
	rest, ok := strings.CutPrefix(auth, algorithm+" ")
	if !ok {
		return nil, &Error{http.StatusBadRequest, "InvalidArgument", "Unsupported Authorization Type"}
	}
	fields := map[string]string{}
	for _, f := range strings.Split(rest, ",") {
		k, val, found := strings.Cut(strings.TrimSpace(f), "=")
		if !found {
			return nil, malformed
		}
		fields[k] = val
	}
	sc, ok := parseCredential(fields["Credential"])
	if !ok || fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return nil, malformed
	}
	signedAt, err := time.Parse(amzDateFormat, r.Header.Get("X-Amz-Date"))
	if err != nil {
		return nil, &Error{http.StatusForbidden, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header"}
	}
	skew := v.MaxSkew
	if skew == 0 {
		skew = defaultMaxSkew
	}
	if d := v.now().Sub(signedAt); d > skew || d < -skew {
		return nil, &Error{http.StatusForbidden, "RequestTimeTooSkewed",
			"The difference between the request time and the current time is too large."}
	}
	creds, e := v.checkScope(sc, signedAt)
	if e != nil {
		return nil, e
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		return nil, &Error{http.StatusBadRequest, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"}
	}
	signedHeaders := strings.Split(fields["SignedHeaders"], ";")
	req := v.rebuild(r, r.URL.RawQuery, signedHeaders)
	if err := v.signer.SignHTTP(context.Background(), creds, req, payload, v.Service, v.Region, signedAt); err != nil {
		return nil, &Error{http.StatusInternalServerError, "InternalError", err.Error()}
	}
	want := signatureOf(req.Header.Get("Authorization"))
	if !equal(want, fields["Signature"]) {
		return nil, errMismatch
	}
	if e := checkAllSigned(r, signedHeaders, "x-amz-content-sha256", "x-amz-date"); e != nil {
		return nil, e
	}
	return &Signed{AccessKeyID: sc.accessKey, SignedHeaders: signedHeaders, PayloadHash: payload}, nil
}

func (v *Verifier) verifyQuery(r *http.Request, q url.Values) (*Signed, *Error) {
	malformed := func(msg string) *Error {
		return &Error{http.StatusBadRequest, "AuthorizationQueryParametersError", msg}
	}
	if q.Get("X-Amz-Algorithm") != algorithm {
		return nil, malformed("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
	}
	sc, ok := parseCredential(q.Get("X-Amz-Credential"))
	if !ok {
		return nil, malformed("Error parsing the X-Amz-Credential parameter")
	}
	signedAt, err := time.Parse(amzDateFormat, q.Get("X-Amz-Date"))
	if err != nil {
		return nil, malformed("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	secs, err := strconv.ParseInt(q.Get("X-Amz-Expires"), 10, 64)
	if err != nil || secs < 1 {
		return nil, malformed("X-Amz-Expires should be a number of seconds, at least 1")
	}
	expires := time.Duration(secs) * time.Second
	if expires > maxPresignExpiry {
		return nil, malformed("X-Amz-Expires must be less than a week (in seconds) that is 604800")
	}
	signedHeaders := strings.Split(q.Get("X-Amz-SignedHeaders"), ";")
	sig := q.Get("X-Amz-Signature")
	if sig == "" || q.Get("X-Amz-SignedHeaders") == "" {
		return nil, malformed("Query-string authentication requires the X-Amz-Signature, X-Amz-SignedHeaders parameters")
	}
	creds, e := v.checkScope(sc, signedAt)
	if e != nil {
		return nil, e
	}
	now := v.now()
	if now.After(signedAt.Add(expires)) {
		return nil, errExpired
	}
	if signedAt.After(now.Add(defaultMaxSkew)) {
		return nil, &Error{http.StatusForbidden, "AccessDenied", "Request is not valid yet"}
	}
	rest := url.Values{}
	for k, vals := range q {
		if k != "X-Amz-Signature" {
			rest[k] = vals
		}
	}
	req := v.rebuild(r, rest.Encode(), signedHeaders)
	// S3 presigned URLs never cover the body unless the client sent its hash.
	payload := unsignedPayload
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && contains(signedHeaders, "x-amz-content-sha256") {
		payload = h
	}
	signedURL, _, err := v.signer.PresignHTTP(context.Background(), creds, req, payload, v.Service, v.Region, signedAt)
	if err != nil {
		return nil, &Error{http.StatusInternalServerError, "InternalError", err.Error()}
	}
	u, err := url.Parse(signedURL)
	if err != nil {
		return nil, &Error{http.StatusInternalServerError, "InternalError", err.Error()}
	}
	if !equal(u.Query().Get("X-Amz-Signature"), sig) {
		return nil, errMismatch
	}
	// The X-Amz-* query parameters are covered by the signature; headers are not
	// unless listed in X-Amz-SignedHeaders.
	if e := checkAllSigned(r, signedHeaders); e != nil {
		return nil, e
	}
	return &Signed{AccessKeyID: sc.accessKey, Presigned: true, SignedHeaders: signedHeaders, PayloadHash: payload}, nil
}

// rebuild copies r with only the headers named in signed, so the signer covers
// exactly those. Content-Length is taken from the request itself (what the server
// will actually read), never from a header value, so a body of another size than
// the one signed cannot pass.
func (v *Verifier) rebuild(r *http.Request, rawQuery string, signed []string) *http.Request {
	u := *r.URL
	u.Scheme = "http"
	if r.TLS != nil {
		u.Scheme = "https"
	}
	u.Host = r.Host
	u.RawQuery = rawQuery
	req := &http.Request{Method: r.Method, URL: &u, Host: r.Host, Header: http.Header{}}
	for _, h := range signed {
		switch h {
		case "host":
		case "content-length":
			req.ContentLength = r.ContentLength
		default:
			if vals := r.Header.Values(h); len(vals) > 0 {
				req.Header[http.CanonicalHeaderKey(h)] = vals
			}
		}
	}
	return req
}

func signatureOf(authorization string) string {
	_, sig, _ := strings.Cut(authorization, "Signature=")
	return sig
}

func equal(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
