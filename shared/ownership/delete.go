package ownership

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/imagepipe/imagepipe/shared/delivery"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/shared/manifest"
)

// Store is the part of *s3.Client deletion uses.
type Store interface {
	HeadObject(ctx context.Context, params *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, params *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(ctx context.Context, params *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	ListObjectsV2(ctx context.Context, params *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// Invalidator is the part of *cloudfront.Client that drops deleted variants from
// the CDN's caches.
type Invalidator = delivery.Invalidator

// Deletion is what a finished delete reports (the events helper publishes it as
// ImageDeleted).
type Deletion struct {
	ID        string
	Owner     string
	DeletedAt time.Time
}

// DeletionListener hears about every image deleted through a Deleter. An error is
// reported to the caller, who may retry: a retried delete by the owner runs again
// and tells the listener again.
type DeletionListener interface {
	ImageDeleted(ctx context.Context, d Deletion) error
}

// Deleter removes images and everything they left behind.
type Deleter struct {
	Store         Store
	UploadsBucket string
	OutputBucket  string
	UploadPrefix  string
	// CDN and DistributionID invalidate /variants/{id}/* when there is a CDN; CDN
	// is nil when there is none.
	CDN            Invalidator
	DistributionID string
	// Listener, when set, hears about each deletion.
	Listener DeletionListener
	Now      func() time.Time
}

type tombstone struct {
	Owner     string    `json:"owner"` // OwnerHash
	DeletedAt time.Time `json:"deletedAt"`
}

// Owner tells whom image id belongs to: the manifest's owner, else the owner signed
// into the original (while it waits to be processed). found is false when the image is
// unknown; owner is then "".
func (d *Deleter) Owner(ctx context.Context, id string) (owner string, found bool, err error) {
	m, err := manifest.Read(ctx, d.Store, d.OutputBucket, id)
	if err != nil && !errors.Is(err, manifest.ErrUnreadable) {
		return "", false, err
	}
	if m != nil {
		return m.Owner, true, nil
	}
	head, err := d.Store.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &d.UploadsBucket, Key: ptr(manifest.UploadKey(d.UploadPrefix, id))})
	switch {
	case err == nil:
		return DecodeOwner(head.Metadata), true, nil
	case !manifest.IsNotFound(err):
		return "", false, fmt.Errorf("head upload %s: %w", id, err)
	}
	return "", false, nil
}

// Owns reports whether subject may delete image id: it owns the image, or the
// image's tombstone says it did (a delete that stopped half way, retried). An
// unknown id and another's image both answer false.
func (d *Deleter) Owns(ctx context.Context, id, subject string) (bool, error) {
	if subject == "" || !manifest.ValidID(id) {
		return false, nil
	}
	owner, found, err := d.Owner(ctx, id)
	if err != nil {
		return false, err
	}
	if found {
		return owner == subject, nil
	}
	t, err := d.tombstone(ctx, id)
	if err != nil || t == nil {
		return false, err
	}
	return t.Owner == OwnerHash(subject), nil
}

// Delete removes image id of subject: original, every variant and alternate, the
// manifest and the index entry; it invalidates the CDN and tells the listener. An
// image subject does not own is left alone and deleted is false. It is idempotent.
func (d *Deleter) Delete(ctx context.Context, id, subject string) (deleted bool, err error) {
	ok, err := d.Owns(ctx, id, subject)
	if err != nil || !ok {
		return false, err
	}
	now := d.now()
	// The tombstone goes first: a resize still running checks it after its last
	// write, so whichever of the two comes second removes what the resize wrote.
	body, _ := json.Marshal(tombstone{Owner: OwnerHash(subject), DeletedAt: now.UTC()})
	if _, err := d.Store.PutObject(ctx, &s3.PutObjectInput{Bucket: &d.OutputBucket, Key: ptr(TombstoneKey(id)),
		Body: bytes.NewReader(body), ContentLength: ptr(int64(len(body))), ContentType: ptr("application/json")}); err != nil {
		return false, fmt.Errorf("put tombstone %s: %w", id, err)
	}
	if _, err := d.Store.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &d.UploadsBucket, Key: ptr(manifest.UploadKey(d.UploadPrefix, id))}); err != nil {
		return false, fmt.Errorf("delete original %s: %w", id, err)
	}
	if err := d.PurgeOutputs(ctx, id, subject); err != nil {
		return false, err
	}
	if d.CDN != nil {
		if err := d.invalidate(ctx, id, now); err != nil {
			return false, err
		}
	}
	if d.Listener != nil {
		if err := d.Listener.ImageDeleted(ctx, Deletion{ID: id, Owner: subject, DeletedAt: now.UTC()}); err != nil {
			return false, fmt.Errorf("report deletion of %s: %w", id, err)
		}
	}
	return true, nil
}

