package main

import (
	"math"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/imagepipe/imagepipe/shared/ownership"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// StorageProps configures the buckets.
type StorageProps struct {
	Settings settings.Settings
	// UploadOrigins may upload from a browser besides Settings.AllowedOrigins; the
	// stack adds the HTTP API's own origin, which serves the upload page.
	UploadOrigins []*string
}

// Storage holds the uploads bucket (originals), the output bucket (variants and
// manifests) and the bucket both write server access logs to.
type Storage struct {
	Construct constructs.Construct
	Logs      awss3.Bucket
	Uploads   awss3.Bucket
	Output    awss3.Bucket
}

// NewStorage creates the three buckets, all private, TLS-only and encrypted.
func NewStorage(scope constructs.Construct, id string, props StorageProps) *Storage {
	c := constructs.NewConstruct(scope, jsii.String(id))
	s := props.Settings
	abortMultipart := &awss3.LifecycleRule{
		Id:                                  jsii.String("abort-incomplete-multipart"),
		AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
	}

	// Access logs can only be delivered with SSE-S3, not KMS, and by bucket policy
	// once ACLs are disabled.
	logs := awss3.NewBucket(c, jsii.String("AccessLogs"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		LifecycleRules: &[]*awss3.LifecycleRule{abortMultipart, {
			Id:         jsii.String("expire-access-logs"),
			Expiration: awscdk.Duration_Days(jsii.Number(float64(max(s.LogRetentionDays, 1)))),
		}},
	})

	// The browser-facing rule is shared with the local cloud (settings.UploadCORS);
	// the output bucket has none, since the page shows variants with <img> tags.
	cors := s.UploadCORS()
	origins := append(*jsii.Strings(cors.Origins...), props.UploadOrigins...)
	methods := make([]awss3.HttpMethods, len(cors.Methods))
	for i, m := range cors.Methods {
		methods[i] = awss3.HttpMethods(m)
	}
	uploads := awss3.NewBucket(c, jsii.String("Uploads"), &awss3.BucketProps{
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:             jsii.Bool(true),
		ServerAccessLogsBucket: logs,
		ServerAccessLogsPrefix: jsii.String("uploads/"),
		Cors: &[]*awss3.CorsRule{{
			AllowedMethods: &methods,
			AllowedOrigins: &origins,
			AllowedHeaders: jsii.Strings(cors.AllowedHeaders...),
			ExposedHeaders: jsii.Strings(cors.ExposedHeaders...),
			MaxAge:         jsii.Number(cors.MaxAge.Seconds()),
		}},
		LifecycleRules: &[]*awss3.LifecycleRule{abortMultipart, {
			Id:         jsii.String("expire-originals"),
			Prefix:     jsii.String(s.UploadPrefix),
			Expiration: awscdk.Duration_Days(jsii.Number(float64(s.OriginalsExpireDays))),
		}},
	})

	output := awss3.NewBucket(c, jsii.String("Output"), &awss3.BucketProps{
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:             jsii.Bool(true),
		ServerAccessLogsBucket: logs,
		ServerAccessLogsPrefix: jsii.String("output/"),
		LifecycleRules: &[]*awss3.LifecycleRule{abortMultipart, {
			// The quota counts the last 24 hours only.
			Id: jsii.String("expire-quota-records"), Prefix: jsii.String(ownership.QuotaPrefix),
			Expiration: awscdk.Duration_Days(jsii.Number(2)),
		}, {
			// A tombstone must outlive every message that may still name its image:
			// the queue's retention, then the DLQ's, from which it can be redriven.
			Id: jsii.String("expire-tombstones"), Prefix: jsii.String(ownership.TombstonePrefix),
			Expiration: awscdk.Duration_Days(jsii.Number(math.Ceil((s.Queue.Retention+s.Queue.DLQRetention).Hours()/24) + 1)),
		}},
	})

	return &Storage{Construct: c, Logs: logs, Uploads: uploads, Output: output}
}
