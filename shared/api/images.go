package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/shared/delivery"
	"github.com/imagepipe/imagepipe/shared/manifest"
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

func (a *API) imageStatus(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !manifest.ValidID(id) {
		writeError(w, http.StatusNotFound, "not_found", "no image with id "+strconvQuote(id))
		return
	}
	ctx := r.Context()
	m, err := manifest.Read(ctx, a.objects, a.cfg.OutputBucket, id)
	switch {
	case err == nil && m != nil:
		resp := imageResponse{ID: id, Status: m.Status, Filename: m.Source.Filename, Variants: []variantInfo{},
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
				writeError(w, http.StatusInternalServerError, "internal_error", "could not prepare the variant links; try again")
				return
			}
			resp.Variants = append(resp.Variants, info)
		}
		writeJSON(w, http.StatusOK, resp)
		return
	case err != nil:
		a.log.ErrorContext(ctx, "read manifest", "id", id, "error", err)
		writeError(w, http.StatusInternalServerError, "internal_error", "could not read the image's status; try again")
		return
	}

	// No manifest yet: pending while the upload exists.
	head, err := a.objects.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &a.cfg.UploadsBucket, Key: ptr(manifest.UploadKey(a.cfg.UploadPrefix, id))})
	if manifest.IsNotFound(err) {
		writeError(w, http.StatusNotFound, "not_found", "no image with id "+strconvQuote(id)+" (has the upload finished?)")
		return
	}
	if err != nil {
		a.log.ErrorContext(ctx, "head upload", "id", id, "error", err)
		writeError(w, http.StatusInternalServerError, "internal_error", "could not read the image's status; try again")
		return
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
	writeJSON(w, http.StatusOK, resp)
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
