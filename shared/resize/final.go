package resize

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/ownership"
)

// A message that fails on its last receive goes to the DLQ, where nobody works on
// it until an operator redrives it. Its images must not look pending meanwhile, so
// they get a failed manifest (processing_failed) that a later success replaces.

// errNotStarted is the reason recorded for a message handed back untried.
var errNotStarted = errors.New("the invocation ran out of time before this image could be started")

// lastReceive reports whether a failure of msg now sends it to the DLQ.
func (h *Handler) lastReceive(msg events.SQSMessage) bool {
	n, err := strconv.Atoi(msg.Attributes["ApproximateReceiveCount"])
	return err == nil && h.cfg.MaxReceiveCount > 0 && n >= h.cfg.MaxReceiveCount
}

// markLastAttempt records, before the last attempt starts, the outcome if that
// attempt never ends: a worker killed by a timeout or out of memory writes
// nothing afterwards. The attempt's own outcome replaces it.
func (h *Handler) markLastAttempt(ctx context.Context, up upload) {
	reason := fmt.Sprintf("the image could not be processed in %d attempts: the last one did not finish "+
		"(the function timed out or was stopped) or is still running; set aside for an operator to retry", h.cfg.MaxReceiveCount)
	if err := h.recordGiveUp(ctx, up, reason, false); err != nil {
		h.log.WarnContext(ctx, "could not mark the last attempt; trying anyway", "id", up.id, "key", up.key, "error", err)
	}
}

// giveUp records that the image's message is going to the DLQ because of cause.
func (h *Handler) giveUp(ctx context.Context, up upload, cause error) {
	reason := fmt.Sprintf("the image could not be processed in %d attempts because of errors that are usually "+
		"temporary, and was set aside for an operator to retry; the last error: %s", h.cfg.MaxReceiveCount, abbreviate(cause.Error(), 400))
	if err := h.recordGiveUp(ctx, up, reason, true); err != nil {
		h.log.ErrorContext(ctx, "terminal manifest not written; the image stays pending until its message is redriven",
			"id", up.id, "key", up.key, "error", err)
	}
}

// giveUpMessage gives up every image msg names. A body that is not an S3 event
// names none, and goes to the DLQ as it is.
func (h *Handler) giveUpMessage(ctx context.Context, msg events.SQSMessage, cause error) {
	ups, err := h.uploads(ctx, msg)
	if err != nil {
		return
	}
	for _, up := range ups {
		h.giveUp(ctx, up, cause)
	}
}

// recordGiveUp writes a processing_failed manifest for up, unless a final outcome
// exists. final says whether this is the outcome (counted in metrics) or only the
// provisional mark of a last attempt.
func (h *Handler) recordGiveUp(ctx context.Context, up upload, reason string, final bool) error {
	j := &job{id: up.id, start: h.now(), log: h.log.With("id", up.id, "bucket", up.bucket, "key", up.key)}
	j.src = manifest.Source{Bucket: up.bucket, Key: up.key}
	head, err := h.store.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &up.bucket, Key: &up.key})
	if err == nil {
		j.owner = ownership.DecodeOwner(head.Metadata)
		j.src.ETag = deref(head.ETag)
		j.src.Bytes = deref(head.ContentLength)
		j.src.UploadedAt = deref(head.LastModified)
		j.src.Filename = filenameOf(head.Metadata, up.key)
	}
	if j.prev, err = h.readManifest(ctx, up.id); err != nil {
		return err
	}
	if j.prev.m != nil && h.settledFor(j.prev.m, j.src) {
		return nil
	}
	m := h.newManifest(j, manifest.StatusFailed, &manifest.Error{Code: CodeProcessingFailed, Message: reason})
	written, err := h.commit(ctx, j, m)
	if err != nil {
		return err
	}
	if written && final {
		h.report(ctx, j.log, m)
		// The message goes to the DLQ whatever happens here, so a failed publish
		// cannot be retried with it; the redrive settles the image and publishes.
		if err := h.announce(ctx, j.log, m); err != nil {
			j.log.ErrorContext(ctx, "ImageFailed not published; it will be when the message is redriven", "error", err)
		}
	}
	return nil
}

func abbreviate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
