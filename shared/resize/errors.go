package resize

import (
	"errors"

	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/manifest"
)

// errMalformed marks a message that is not an S3 event. Retrying cannot fix it, but
// it is handed back, not dropped, so it reaches the DLQ for a person to look at.
var errMalformed = errors.New("malformed message")

// CodeSourceMissing is recorded when the original is gone before it could be read.
const CodeSourceMissing = "source_missing"

// CodeProcessingFailed is recorded when a message is on its last receive and
// fails transiently again (or its worker dies): it is on its way to the DLQ, and
// the manifest says so instead of leaving the image pending for ever. A redrive or
// `imagepipe reprocess` that later succeeds replaces it.
const CodeProcessingFailed = "processing_failed"

// outcome is the one classification of an error, made at the edge of the handler.
type outcome int

const (
	done      outcome = iota // finished: ready, or a permanent failure recorded in a manifest
	permanent                // record a failed manifest and acknowledge
	retry                    // hand the message back to the queue
)

// classify decides what an error from processing one object means.
func classify(err error) (outcome, string, string) {
	var refusal *imagecore.Error
	switch {
	case err == nil:
		return done, "", ""
	case errors.As(err, &refusal):
		return permanent, string(refusal.Code), refusal.Message
	case manifest.IsNotFound(err):
		return permanent, CodeSourceMissing, "the uploaded file was deleted before it could be processed"
	}
	// S3 and network errors, throttling, a context deadline, and anything unforeseen:
	// SQS retries, and after maxReceiveCount the message waits in the DLQ.
	return retry, "", ""
}
