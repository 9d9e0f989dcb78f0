package settings

import (
	"slices"
	"time"

	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/ownership"
)

// CORSRule is a bucket CORS rule in S3's terms.
type CORSRule struct {
	Origins []string
	// Methods are HTTP methods, upper case.
	Methods []string
	// AllowedHeaders are the request headers a browser may send, lower case.
	AllowedHeaders []string
	// ExposedHeaders are the response headers a page may read.
	ExposedHeaders []string
	MaxAge         time.Duration
}

// UploadCORS is the uploads bucket's CORS rule, for the CDK app and the local
// cloud alike: exactly what the upload page does there from a browser. It PUTs
// the file to the presigned URL with the headers the presign signed (the browser
// sets Content-Length itself, so it is never a request header a preflight asks
// for) and may read ETag. Callers add the origin that serves the page (the API's).
//
// The output bucket gets no rule: the page shows variants with <img> and links,
// which are not CORS requests; a page that fetch()ed them would need one.
func (s Settings) UploadCORS() CORSRule {
	return CORSRule{
		Origins:        slices.Clone(s.AllowedOrigins),
		Methods:        []string{"PUT"},
		AllowedHeaders: []string{"content-type", "if-none-match", "x-amz-meta-" + manifest.FilenameMetaKey, "x-amz-meta-" + ownership.OwnerMetaKey},
		ExposedHeaders: []string{"ETag"},
		MaxAge:         50 * time.Minute,
	}
}
