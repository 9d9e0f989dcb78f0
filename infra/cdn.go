package main

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfrontorigins"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/imagepipe/imagepipe/shared/delivery"
	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// CDNProps configures the distribution in front of the variants.
type CDNProps struct {
	Settings settings.Settings
	// Output holds the variants; the distribution reads variants/ and nothing else.
	Output awss3.IBucket
	// AccessLogs receives the server access logs of the CDN's own log bucket.
	AccessLogs awss3.IBucket
}

// CDN is CloudFront in front of the output bucket's variants/ folder.
type CDN struct {
	Construct    constructs.Construct
	Distribution awscloudfront.Distribution
	Function     awscloudfront.Function
	CachePolicy  awscloudfront.CachePolicy
	Headers      awscloudfront.ResponseHeadersPolicy
	Logs         awss3.Bucket
}

// variantObjects is what the distribution may read: the variants, never the
// manifests or anything else in the bucket.
var variantObjects = manifest.VariantsPrefix + "*"

// NewCDN creates the distribution: HTTPS only, HTTP/2 and HTTP/3, the
// negotiating viewer-request function, a cache keyed on the URI alone, the
// response headers policy, access logs, and Origin Access Control on a bucket
// that stays private.
func NewCDN(scope constructs.Construct, id string, props CDNProps) *CDN {
	c := constructs.NewConstruct(scope, jsii.String(id))
	s := props.Settings

	fn := awscloudfront.NewFunction(c, jsii.String("Negotiate"), &awscloudfront.FunctionProps{
		Code:    awscloudfront.FunctionCode_FromInline(jsii.String(delivery.FunctionCode)),
		Runtime: awscloudfront.FunctionRuntime_JS_2_0(),
		Comment: jsii.String("imagepipe: picks the best encoding of a variant for the viewer's Accept header"),
	})

	// The function has rewritten the URI to one object before the cache lookup,
	// so the URI is the whole key: no headers (not even Accept), cookies or query
	// strings, and no Accept-Encoding (images are compressed already).
	cache := awscloudfront.NewCachePolicy(c, jsii.String("Cache"), &awscloudfront.CachePolicyProps{
		Comment:                    jsii.String("imagepipe variants: keyed on the URI the negotiation chose; objects say immutable"),
		HeaderBehavior:             awscloudfront.CacheHeaderBehavior_None(),
		CookieBehavior:             awscloudfront.CacheCookieBehavior_None(),
		QueryStringBehavior:        awscloudfront.CacheQueryStringBehavior_None(),
		EnableAcceptEncodingGzip:   jsii.Bool(false),
		EnableAcceptEncodingBrotli: jsii.Bool(false),
		MinTtl:                     awscdk.Duration_Seconds(jsii.Number(0)),
		DefaultTtl:                 awscdk.Duration_Days(jsii.Number(1)),
		MaxTtl:                     awscdk.Duration_Days(jsii.Number(365)),
	})

	headers := awscloudfront.NewResponseHeadersPolicy(c, jsii.String("Headers"), &awscloudfront.ResponseHeadersPolicyProps{
		Comment: jsii.String("imagepipe variants: nosniff, HSTS, a CSP that lets nothing run, CORS for the allowed origins, Vary"),
		SecurityHeadersBehavior: &awscloudfront.ResponseSecurityHeadersBehavior{
			ContentTypeOptions: &awscloudfront.ResponseHeadersContentTypeOptions{Override: jsii.Bool(true)},
			StrictTransportSecurity: &awscloudfront.ResponseHeadersStrictTransportSecurity{
				AccessControlMaxAge: awscdk.Duration_Seconds(jsii.Number(delivery.HSTSSeconds)),
				IncludeSubdomains:   jsii.Bool(true),
				Override:            jsii.Bool(true),
			},
			ContentSecurityPolicy: &awscloudfront.ResponseHeadersContentSecurityPolicy{
				ContentSecurityPolicy: jsii.String(delivery.ContentSecurityPolicy),
				Override:              jsii.Bool(true),
			},
		},
		CorsBehavior: corsBehavior(s.AllowedOrigins),
		CustomHeadersBehavior: &awscloudfront.ResponseCustomHeadersBehavior{CustomHeaders: &[]*awscloudfront.ResponseCustomHeader{
			// One URL answers in several formats: no browser or proxy may reuse an
			// answer for a request with another Accept (or, for CORS, Origin).
			{Header: jsii.String("Vary"), Value: jsii.String(delivery.Vary), Override: jsii.Bool(true)},
		}},
		// What S3 says about its own storage is nobody else's business.
		RemoveHeaders: jsii.Strings("x-amz-server-side-encryption", "x-amz-version-id"),
	})

	// CloudFront's standard logs are written with an ACL, so they need a bucket
	// that allows ACLs (the shared access-log bucket enforces bucket ownership).
	logs := awss3.NewBucket(c, jsii.String("Logs"), &awss3.BucketProps{
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_PREFERRED,
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:             jsii.Bool(true),
		ServerAccessLogsBucket: props.AccessLogs,
		ServerAccessLogsPrefix: jsii.String("cdn-logs/"),
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:         jsii.String("expire-cdn-logs"),
			Expiration: awscdk.Duration_Days(jsii.Number(float64(max(s.LogRetentionDays, 1)))),
		}, {
			Id:                                  jsii.String("abort-incomplete-multipart"),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		}},
	})

	// The origin is a view of the output bucket through which CDK cannot write
	// the bucket policy: its own OAC grant would cover every key (bucket/*).
	// The grant below, on the real bucket, admits this distribution to
	// variants/* only, so even a function bug could not serve a manifest.
	originBucket := awss3.Bucket_FromBucketAttributes(c, jsii.String("OriginBucket"), &awss3.BucketAttributes{
		BucketArn:                props.Output.BucketArn(),
		BucketName:               props.Output.BucketName(),
		BucketRegionalDomainName: props.Output.BucketRegionalDomainName(),
	})
	origin := awscloudfrontorigins.S3BucketOrigin_WithOriginAccessControl(originBucket, &awscloudfrontorigins.S3BucketOriginWithOACProps{
		// The CDN's root is the variants folder: /{id}/{name}-{tag}.{ext}.
		OriginPath:         jsii.String("/" + strings.TrimSuffix(manifest.VariantsPrefix, "/")),
		OriginAccessLevels: &[]awscloudfront.AccessLevel{awscloudfront.AccessLevel_READ},
	})

	dp := &awscloudfront.DistributionProps{
		Comment: jsii.String("imagepipe: variants at lasting URLs, the best format for each browser"),
		DefaultBehavior: &awscloudfront.BehaviorOptions{
			Origin:                origin,
			ViewerProtocolPolicy:  awscloudfront.ViewerProtocolPolicy_REDIRECT_TO_HTTPS,
			AllowedMethods:        awscloudfront.AllowedMethods_ALLOW_GET_HEAD(),
			CachedMethods:         awscloudfront.CachedMethods_CACHE_GET_HEAD(),
			CachePolicy:           cache,
			ResponseHeadersPolicy: headers,
			Compress:              jsii.Bool(false),
			FunctionAssociations: &[]*awscloudfront.FunctionAssociation{{
				Function: fn, EventType: awscloudfront.FunctionEventType_VIEWER_REQUEST,
			}},
		},
		HttpVersion:   awscloudfront.HttpVersion_HTTP2_AND_3,
		EnableIpv6:    jsii.Bool(true),
		EnableLogging: jsii.Bool(true),
		LogBucket:     logs,
		LogFilePrefix: jsii.String("cloudfront/"),
		// A variant that is not there (deleted, or an old tag) is S3's 403; it
		// may be written soon, so the error is cached briefly.
		ErrorResponses: &[]*awscloudfront.ErrorResponse{{
			HttpStatus: jsii.Number(403), Ttl: awscdk.Duration_Seconds(jsii.Number(10)),
		}},
	}
	if pc := priceClass(s.CDN.PriceClass); pc != "" {
		dp.PriceClass = pc
	}
	if s.CDN.DomainName != "" {
		dp.DomainNames = jsii.Strings(s.CDN.DomainName)
		dp.Certificate = awscertificatemanager.Certificate_FromCertificateArn(c, jsii.String("Certificate"), jsii.String(s.CDN.CertificateARN))
		dp.MinimumProtocolVersion = awscloudfront.SecurityPolicyProtocol_TLS_V1_2_2021
		dp.SslSupportMethod = awscloudfront.SSLMethod_SNI
	}
	dist := awscloudfront.NewDistribution(c, jsii.String("Distribution"), dp)
	awscdk.Annotations_Of(dist).AcknowledgeWarning(jsii.String("@aws-cdk/aws-cloudfront-origins:updateImportedBucketPolicyOac"),
		jsii.String("The bucket policy is written by NewCDN, scoped to variants/*"))

	props.Output.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CdnReadsVariantsOnly"),
		Effect:     awsiam.Effect_ALLOW,
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudfront.amazonaws.com"), nil)},
		Actions:    jsii.Strings("s3:GetObject"),
		Resources:  jsii.Strings(*props.Output.ArnForObjects(jsii.String(variantObjects))),
		Conditions: &map[string]any{"StringEquals": map[string]any{"AWS:SourceArn": dist.DistributionArn()}},
	}))

	acknowledge(dist, "AwsSolutions-CFR1",
		"Variants are public pictures by design (embedded in pages, feeds and e-mails anywhere); "+
			"no country is excluded. A deployment that must can add a geo restriction.")
	acknowledge(dist, "AwsSolutions-CFR2",
		"The distribution serves immutable image objects by GET and HEAD only; every other URL is answered 404 "+
			"by the viewer-request function before the cache, and nothing reaches code. WAF's per-request price "+
			"would buy no protection a static image needs; AWS Shield Standard covers it.")
	if s.CDN.DomainName == "" {
		acknowledge(dist, "AwsSolutions-CFR4",
			"Without cdnDomainName the distribution uses the *.cloudfront.net certificate, whose minimum TLS "+
				"version CloudFront fixes at TLSv1; set cdnDomainName and cdnCertificateArn for TLSv1.2_2021.")
	}
	acknowledge(logs, "AwsSolutions-S1",
		"This bucket's own server access logs go to the shared access-log bucket.")

	return &CDN{Construct: c, Distribution: dist, Function: fn, CachePolicy: cache, Headers: headers, Logs: logs}
}

