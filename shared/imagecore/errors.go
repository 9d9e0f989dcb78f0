package imagecore

import "fmt"

// Code names why an input was refused. Every Code is permanent: the same bytes
// will be refused again, so callers record the failure instead of retrying.
type Code string

const (
	CodeEmpty              Code = "empty_file"
	CodeUnsupportedFormat  Code = "unsupported_format"
	CodeCorrupt            Code = "corrupt_image"
	CodeTooLarge           Code = "too_large"            // more bytes than Limits.MaxBytes
	CodeTooManyPixels      Code = "too_many_pixels"      // width*height over Limits.MaxPixels
	CodeDimensionsTooLarge Code = "dimensions_too_large" // a side over Limits.MaxSide
	// CodeTooComplex: decoding would cost far more work than the file's size and
	// pixels justify (a JPEG with thousands of scans, say). The engine refuses
	// such files itself; a caller that gives each image a deadline of its own
	// also uses it when that deadline runs out (docs/hostile.md).
	CodeTooComplex Code = "too_complex"
)

// Error is a refusal of an input, with a message a person can read.
type Error struct {
	Code    Code
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }
