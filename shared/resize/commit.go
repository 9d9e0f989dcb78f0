package resize

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/manifest"
)

// stored is a manifest as read from the output bucket: m is nil when there is none
// or it does not decode; etag is empty only when there is no object at all.
type stored struct {
	m    *manifest.Manifest
	etag string
}

// givenUp reports a manifest that settles nothing: written when a message ran out
// of receives (or before its last attempt), to be replaced by any real outcome.
func givenUp(m *manifest.Manifest) bool {
	return m.Status == manifest.StatusFailed && m.Error != nil && m.Error.Code == CodeProcessingFailed
}

// settledFor reports whether m is the final outcome of exactly this source (ETag)
// under this engine and these settings, so doing the work again would change
// nothing.
func (h *Handler) settledFor(m *manifest.Manifest, src manifest.Source) bool {
	return src.ETag != "" && m.Source.ETag == src.ETag &&
		m.EngineVersion == imagecore.EngineVersion && m.SettingsHash == h.settingsHash &&
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

// commit writes m as the manifest of j, conditionally: If-None-Match: * when there
// was none, If-Match the ETag read otherwise, so two deliveries cannot interleave.
// On losing a race it re-reads and decides again. written is false when the
// manifest in the bucket was kept instead.
func (h *Handler) commit(ctx context.Context, j *job, m manifest.Manifest) (written bool, err error) {
	body, err := json.Marshal(m)
	if err != nil {
		return false, fmt.Errorf("encode manifest %s: %w", j.id, err)
	}
	for attempt := 1; ; attempt++ {
		if ok, why := h.supersedes(m, j.prev.m); !ok {
			j.log.InfoContext(ctx, "manifest kept", "reason", why, "status", j.prev.m.Status, "notWritten", m.Status)
			return false, nil
		}
		// The manifest is written last: its presence means every variant is in place.
		err := h.putManifest(ctx, j.id, body, j.prev.etag)
		if err == nil {
			return h.survivedDelete(ctx, j)
		}
		if !isWriteConflict(err) || attempt == commitAttempts {
			return false, fmt.Errorf("image %s: %w", j.id, err)
		}
		j.log.InfoContext(ctx, "manifest changed since it was read; deciding again", "attempt", attempt, "error", err)
		if j.prev, err = h.readManifest(ctx, j.id); err != nil {
			return false, err
		}
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
		CacheControl:  ptr(manifest.ManifestCacheControl),
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

// survivedDelete runs after every manifest write. A delete that came while the
// image was processed wrote its tombstone before removing anything; checked after
// the last write, either the delete saw the manifest or this sees the tombstone,
// so nothing is left behind. written is false when the image was deleted.
func (h *Handler) survivedDelete(ctx context.Context, j *job) (written bool, err error) {
	gone, err := h.deletions.Tombstoned(ctx, j.id)
	if err == nil && gone {
		j.log.InfoContext(ctx, "image deleted while processing; removing what was made")
		err = h.deletions.PurgeOutputs(ctx, j.id, j.owner)
	}
	if err != nil {
		return false, fmt.Errorf("image %s: %w", j.id, err)
	}
	return !gone, nil
}