// PurgeOutputs deletes what processing wrote for image id: every key the manifest
// names (variants and alternates, wherever they live), everything under the
// image's folder, the manifest itself, and subject's index entry. The resize
// function calls it when it finds a tombstone after writing.
func (d *Deleter) PurgeOutputs(ctx context.Context, id, subject string) error {
	keys := map[string]bool{manifest.Key(id): true}
	if subject != "" {
		keys[IndexKey(subject, id)] = true
	}
	m, err := manifest.Read(ctx, d.Store, d.OutputBucket, id)
	if err != nil && !errors.Is(err, manifest.ErrUnreadable) {
		return err
	}
	if m != nil {
		for _, v := range m.Variants {
			keys[v.Key] = true
			for _, a := range v.Alternates {
				keys[a.Key] = true
			}
		}
	}
	if err := d.eachOutputKey(ctx, manifest.Prefix(id), func(k string) error {
		keys[k] = true
		return nil
	}); err != nil {
		return err
	}
	// The manifest goes last, so a delete that stops half way still finds the keys
	// it names when it is retried.
	for k := range keys {
		if k == manifest.Key(id) || k == "" {
			continue
		}
		if _, err := d.Store.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &d.OutputBucket, Key: ptr(k)}); err != nil {
			return fmt.Errorf("delete %s: %w", k, err)
		}
	}
	if _, err := d.Store.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &d.OutputBucket, Key: ptr(manifest.Key(id))}); err != nil {
		return fmt.Errorf("delete %s: %w", manifest.Key(id), err)
	}
	return nil
}

// Tombstoned reports whether image id has been deleted.
func (d *Deleter) Tombstoned(ctx context.Context, id string) (bool, error) {
	_, err := d.Store.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &d.OutputBucket, Key: ptr(TombstoneKey(id))})
	if manifest.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("head tombstone %s: %w", id, err)
	}
	return true, nil
}

func (d *Deleter) tombstone(ctx context.Context, id string) (*tombstone, error) {
	out, err := d.Store.GetObject(ctx, &s3.GetObjectInput{Bucket: &d.OutputBucket, Key: ptr(TombstoneKey(id))})
	if manifest.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get tombstone %s: %w", id, err)
	}
	defer out.Body.Close()
	var t tombstone
	if err := json.NewDecoder(io.LimitReader(out.Body, 4096)).Decode(&t); err != nil {
		return nil, nil // not ours to trust: treat as no owner
	}
	return &t, nil
}

func (d *Deleter) invalidate(ctx context.Context, id string, now time.Time) error {
	_, err := delivery.InvalidateImage(ctx, d.CDN, d.DistributionID, id, now)
	return err
}

func (d *Deleter) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// Erase deletes every image of subject (GDPR erasure) and returns how many. It
// walks the owner's index page by page; each image is deleted as Delete does.
func (d *Deleter) Erase(ctx context.Context, subject string, progress func(id string)) (int, error) {
	prefix := OwnerIndexPrefix(subject)
	n := 0
	for {
		// Deleting shrinks the index, so each pass lists from the start again.
		out, err := d.Store.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &d.OutputBucket, Prefix: &prefix})
		if err != nil {
			return n, fmt.Errorf("list %s: %w", prefix, err)
		}
		if len(out.Contents) == 0 {
			return n, d.eraseQuota(ctx, subject)
		}
		progressed := false
		for _, o := range out.Contents {
			id, ok := IDFromIndexKey(deref(o.Key))
			if !ok {
				continue
			}
			done, err := d.Delete(ctx, id, subject)
			if err != nil {
				return n, err
			}
			if !done {
				// An index entry of an image that is no longer this owner's (or gone):
				// drop the entry so the walk ends.
				if _, err := d.Store.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &d.OutputBucket, Key: o.Key}); err != nil {
					return n, fmt.Errorf("delete %s: %w", deref(o.Key), err)
				}
			} else {
				n++
				if progress != nil {
					progress(id)
				}
			}
			progressed = true
		}
		if !progressed {
			return n, fmt.Errorf("index %s holds keys that are not image entries", prefix)
		}
	}
}

// eraseQuota deletes subject's upload records, which name its images and sizes.
func (d *Deleter) eraseQuota(ctx context.Context, subject string) error {
	return d.eachOutputKey(ctx, ownerQuotaPrefix(subject), func(k string) error {
		if _, err := d.Store.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &d.OutputBucket, Key: &k}); err != nil {
			return fmt.Errorf("delete %s: %w", k, err)
		}
		return nil
	})
}

// eachOutputKey calls f with every key under prefix in the output bucket, a
// page at a time, and stops at the first error.
func (d *Deleter) eachOutputKey(ctx context.Context, prefix string, f func(key string) error) error {
	p := s3.NewListObjectsV2Paginator(d.Store, &s3.ListObjectsV2Input{Bucket: &d.OutputBucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			if err := f(deref(o.Key)); err != nil {
				return err
			}
		}
	}
	return nil
}
