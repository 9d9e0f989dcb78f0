package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
)

// objectAccess is what a function does with the objects under a prefix.
type objectAccess int

const (
	readObjects   objectAccess = 1 << iota // GetObject and HeadObject
	writeObjects                           // PutObject, conditional or not
	deleteObjects                          // DeleteObject (deleting images, issue 13)
)

// grantObjects grants exactly the S3 actions the functions call, instead of
// Bucket.grantRead and grantPut, which add the s3:GetObject* family (tagging,
// ACLs, versions), s3:GetBucket*, s3:List* and retention, legal-hold and tagging
// writes that nothing here uses. Reads come with s3:ListBucket on the bucket:
// without it S3 answers 403 instead of 404 for a key that does not exist, and 404
// is how the functions tell "no manifest yet" and "the original is gone" from an
// error.
func grantObjects(grantee awsiam.IGrantable, bucket awss3.IBucket, pattern string, access objectAccess) {
	var actions []string
	if access&readObjects != 0 {
		actions = append(actions, "s3:GetObject")
	}
	if access&writeObjects != 0 {
		actions = append(actions, "s3:PutObject")
	}
	if access&deleteObjects != 0 {
		actions = append(actions, "s3:DeleteObject")
	}
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings(actions...),
		ResourceArns: &[]*string{bucket.ArnForObjects(jsii.String(pattern))},
	})
	if access&readObjects != 0 {
		awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
			Grantee:      grantee,
			Actions:      jsii.Strings("s3:ListBucket"),
			ResourceArns: &[]*string{bucket.BucketArn()},
		})
	}
}