// URL is the base of every delivery URL: the custom domain when set.
func (d *CDN) URL(s settings.Settings) *string {
	if s.CDN.DomainName != "" {
		return jsii.String("https://" + s.CDN.DomainName)
	}
	return jsii.String("https://" + *d.Distribution.DistributionDomainName())
}

func priceClass(name string) awscloudfront.PriceClass {
	switch name {
	case "PriceClass_100":
		return awscloudfront.PriceClass_PRICE_CLASS_100
	case "PriceClass_200":
		return awscloudfront.PriceClass_PRICE_CLASS_200
	case "PriceClass_All":
		return awscloudfront.PriceClass_PRICE_CLASS_ALL
	}
	return ""
}

// corsBehavior lets the allowed origins read variants from scripts (fetch,
// canvas); <img> and <picture> need no CORS. None without origins: CloudFront
// refuses an empty list.
func corsBehavior(origins []string) *awscloudfront.ResponseHeadersCorsBehavior {
	if len(origins) == 0 {
		return nil
	}
	return &awscloudfront.ResponseHeadersCorsBehavior{
		AccessControlAllowCredentials: jsii.Bool(false),
		AccessControlAllowHeaders:     jsii.Strings("*"),
		AccessControlAllowMethods:     jsii.Strings("GET", "HEAD"),
		AccessControlAllowOrigins:     jsii.Strings(origins...),
		AccessControlMaxAge:           awscdk.Duration_Seconds(jsii.Number(delivery.CORSMaxAgeSeconds)),
		OriginOverride:                jsii.Bool(true),
	}
}
