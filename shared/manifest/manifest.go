// Package manifest defines where imagepipe keeps things and the manifest that
// commits a processed image: image IDs, object keys and the manifest document.
package manifest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/imagepipe/imagepipe/shared/imagecore"
)

// Status is the state of an image as the API reports it.
type Status string

const (
	StatusPending Status = "pending"
	StatusReady   Status = "ready"
	StatusFailed  Status = "failed"
)

// Version is bumped when the manifest's meaning changes incompatibly.
const Version = 1

// VariantsPrefix is where the variant objects live in the output bucket: the only
// folder the CDN may read, so nothing else in the bucket can ever be served.
const VariantsPrefix = "variants/"

// ManifestsPrefix is where manifests live, apart from the variants, so that the
// CDN's grant on variants/ cannot reach them.
const ManifestsPrefix = "manifests/"

// Cache-Control values the resize function writes. Variant keys carry what shapes
// their bytes (VariantTag), so a URL never changes content and may be cached for a
// year; a manifest changes (pending, failed, redone) and must always be revalidated.
const (
	VariantCacheControl  = "public, max-age=31536000, immutable"
	ManifestCacheControl = "no-cache"
)

// FilenameMetaKey is the S3 user-metadata key (x-amz-meta-filename) that carries the
// client's file name, percent-encoded because S3 metadata must be ASCII.
const FilenameMetaKey = "filename"

// Manifest is written last, after every variant: its presence means the image is done.
type Manifest struct {
	Version     int       `json:"version"`
	ID          string    `json:"id"`
	Status      Status    `json:"status"`
	Source      Source    `json:"source"`
	Variants    []Variant `json:"variants"`
	Error       *Error    `json:"error,omitempty"`
	CompletedAt time.Time `json:"completedAt"`
	// ProcessingMS is the time from the start of download to the manifest write.
	ProcessingMS int64 `json:"processingMs"`
	// Owner is the subject of the token that presigned the upload, recorded by the
	// server; empty for uploads made outside the API (the AWS CLI, say).
	Owner string `json:"owner,omitempty"`
	// EngineVersion and SettingsHash say what made the outputs: a re-run skips only
	// when both match (with the source ETag), so a decoder fix or a variants change
	// is never mistaken for "already done".
	EngineVersion string `json:"engineVersion,omitempty"`
	SettingsHash  string `json:"settingsHash,omitempty"`
	// Notes are things a person should know that did not stop processing, such as
	// an embedded colour profile that could not be used.
	Notes []string `json:"notes,omitempty"`
}

// Source describes the original upload.
type Source struct {
	Bucket     string    `json:"bucket"`
	Key        string    `json:"key"`
	ETag       string    `json:"etag"`
	Filename   string    `json:"filename,omitempty"`
	Format     string    `json:"format,omitempty"`
	Width      int       `json:"width,omitempty"`
	Height     int       `json:"height,omitempty"`
	Bytes      int64     `json:"bytes"`
	UploadedAt time.Time `json:"uploadedAt"`
}

// Variant is one finished rendition.
type Variant struct {
	Name   string `json:"name"`
	Format string `json:"format"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Bytes  int64  `json:"bytes"`
	Key    string `json:"key"`
	// Alternates are the same picture in other encodings (WebP, AVIF), same size.
	Alternates []Alternate `json:"alternates,omitempty"`
}

// Alternate is one extra encoding of a variant.
type Alternate struct {
	Format string `json:"format"`
	Key    string `json:"key"`
	Bytes  int64  `json:"bytes"`
}

// Error says why an image failed, for a person.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

var idPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// NewID returns 128 random bits as 32 lowercase hex digits. IDs are only ever made
// by the server, so clients cannot choose or guess each other's keys.
func NewID() string {
	var b [16]byte
	// crypto/rand.Read never fails on supported platforms (it panics instead).
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ValidID reports whether id has the form NewID makes.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// KeyBaseName is the last element of an object key ("uploads/trip/cat.jpg" ->
// "cat.jpg"): the label of an upload that carries no file name. A key ending in
// "/" (a folder marker) has none.
func KeyBaseName(key string) string {
	if key == "" || strings.HasSuffix(key, "/") {
		return ""
	}
	return path.Base(key)
}

// UploadKey is where the browser uploads the original.
func UploadKey(prefix, id string) string { return prefix + id }

// IDForUploadKey maps a key in the uploads bucket to an image ID. Keys made by the
// API carry their ID; any other key under the prefix (an upload made with the AWS
// CLI, say) gets a stable ID derived from the key, so duplicate events agree and no
// key, however odd, can name a path outside variants/. ok is false for keys outside
// the prefix.
func IDForUploadKey(prefix, key string) (id string, ok bool) {
	rest, found := strings.CutPrefix(key, prefix)
	if !found || rest == "" {
		return "", false
	}
	if ValidID(rest) {
		return rest, true
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16]), true
}

// Prefix is the folder of one image's variants.
func Prefix(id string) string { return VariantsPrefix + id + "/" }

// Key is where the manifest of an image lives; this is the one place it is defined.
func Key(id string) string { return ManifestsPrefix + id + ".json" }

// LegacyKey is where manifests were written before they moved to manifests/;
// Read falls back to it, so images processed before the move keep their status.
func LegacyKey(id string) string { return path.Join(VariantsPrefix, id, "manifest.json") }

// TagLen is the length of a VariantTag in hex digits.
const TagLen = 8

// VariantTag is a short hash of everything that shapes a variant's bytes: the
// engine version, the variant's settings (size, fit, format, quality, extra
// formats) and the source object's ETag. It is part of the variant's key, so a
// change of any of them makes a new URL and a cached copy of an old one stays true.
func VariantTag(v imagecore.Variant, sourceETag string) string {
	settings, _ := json.Marshal(v) // a plain struct: cannot fail
	h := sha256.New()
	for _, part := range [][]byte{[]byte(imagecore.EngineVersion), settings, []byte(sourceETag)} {
		h.Write(part)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:TagLen]
}

// VariantKey is where one encoding of a rendition lives: every encoding of a
// variant shares variants/{id}/{name}-{tag} and differs only in its extension,
// which is what lets the CDN pick a format from the URL alone.
func VariantKey(id, name, tag, ext string) string {
	return path.Join(VariantsPrefix, id, name+"-"+tag+"."+ext)
}
