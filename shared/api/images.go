package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/shared/delivery"
	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/ownership"
)

type imageResponse struct {
	ID       string          `json:"id"`
	Status   manifest.Status `json:"status"`
	Filename string          `json:"filename,omitempty"`
	Source   *sourceInfo     `json:"source,omitempty"`
	Variants []variantInfo   `json:"variants"`
	Error    *errorDetail    `json:"error,omitempty"`
}

type sourceInfo struct {
	Format     string     `json:"format,omitempty"`
	Width      int        `json:"width,omitempty"`
	Height     int        `json:"height,omitempty"`
	Bytes      int64      `json:"bytes"`
	UploadedAt *time.Time `json:"uploadedAt,omitempty"`
}

type variantInfo struct {
	Name   string `json:"name"`
	Format string `json:"format"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Bytes  int64  `json:"bytes"`
	URL    string `json:"url"`
	// Alternates are the other encodings, each at a fixed-format URL (for
	// <picture> sources); url itself serves the best one the browser accepts.
	Alternates []alternateInfo `json:"alternates,omitempty"`
}

type alternateInfo struct {
	Format string `json:"format"`
	Bytes  int64  `json:"bytes"`
	URL    string `json:"url"`
}

type listResponse struct {
	Images []imageResponse `json:"images"`
	// NextCursor, when set, fetches the next (older) page.
	NextCursor string `json:"nextCursor,omitempty"`
}

// errStorage marks a describe that failed on S3, already logged.
type errStorage struct{ error }

// callerAndImage authenticates the request and reads the image id in its
// path; when ok is false it has already answered (401, or 404 for an id that
// cannot exist).
func (a *API) callerAndImage(w http.ResponseWriter, r *http.Request) (who caller, id string, ok bool) {
	if who, ok = a.authenticate(w, r); !ok {
		return who, "", false
	}
	id = r.PathValue("id")
	if !manifest.ValidID(id) {
		writeError(w, http.StatusNotFound, "not_found", "no image with id "+strconvQuote(id))
		return who, id, false
	}
	return who, id, true
}

func (a *API) imageStatus(w http.ResponseWriter, r *http.Request) {
	who, id, ok := a.callerAndImage(w, r)
	if !ok {
		return
	}
	resp, found, err := a.describe(r.Context(), id, who.Subject)
	switch {
	case err != nil:
		writeError(w, http.StatusInternalServerError, "internal_error", "could not read the image's status; try again")
	case !found:
		// Someone else's image answers exactly as an unknown one: nothing leaks.
		writeError(w, http.StatusNotFound, "not_found", "no image with id "+strconvQuote(id)+" (has the upload finished?)")
	default:
		writeJSON(w, http.StatusOK, resp)
	}
}

// describe reports image id as subject may see it; found is false for an unknown
// image and for another owner's.
func (a *API) describe(ctx context.Context, id, subject string) (*imageResponse, bool, error) {
	m, err := manifest.Read(ctx, a.objects, a.cfg.OutputBucket, id)
	if err != nil {
		a.log.ErrorContext(ctx, "read manifest", "id", id, "error", err)
		return nil, false, errStorage{err}
	}
	if m != nil {
		if m.Owner != subject {
			return nil, false, nil
		}
		name := m.Source.Filename
		if name == "" {
			// Manifests written before the resize function recorded the key's base name.
			name = manifest.KeyBaseName(m.Source.Key)
		}
		resp := imageResponse{ID: id, Status: m.Status, Filename: name, Variants: []variantInfo{},
			Source: &sourceInfo{Format: m.Source.Format, Width: m.Source.Width, Height: m.Source.Height, Bytes: m.Source.Bytes}}
		if !m.Source.UploadedAt.IsZero() {
			resp.Source.UploadedAt = &m.Source.UploadedAt
		}
		if m.Error != nil {
			resp.Error = &errorDetail{Code: m.Error.Code, Message: m.Error.Message}
		}
		for _, v := range m.Variants {
			info, err := a.variantInfo(ctx, v)
			if err != nil {
				a.log.ErrorContext(ctx, "variant url", "id", id, "key", v.Key, "error", err)
				return nil, false, errStorage{err}
			}
			resp.Variants = append(resp.Variants, info)
		}
		return &resp, true, nil
	}

	// No manifest yet: pending while the upload exists.
	head, err := a.objects.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &a.cfg.UploadsBucket, Key: ptr(manifest.UploadKey(a.cfg.UploadPrefix, id))})
	if manifest.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		a.log.ErrorContext(ctx, "head upload", "id", id, "error", err)
		return nil, false, errStorage{err}
	}
	if ownership.DecodeOwner(head.Metadata) != subject {
		return nil, false, nil
	}
	resp := imageResponse{ID: id, Status: manifest.StatusPending, Variants: []variantInfo{}, Source: &sourceInfo{}}
	if name, err := url.PathUnescape(head.Metadata[manifest.FilenameMetaKey]); err == nil {
		resp.Filename = name
	}
	if head.ContentLength != nil {
		resp.Source.Bytes = *head.ContentLength
	}
	if head.LastModified != nil {
		resp.Source.UploadedAt = head.LastModified
	}
	return &resp, true, nil
}

const (
	defaultPageSize = 20
	maxPageSize     = 100
	// describeParallel bounds the S3 reads one listing makes at once.
	describeParallel = 8
)

// listImages lists the caller's images, newest first, a page at a time. The
// cursor is the last ID of the previous page; S3 lists the owner's index from
// just after it (StartAfter), so a cursor can never reach outside that index.
func (a *API) listImages(w http.ResponseWriter, r *http.Request) {
	who, ok := a.authenticate(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	limit := defaultPageSize
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			writeError(w, http.StatusBadRequest, "bad_limit", "limit must be a whole number from 1 to "+strconv.Itoa(maxPageSize))
			return
		}
		limit = n
	}
	prefix := ownership.OwnerIndexPrefix(who.Subject)
	in := &s3.ListObjectsV2Input{Bucket: &a.cfg.OutputBucket, Prefix: &prefix, MaxKeys: ptr(int32(limit))}
	if c := q.Get("cursor"); c != "" {
		if !manifest.ValidID(c) {
			writeError(w, http.StatusBadRequest, "bad_cursor", "cursor must be the nextCursor of a previous page")
			return
		}
		in.StartAfter = ptr(ownership.IndexKey(who.Subject, c))
	}
	ctx := r.Context()
	out, err := a.objects.ListObjectsV2(ctx, in)
	if err != nil {
		a.log.ErrorContext(ctx, "list images", "error", err)
		writeError(w, http.StatusInternalServerError, "internal_error", "could not list your images; try again")
		return
	}
	var ids []string
	for _, o := range out.Contents {
		if id, ok := ownership.IDFromIndexKey(deref(o.Key)); ok {
			ids = append(ids, id)
		}
	}
	results := make([]*imageResponse, len(ids))
	var failed bool
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, describeParallel)
	for i, id := range ids {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			resp, found, err := a.describe(ctx, id, who.Subject)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = true
			} else if found {
				results[i] = resp
			}
		})
	}
	wg.Wait()
	if failed {
		writeError(w, http.StatusInternalServerError, "internal_error", "could not list your images; try again")
		return
	}
	resp := listResponse{Images: []imageResponse{}}
	// Entries without an image (a presigned upload never sent) are left out.
	for _, r := range results {
		if r != nil {
			resp.Images = append(resp.Images, *r)
		}
	}
	if deref(out.IsTruncated) && len(ids) > 0 {
		resp.NextCursor = ids[len(ids)-1]
	}
	writeJSON(w, http.StatusOK, resp)
}

// deleteImage removes one of the caller's images and everything made from it. It
// answers 204 whether or not there was anything to delete, so it is idempotent
// and another owner's image is indistinguishable from none (and left alone).
func (a *API) deleteImage(w http.ResponseWriter, r *http.Request) {
	who, id, ok := a.callerAndImage(w, r)
	if !ok {
		return
	}
	deleted, err := a.deleter.Delete(r.Context(), id, who.Subject)
	if err != nil {
		a.log.ErrorContext(r.Context(), "delete image", "id", id, "error", err)
		writeError(w, http.StatusInternalServerError, "internal_error", "could not delete the image completely; try again (deleting again is safe)")
		return
	}
	if deleted {
		a.log.InfoContext(r.Context(), "image deleted", "id", id)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func strconvQuote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// variantInfo describes one variant with its URLs: lasting CDN URLs when there is
// a CDN (the variant's own URL negotiates the format), presigned ones otherwise.
func (a *API) variantInfo(ctx context.Context, v manifest.Variant) (variantInfo, error) {
	info := variantInfo{Name: v.Name, Format: v.Format, Width: v.Width, Height: v.Height, Bytes: v.Bytes}
	var err error
	if info.URL, err = a.variantURL(ctx, v); err != nil {
		return info, err
	}
	for _, alt := range v.Alternates {
		u, err := a.objectURL(ctx, alt.Key)
		if err != nil {
			return info, err
		}
		info.Alternates = append(info.Alternates, alternateInfo{Format: alt.Format, Bytes: alt.Bytes, URL: u})
	}
	return info, nil
}

func (a *API) variantURL(ctx context.Context, v manifest.Variant) (string, error) {
	if a.cfg.CDNURL != "" {
		u, err := delivery.VariantURL(a.cfg.CDNURL, v)
		if !errors.Is(err, delivery.ErrNotVariant) {
			return u, err
		}
		// Written before keys carried a tag: the CDN does not serve it.
	}
	return a.presign(ctx, v.Key)
}

func (a *API) objectURL(ctx context.Context, key string) (string, error) {
	if a.cfg.CDNURL != "" {
		u, err := delivery.ObjectURL(a.cfg.CDNURL, key)
		if !errors.Is(err, delivery.ErrNotVariant) {
			return u, err
		}
	}
	return a.presign(ctx, key)
}

func (a *API) presign(ctx context.Context, key string) (string, error) {
	signed, err := a.presigner.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &a.cfg.OutputBucket, Key: &key},
		s3.WithPresignExpires(a.cfg.DownloadURLTTL))
	if err != nil {
		return "", fmt.Errorf("presign %s: %w", key, err)
	}
	return signed.URL, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
