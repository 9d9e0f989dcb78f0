package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/ownership"
)

// AllowedTypes are the Content-Types an upload may declare. The resize function
// sniffs the real format from the bytes; this only turns away obvious mistakes early.
var AllowedTypes = []string{"image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "image/heif", "image/avif"}

const maxFilenameBytes = 255

type uploadRequest struct {
	Filename    string `json:"filename"`
	ContentType string `json:"contentType"`
	Size        *int64 `json:"size"`
}

type uploadResponse struct {
	ID        string        `json:"id"`
	Upload    presignedCall `json:"upload"`
	ExpiresAt time.Time     `json:"expiresAt"`
	StatusURL string        `json:"statusUrl"`
}

type presignedCall struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
}

func (a *API) createUpload(w http.ResponseWriter, r *http.Request) {
	who, ok := a.authenticate(w, r)
	if !ok || !a.requireScope(w, who, a.cfg.UploadScope) {
		return
	}
	var req uploadRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "the body must be JSON like {\"filename\": \"cat.jpg\", \"contentType\": \"image/jpeg\", \"size\": 123456}: "+jsonProblem(err))
		return
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "bad_request", "the body must hold exactly one JSON object")
		return
	}
	filename, err := cleanFilename(req.Filename)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_filename", err.Error())
		return
	}
	if req.Size == nil || *req.Size <= 0 {
		writeError(w, http.StatusBadRequest, "bad_size", "size must be the file's length in bytes, a positive number")
		return
	}
	if *req.Size > a.cfg.MaxUploadBytes {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large",
			fmt.Sprintf("the file is %s; the limit is %s", humanBytes(*req.Size), humanBytes(a.cfg.MaxUploadBytes)))
		return
	}
	ctype := strings.ToLower(strings.TrimSpace(req.ContentType))
	if !isAllowedType(ctype) {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_type",
			fmt.Sprintf("content type %q is not accepted; send one of %s", req.ContentType, strings.Join(AllowedTypes, ", ")))
		return
	}

	now := a.now()
	id := ownership.NewID(now)
	if err := a.quota.Reserve(r.Context(), who.Subject, id, *req.Size, now); err != nil {
		if over, ok := errors.AsType[*ownership.ExceededError](err); ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(over.RetryAfter, time.Second).Seconds()))))
			writeError(w, http.StatusTooManyRequests, "quota_exceeded", over.Error()+"; try again in "+over.RetryAfter.Round(time.Minute).String())
			return
		}
		a.log.ErrorContext(r.Context(), "quota", "id", id, "error", err)
		writeError(w, http.StatusInternalServerError, "internal_error", "could not prepare the upload; try again")
		return
	}
	// The owner's index lists the image from now on, so a listing and an erasure
	// see it while it uploads and waits to be processed.
	indexKey := ownership.IndexKey(who.Subject, id)
	if _, err := a.objects.PutObject(r.Context(), &s3.PutObjectInput{Bucket: &a.cfg.OutputBucket, Key: &indexKey,
		Body: bytes.NewReader(nil), ContentLength: ptr(int64(0))}); err != nil {
		a.log.ErrorContext(r.Context(), "index upload", "id", id, "error", err)
		writeError(w, http.StatusInternalServerError, "internal_error", "could not prepare the upload; try again")
		return
	}
	expires := now.Add(a.cfg.UploadURLTTL)
	signed, err := a.presigner.PresignPutObject(r.Context(), &s3.PutObjectInput{
		Bucket:        &a.cfg.UploadsBucket,
		Key:           ptr(manifest.UploadKey(a.cfg.UploadPrefix, id)),
		ContentType:   &ctype,
		ContentLength: req.Size,
		// Signed, so the URL can create the object once and never overwrite it.
		IfNoneMatch: ptr("*"),
		// The owner is the verified subject, never anything the client sent; signed,
		// so the upload cannot claim another owner.
		Metadata: map[string]string{manifest.FilenameMetaKey: url.PathEscape(filename), ownership.OwnerMetaKey: ownership.EncodeOwner(who.Subject)},
	}, s3.WithPresignExpires(a.cfg.UploadURLTTL))
	if err != nil {
		a.log.ErrorContext(r.Context(), "presign upload", "id", id, "error", err)
		writeError(w, http.StatusInternalServerError, "internal_error", "could not prepare the upload; try again")
		return
	}
	headers := map[string]string{}
	for name, values := range signed.SignedHeader {
		// The browser sets Host itself; every other signed header must be sent as is.
		if !strings.EqualFold(name, "Host") && len(values) > 0 {
			headers[name] = values[0]
		}
	}
	statusURL := "/v1/images/" + id
	w.Header().Set("Location", statusURL)
	writeJSON(w, http.StatusCreated, uploadResponse{
		ID:        id,
		Upload:    presignedCall{Method: signed.Method, URL: signed.URL, Headers: headers},
		ExpiresAt: expires.UTC().Truncate(time.Second),
		StatusURL: statusURL,
	})
}

func isAllowedType(t string) bool {
	for _, a := range AllowedTypes {
		if t == a {
			return true
		}
	}
	return false
}

// cleanFilename keeps the client's name as a label only: it never becomes part of a key.
func cleanFilename(name string) (string, error) {
	name = strings.TrimSpace(name)
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	switch {
	case name == "":
		return "", errors.New("filename is required, for example \"cat.jpg\"")
	case !utf8.ValidString(name):
		return "", errors.New("filename must be valid UTF-8")
	case len(name) > maxFilenameBytes:
		return "", fmt.Errorf("filename must be at most %d bytes", maxFilenameBytes)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "", errors.New("filename must not contain control characters")
	}
	return name, nil
}

func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q must be a %s", typ.Field, typ.Type)
	case errors.As(err, &tooBig):
		return "the body is too large"
	case errors.Is(err, io.EOF):
		return "the body is empty"
	}
	return err.Error()
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
