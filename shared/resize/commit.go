package resize

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// settingsHash is what this configuration records in manifests: the hash of the
// settings that shape the output (settings.OutputHash).
func (h *Handler) settingsHash() string {
	return settings.OutputHash(h.cfg.Limits, h.cfg.Variants, h.cfg.ImageTimeout)
}

// givenUp reports a manifest that settles nothing: written when a message ran out
// of receives (or before its last attempt), to be replaced by any real outcome.
func givenUp(m *manifest.Manifest) bool {
	return m.Status == manifest.StatusFailed && m.Error != nil && m.Error.Code == CodeProcessingFailed
}

// alreadyDone reports whether the manifest that exists makes processing src again
// pointless: it is the final outcome of this very source under this engine and
// these settings, or the original is gone (headErr is NotFound) and the result made
// while it existed is kept. A given-up manifest settles nothing.
func (h *Handler) alreadyDone(existing *manifest.Manifest, src manifest.Source, headErr error) bool {
	if givenUp(existing) {
		return false
	}
	return manifest.IsNotFound(headErr) || h.settledFor(existing, src)
}

// settledFor reports whether m is the final outcome of exactly this source (ETag)
// under this engine and these settings, so doing the work again would change
// nothing.
func (h *Handler) settledFor(m *manifest.Manifest, src manifest.Source) bool {
	return src.ETag != "" && m.Source.ETag == src.ETag &&
		m.EngineVersion == imagecore.EngineVersion && m.SettingsHash == h.settingsHash() &&
		(m.Status == manifest.StatusReady || m.Status == manifest.StatusFailed && !givenUp(m))
}

// supersedes decides whether m may replace old, the manifest in the bucket. These
// are the rules that keep a manifest from going backwards when deliveries race,
// retries come late or a deployment rolls out.
func (h *Handler) supersedes(m manifest.Manifest, old *manifest.Manifest) (bool, string) {
	switch {
	case old == nil:
		return true, ""
	case m.Source.ETag == "" && !givenUp(old):
		return false, "the original could not be read now; the result made while it could is kept"
	case old.Source.ETag != m.Source.ETag && old.Source.UploadedAt.After(m.Source.UploadedAt):
		return false, "a newer upload at this key already has a result"
	case givenUp(&m) && old.Status == manifest.StatusReady && old.Source.ETag == m.Source.ETag:
		return false, "a ready result of this upload is kept rather than replaced by giving up"
	case givenUp(&m) && h.settledFor(old, m.Source):
		return false, "this upload already has a final result under this engine and settings"
	case h.settledFor(old, m.Source) && old.Status == manifest.StatusReady:
		return false, "already ready for this upload, engine and settings; failed never replaces ready"
	case h.settledFor(old, m.Source) && m.Status == manifest.StatusFailed:
		return false, "already failed for this upload, engine and settings"
	}
	return true, ""
}

// commitAttempts bounds how often a write that lost a race re-reads and decides
// again; each loss means another delivery wrote in between, so a few suffice.
const commitAttempts = 4

// commit writes m as the image's manifest, conditionally: it reads the manifest
// there now, decides with supersedes, and writes with If-None-Match: * when there
// is none or If-Match the ETag it read, so two deliveries cannot interleave. On
// losing a race it reads and decides again. written is false when the manifest in
// the bucket was kept instead.
func (h *Handler) commit(ctx context.Context, log *slog.Logger, m manifest.Manifest) (written bool, err error) {
	body, err := json.Marshal(m)
	if err != nil {
		return false, fmt.Errorf("encode manifest %s: %w", m.ID, err)
	}
	for attempt := 1; ; attempt++ {
		old, etag, err := manifest.ReadVersion(ctx, h.store, h.cfg.OutputBucket, m.ID)
		if err != nil && !errors.Is(err, manifest.ErrUnreadable) {
			// Not knowing what is there, nothing may be written over it.
			return false, fmt.Errorf("image %s: read manifest: %w", m.ID, err)
		}
		if ok, why := h.supersedes(m, old); !ok {
			log.InfoContext(ctx, "manifest kept", "reason", why, "status", old.Status, "notWritten", m.Status)
			return false, nil
		}
		// The manifest is written last: its presence means every variant is in place.
		err = h.putManifest(ctx, m.ID, body, etag)
		if err == nil {
			return true, nil
		}
		if !isWriteConflict(err) || attempt == commitAttempts {
			return false, fmt.Errorf("image %s: %w", m.ID, err)
		}
		log.InfoContext(ctx, "manifest changed since it was read; deciding again", "attempt", attempt, "error", err)
	}
}

func (h *Handler) putManifest(ctx context.Context, id string, body []byte, etag string) error {
	key := manifest.Key(id)
	in := &s3.PutObjectInput{
		Bucket:        &h.cfg.OutputBucket,
		Key:           &key,
		Body:          bytes.NewReader(body),
		ContentLength: ptr(int64(len(body))),
		ContentType:   ptr("application/json"),
	}
	if etag == "" {
		in.IfNoneMatch = ptr("*")
	} else {
		in.IfMatch = &etag
	}
	if _, err := h.store.PutObject(ctx, in); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// isWriteConflict reports S3's answers to a conditional write that lost a race:
// 412 PreconditionFailed (the object exists, or has another ETag), 409
// ConditionalRequestConflict (a concurrent conditional write), and 404 NoSuchKey
// (If-Match on an object deleted meanwhile).
func isWriteConflict(err error) bool {
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return true
	}
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	switch api.ErrorCode() {
	case "PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey":
		return true
	}
	return false
}
