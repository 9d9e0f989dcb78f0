package settings

import (
	"regexp"
	"slices"
)

// CDN tunes the CloudFront distribution in front of the variants (infra/cdn.go)
// and its local twin (localcloud/cdn).
type CDN struct {
	// Enabled puts the variants behind the CDN at lasting URLs; off, the status
	// API hands out presigned S3 URLs that expire after DownloadURLTTL.
	Enabled bool
	// PriceClass limits the edge locations (and their prices): PriceClass_100,
	// PriceClass_200 or PriceClass_All; empty is CloudFront's default (All).
	PriceClass string
	// DomainName and CertificateARN give the distribution a domain of your own;
	// the certificate must be in ACM in us-east-1 and cover the domain. Both or neither.
	DomainName     string
	CertificateARN string
}

// PriceClasses are the values CloudFront accepts for PriceClass.
var PriceClasses = []string{"PriceClass_100", "PriceClass_200", "PriceClass_All"}

var (
	domainName     = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	certificateARN = regexp.MustCompile(`^arn:aws[a-z-]*:acm:([a-z0-9-]+):[0-9]{12}:certificate/[0-9a-f-]{36}$`)
)

// validate reports every mistake in the CDN settings, each naming its key.
func (c CDN) validate(bad func(key, format string, args ...any)) {
	if c.PriceClass != "" && !slices.Contains(PriceClasses, c.PriceClass) {
		bad("cdnPriceClass", "must be one of %v or empty (CloudFront's default), got %q", PriceClasses, c.PriceClass)
	}
	if c.DomainName != "" && (len(c.DomainName) > 253 || !domainName.MatchString(c.DomainName)) {
		bad("cdnDomainName", "%q is not a lowercase domain name like images.example.com", c.DomainName)
	}
	if c.CertificateARN != "" {
		if m := certificateARN.FindStringSubmatch(c.CertificateARN); m == nil {
			bad("cdnCertificateArn", "%q is not an ACM certificate ARN like arn:aws:acm:us-east-1:123456789012:certificate/…", c.CertificateARN)
		} else if m[1] != "us-east-1" {
			bad("cdnCertificateArn", "CloudFront takes certificates from ACM in us-east-1 only; %q is in %s", c.CertificateARN, m[1])
		}
	}
	if (c.DomainName == "") != (c.CertificateARN == "") {
		bad("cdnDomainName", "set cdnDomainName and cdnCertificateArn together (a custom domain needs its certificate), got %q and %q", c.DomainName, c.CertificateARN)
	}
	if !c.Enabled && (c.PriceClass != "" || c.DomainName != "" || c.CertificateARN != "") {
		bad("cdn", "is off, so cdnPriceClass, cdnDomainName and cdnCertificateArn would do nothing; clear them or turn the CDN on")
	}
}

// DeliveryEnv is what the API (variant URLs, invalidations) and the resize
// function (events carry variant URLs) need of the CDN: nothing when it is off,
// so they fall back to presigned URLs.
func (s Settings) DeliveryEnv(cdnURL, distributionID string) map[string]string {
	if !s.CDN.Enabled {
		return map[string]string{}
	}
	env := map[string]string{"CDN_URL": cdnURL}
	if distributionID != "" {
		env["CDN_DISTRIBUTION_ID"] = distributionID
	}
	return env
}
