package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/shared/ownership"
)

// runErase deletes every image of one user (GDPR erasure). The SDK's usual
// configuration applies, so AWS_ENDPOINT_URL_S3 points it at the local cloud.
func runErase(ctx context.Context, args []string) error {
	return eraseCommand(ctx, args, os.Stdout, os.Stderr, nil, nil)
}

// eraseCommand is erase with its clients given (tests); nil builds them from
// the SDK's configuration (the CDN's only with -distribution).
func eraseCommand(ctx context.Context, args []string, stdout, stderr io.Writer, store ownership.Store, cdn ownership.Invalidator) error {
	fs := flag.NewFlagSet("erase", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: imagepipe erase -user SUBJECT [-uploads-bucket B] [-output-bucket B]\n\n"+
			"Deletes every image of SUBJECT (the sub of its tokens): originals, variants,\n"+
			"alternates, manifests, its index and its quota records, as DELETE /v1/images/{id} does.\n"+
			"Buckets default to the stack outputs' env (UPLOADS_BUCKET, OUTPUT_BUCKET) or the local cloud's.\n\n")
		fs.PrintDefaults()
	}
	user := fs.String("user", "", "the subject whose images are erased")
	uploads := fs.String("uploads-bucket", envOr("UPLOADS_BUCKET", "imagepipe-uploads"), "uploads bucket (env UPLOADS_BUCKET)")
	output := fs.String("output-bucket", envOr("OUTPUT_BUCKET", "imagepipe-output"), "output bucket (env OUTPUT_BUCKET)")
	prefix := fs.String("upload-prefix", envOr("UPLOAD_PREFIX", "uploads/"), "folder of originals (env UPLOAD_PREFIX)")
	distribution := fs.String("distribution", envOr("CDN_DISTRIBUTION_ID", ""), "CloudFront distribution whose cached variants of each erased image are invalidated (env CDN_DISTRIBUTION_ID; empty: no CDN)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *user == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("-user is required and no arguments are taken")
	}
	if store == nil || (cdn == nil && *distribution != "") {
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return fmt.Errorf("load AWS configuration: %w", err)
		}
		if store == nil {
			store = s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = os.Getenv("AWS_ENDPOINT_URL_S3") != "" })
		}
		if cdn == nil && *distribution != "" {
			cdn = cloudfront.NewFromConfig(cfg)
		}
	}
	d := &ownership.Deleter{Store: store, UploadsBucket: *uploads, OutputBucket: *output, UploadPrefix: *prefix}
	if *distribution != "" {
		d.CDN, d.DistributionID = cdn, *distribution
	}
	n, err := d.Erase(ctx, *user, func(id string) { fmt.Fprintf(stderr, "deleted %s\n", id) })
	if err != nil {
		return fmt.Errorf("erase %s: %d images deleted before: %w", *user, n, err)
	}
	fmt.Fprintf(stdout, "erased %d images of %s\n", n, *user)
	return nil
}
