package delivery

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
)

// Invalidator is the part of *cloudfront.Client that drops cached answers; the
// local CDN (localcloud/cdn) satisfies it too.
type Invalidator interface {
	CreateInvalidation(ctx context.Context, params *cloudfront.CreateInvalidationInput, optFns ...func(*cloudfront.Options)) (*cloudfront.CreateInvalidationOutput, error)
}

// InvalidateImage asks the CDN to forget every cached URL of image id, as a
// deletion must: variant URLs are otherwise cached for a year. now makes the
// caller reference, which CloudFront uses to spot a retried request.
func InvalidateImage(ctx context.Context, cdn Invalidator, distributionID, id string, now time.Time) (string, error) {
	paths := InvalidationPaths(id)
	quantity := int32(len(paths))
	ref := fmt.Sprintf("imagepipe-%s-%d", id, now.UnixNano())
	out, err := cdn.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{
		DistributionId: &distributionID,
		InvalidationBatch: &types.InvalidationBatch{
			CallerReference: &ref,
			Paths:           &types.Paths{Quantity: &quantity, Items: paths},
		},
	})
	if err != nil {
		return "", fmt.Errorf("invalidate image %s on distribution %s: %w", id, distributionID, err)
	}
	if out.Invalidation == nil || out.Invalidation.Id == nil {
		return "", nil
	}
	return *out.Invalidation.Id, nil
}
