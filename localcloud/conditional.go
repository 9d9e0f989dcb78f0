package localcloud

import (
	"encoding/hex"
	"net/http"
	"strings"
)

// refuseConditionalWrite applies S3's conditional writes to a PUT (or a completed
// multipart upload) and answers the refusal, reporting whether it did:
//
//   - If-None-Match: * on a key that exists: 412 PreconditionFailed;
//   - If-Match on a key that does not exist: 404 NoSuchKey;
//   - If-Match with an ETag other than the object's: 412 PreconditionFailed.
//
// The caller holds the key's stripe lock through the write, so the check and the
// write are one step: of two concurrent conditional writes one wins and the other
// gets 412. (S3 may instead answer the loser 409 ConditionalRequestConflict; the
// local cloud never needs to, and clients treat both alike.)
func (g *S3Gateway) refuseConditionalWrite(w http.ResponseWriter, r *http.Request, bucket, key string) bool {
	const failed = "At least one of the pre-conditions you specified did not hold"
	noneMatch, match := r.Header.Get("If-None-Match"), r.Header.Get("If-Match")
	if noneMatch == "" && match == "" {
		return false
	}
	etag, exists := g.etag(bucket, key)
	switch {
	case noneMatch != "" && noneMatch != "*":
		// S3 takes only * here on writes.
		writeS3Error(w, r, http.StatusNotImplemented, "NotImplemented", "A header you provided implies functionality that is not implemented: If-None-Match accepts only *")
	case noneMatch == "*" && exists:
		writeS3Error(w, r, http.StatusPreconditionFailed, "PreconditionFailed", failed)
	case match != "" && !exists:
		writeS3Error(w, r, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
	case match != "" && !etagListed(match, etag):
		writeS3Error(w, r, http.StatusPreconditionFailed, "PreconditionFailed", failed)
	default:
		return false
	}
	return true
}

// etag returns the object's ETag as S3 (and gofakes3) spell it: its MD5 in quotes.
func (g *S3Gateway) etag(bucket, key string) (string, bool) {
	obj, err := g.Backend.HeadObject(bucket, key)
	if err != nil {
		return "", false
	}
	_ = obj.Contents.Close()
	return `"` + hex.EncodeToString(obj.Hash) + `"`, true
}

// etagListed reports whether an If-Match header names etag; quotes are optional
// and * matches any existing object, as in HTTP.
func etagListed(header, etag string) bool {
	for v := range strings.SplitSeq(header, ",") {
		v = strings.TrimSpace(v)
		if v == "*" || strings.Trim(v, `"`) == strings.Trim(etag, `"`) {
			return true
		}
	}
	return false
}
