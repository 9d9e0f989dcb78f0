// Package ownership records who owns each image and what follows from it without
// a database: a per-owner index of images in the output bucket (newest first, for
// listing and erasure), a per-owner record of recent uploads (the daily quota),
// tombstones that stop a resize still in flight from resurrecting a deleted image,
// and the deletion of everything an image left behind. Owner subjects never appear
// in keys as they are: keys carry a hash of them.
package ownership

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/imagepipe/imagepipe/shared/manifest"
)

// OwnerMetaKey is the S3 user-metadata key (x-amz-meta-owner) that carries the
// owner's subject on the original. The API signs it into the presigned PUT, so the
// browser cannot change it; it is percent-encoded, since S3 metadata is ASCII.
const OwnerMetaKey = "owner"

// Key prefixes in the output bucket, beside manifest.VariantsPrefix.
const (
	// IndexPrefix holds one empty object per image under its owner's hash:
	// owners/{hash}/images/{inverted time}{id}, so a listing is newest first.
	IndexPrefix = "owners/"
	// QuotaPrefix holds one empty object per presigned upload under its owner's
	// hash: quota/{hash}/{inverted ms}-{id}-{bytes}; old ones expire by lifecycle.
	QuotaPrefix = "quota/"
	// TombstonePrefix marks deleted images: tombstones/{id}.
	TombstonePrefix = "tombstones/"
)

// OwnerHash is what stands for a subject in keys: 128 bits of SHA-256, hex.
func OwnerHash(subject string) string {
	sum := sha256.Sum256([]byte(subject))
	return hex.EncodeToString(sum[:16])
}

// EncodeOwner is the subject as object metadata.
func EncodeOwner(subject string) string { return url.PathEscape(subject) }

// DecodeOwner reads the subject from an original's metadata ("" when none).
func DecodeOwner(meta map[string]string) string {
	raw := meta[OwnerMetaKey]
	if s, err := url.PathUnescape(raw); err == nil {
		return s
	}
	return ""
}

// NewID returns an image ID (manifest.ValidID) whose first 48 bits are the time in
// milliseconds and the other 80 random, like a UUIDv7: an owner's index sorts by
// it, and 80 random bits are still far beyond guessing.
func NewID(now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[6:]) // never fails on supported platforms
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	return hex.EncodeToString(b[:])
}

const maxMillis = 1<<48 - 1

// invertedTime orders IDs newest first: it inverts the 48-bit time NewID puts in
// front. Any valid ID maps to one fixed key, so IDs made otherwise still work.
func invertedTime(id string) string {
	ms, _ := strconv.ParseUint(id[:12], 16, 64)
	return fmt.Sprintf("%012x", maxMillis-ms)
}

// OwnerIndexPrefix is the folder of one owner's index.
func OwnerIndexPrefix(subject string) string {
	return IndexPrefix + OwnerHash(subject) + "/images/"
}

// IndexKey is the index entry of image id of subject; id must be manifest.ValidID.
func IndexKey(subject, id string) string {
	return OwnerIndexPrefix(subject) + invertedTime(id) + id
}

// IDFromIndexKey returns the image ID of an index entry.
func IDFromIndexKey(key string) (string, bool) {
	i := strings.LastIndexByte(key, '/')
	rest := key[i+1:]
	if len(rest) != 12+32 || !manifest.ValidID(rest[12:]) {
		return "", false
	}
	return rest[12:], true
}

// TombstoneKey marks image id as deleted.
func TombstoneKey(id string) string { return TombstonePrefix + id }

func ownerQuotaPrefix(subject string) string { return QuotaPrefix + OwnerHash(subject) + "/" }

// quotaKey records one upload of size bytes at t.
func quotaKey(subject, id string, t time.Time, size int64) string {
	return fmt.Sprintf("%s%012x-%s-%d", ownerQuotaPrefix(subject), maxMillis-uint64(t.UnixMilli()), id, size)
}

// parseQuotaKey reads back the time and size quotaKey recorded.
func parseQuotaKey(key string) (t time.Time, size int64, ok bool) {
	rest := key[strings.LastIndexByte(key, '/')+1:]
	parts := strings.Split(rest, "-")
	if len(parts) != 3 || len(parts[0]) != 12 {
		return time.Time{}, 0, false
	}
	inv, err1 := strconv.ParseUint(parts[0], 16, 64)
	size, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || inv > maxMillis || size < 0 {
		return time.Time{}, 0, false
	}
	return time.UnixMilli(int64(maxMillis - inv)), size, true
}
