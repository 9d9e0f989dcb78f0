// Package api is imagepipe's HTTP API as a plain http.Handler: it presigns uploads,
// reports, lists and deletes a caller's images. The same handler runs behind API
// Gateway on Lambda and behind the local cloud's gateway; the caller's identity
// comes from the JWT authorizer's request context in both. The upload page is
// another handler (web/), composed with this one where both are served.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/shared/ownership"
)

// ObjectStore is the part of *s3.Client the API uses: reading manifests and
// originals, and the owner index, quota records and deletions (ownership).
type ObjectStore interface {
	ownership.Store
}

// Presigner is the part of *s3.PresignClient the API uses.
type Presigner interface {
	PresignPutObject(ctx context.Context, params *s3.PutObjectInput, optFns ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error)
	PresignGetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error)
}

// API serves /v1/uploads, /v1/images, /v1/images/{id} and /healthz.
type API struct {
	cfg       Config
	objects   ObjectStore
	presigner Presigner
	log       *slog.Logger
	now       func() time.Time
	mux       *http.ServeMux
	deleter   *ownership.Deleter
	quota     ownership.Quota
	// uploadOrigin and outputOrigin are where the browser sends uploads and
	// fetches variants, for the page's content security policy.
	uploadOrigin, outputOrigin string
}

// apiCSP is the policy of every API answer: JSON needs no sources at all.
const apiCSP = "default-src 'none'; frame-ancestors 'none'"

// New builds the API.
func New(cfg Config, objects ObjectStore, presigner Presigner, log *slog.Logger) (*API, error) {
	if objects == nil || presigner == nil || log == nil {
		return nil, errors.New("api: objects, presigner and log are required")
	}
	a := &API{cfg: cfg, objects: objects, presigner: presigner, log: log, now: time.Now, mux: http.NewServeMux()}
	var err error
	if a.uploadOrigin, a.outputOrigin, err = a.s3Origins(); err != nil {
		return nil, err
	}
	// The page shows variants from the CDN when there is one, else from the
	// output bucket (presigned).
	if cfg.CDNURL != "" {
		u, perr := url.Parse(cfg.CDNURL)
		if perr != nil {
			return nil, fmt.Errorf("api: CDN URL: %w", perr)
		}
		a.outputOrigin = u.Scheme + "://" + u.Host
	}
	a.deleter = &ownership.Deleter{Store: objects, UploadsBucket: cfg.UploadsBucket, OutputBucket: cfg.OutputBucket,
		UploadPrefix: cfg.UploadPrefix, Now: func() time.Time { return a.now() }}
	a.quota = ownership.Quota{Store: objects, Bucket: cfg.OutputBucket, Uploads: cfg.QuotaUploadsPerDay, Bytes: cfg.QuotaBytesPerDay}
	a.mux.HandleFunc("POST /v1/uploads", a.createUpload)
	a.mux.HandleFunc("GET /v1/images", a.listImages)
	a.mux.HandleFunc("GET /v1/images/{id}", a.imageStatus)
	a.mux.HandleFunc("DELETE /v1/images/{id}", a.deleteImage)
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	// Every other method on a known path, and any unknown /v1 path, answers in JSON.
	a.mux.Handle("/v1/uploads", methodNotAllowed("POST"))
	a.mux.Handle("/v1/images", methodNotAllowed("GET"))
	a.mux.Handle("/v1/images/{id}", methodNotAllowed("GET, DELETE"))
	a.mux.Handle("/healthz", methodNotAllowed("GET"))
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return a, nil
}

// Origins are the origins the browser uploads to and fetches variants from, for
// the page's content security policy.
func (a *API) Origins() (upload, output string) { return a.uploadOrigin, a.outputOrigin }

// Deletions is the deleter behind DELETE /v1/images/{id}; wiring code sets its
// CDN, DistributionID and Listener.
func (a *API) Deletions() *ownership.Deleter { return a.deleter }

// s3Origins finds the origins the browser talks to for uploads and variant downloads,
// by presigning a throwaway request for each bucket (no network call is made).
func (a *API) s3Origins() (upload, output string, err error) {
	ctx := context.Background()
	put, err := a.presigner.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: &a.cfg.UploadsBucket, Key: ptr(a.cfg.UploadPrefix + "origin")})
	if err != nil {
		return "", "", fmt.Errorf("presign probe for %s: %w", a.cfg.UploadsBucket, err)
	}
	get, err := a.presigner.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &a.cfg.OutputBucket, Key: ptr("origin")})
	if err != nil {
		return "", "", fmt.Errorf("presign probe for %s: %w", a.cfg.OutputBucket, err)
	}
	origin := func(raw string) (string, error) {
		u, err := url.Parse(raw)
		if err != nil {
			return "", fmt.Errorf("parse presigned url: %w", err)
		}
		return u.Scheme + "://" + u.Host, nil
	}
	if upload, err = origin(put.URL); err != nil {
		return "", "", err
	}
	output, err = origin(get.URL)
	return upload, output, err
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := a.now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	h := rec.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", apiCSP)
	if !a.cors(rec, r) {
		a.mux.ServeHTTP(rec, r)
	}
	a.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", rec.status), slog.Duration("duration", a.now().Sub(start)))
}

// cors adds CORS headers for allowed origins and answers preflights; it reports
// whether it wrote the whole response.
func (a *API) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	w.Header().Add("Vary", "Origin")
	allowed := origin != "" && slices.Contains(a.cfg.AllowedOrigins, origin)
	if allowed {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Expose-Headers", "Location, Retry-After, WWW-Authenticate")
	}
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	if !allowed {
		writeError(w, http.StatusForbidden, "origin_not_allowed", "origin "+origin+" may not call this API")
		return true
	}
	w.Header().Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
	w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	w.Header().Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here; use "+allow)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// errorBody is the shape of every error answer.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}

func ptr[T any](v T) *T { return &v }
