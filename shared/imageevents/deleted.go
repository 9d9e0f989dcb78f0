package imageevents

import (
	"context"

	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/ownership"
)

// DeletionEvents is an ownership.DeletionListener that publishes ImageDeleted for
// every delete the API's Deleter finishes. A failed publish fails the delete, so
// the owner's retry (which runs the delete again) publishes again. The detail
// names only what every retry knows (id, owner, the upload's key), so it is the
// same each time.
type DeletionEvents struct {
	Publisher    Publisher
	UploadPrefix string
}

// ImageDeleted publishes the event of d.
func (e DeletionEvents) ImageDeleted(ctx context.Context, d ownership.Deletion) error {
	return PublishDeleted(ctx, e.Publisher, d.ID, d.Owner, nil,
		manifest.Source{Key: manifest.UploadKey(e.UploadPrefix, d.ID)}, d.DeletedAt)
}
