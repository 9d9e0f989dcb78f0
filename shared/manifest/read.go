package manifest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Getter is the part of *s3.Client that reads a manifest.
type Getter interface {
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// ErrUnreadable wraps a manifest that exists but does not decode.
var ErrUnreadable = errors.New("manifest unreadable")

// maxBytes bounds what a reader reads; a manifest of a dozen variants is ~2 KB.
const maxBytes = 1 << 20

// Read returns the manifest of image id from bucket, or nil and no error when there
// is none yet. A manifest written before manifests moved out of variants/ is
// found at its old key.
func Read(ctx context.Context, s3c Getter, bucket, id string) (*Manifest, error) {
	m, _, err := ReadVersion(ctx, s3c, bucket, id)
	return m, err
}

// ReadVersion is Read that also returns the ETag of the manifest object, which a
// writer passes as If-Match to replace exactly the version it read. A manifest
// that exists but does not decode is an error wrapping ErrUnreadable, returned
// with its ETag so it can be replaced; a failed read (network, throttling, a body
// cut short) is any other error, and means nothing about the manifest.
func ReadVersion(ctx context.Context, s3c Getter, bucket, id string) (*Manifest, string, error) {
	key := Key(id)
	out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if IsNotFound(err) {
		// Before manifests/, the manifest sat beside the variants. Found there, it
		// is returned with no ETag: there is no object at the current key yet, so
		// a writer creates it (If-None-Match: *) rather than replacing another.
		legacy := LegacyKey(id)
		out, err = s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &legacy})
		if IsNotFound(err) {
			return nil, "", nil
		}
		if err == nil {
			defer out.Body.Close()
			m, _, err := decode(legacy, out)
			return m, "", err
		}
		return nil, "", fmt.Errorf("get %s: %w", legacy, err)
	}
	if err != nil {
		return nil, "", fmt.Errorf("get %s: %w", key, err)
	}
	defer out.Body.Close()
	return decode(key, out)
}

// decode reads a manifest object's body and ETag.
func decode(key string, out *s3.GetObjectOutput) (*Manifest, string, error) {
	var etag string
	if out.ETag != nil {
		etag = *out.ETag
	}
	// Read the body first, so an I/O error is not mistaken for bad JSON.
	raw, err := io.ReadAll(io.LimitReader(out.Body, maxBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", key, err)
	}
	if len(raw) > maxBytes {
		return nil, etag, fmt.Errorf("decode %s: %w: over %d bytes", key, ErrUnreadable, maxBytes)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, etag, fmt.Errorf("decode %s: %w: %w", key, ErrUnreadable, err)
	}
	return &m, etag, nil
}

// IsNotFound reports S3's two spellings of a missing object: NoSuchKey from GET,
// NotFound from HEAD (which has no body to carry a code).
func IsNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	return errors.As(err, &nsk) || errors.As(err, &nf)
}
