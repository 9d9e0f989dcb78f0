package imagecore

import (
	"errors"
	"fmt"
	"regexp"
)

// Fit says how a variant fills its box.
type Fit string

const (
	// FitInside scales the image to fit inside the box, keeping its aspect ratio.
	FitInside Fit = "inside"
	// FitCover scales the image to cover the box and crops the overflow, centred.
	FitCover Fit = "cover"
)

// Format is an output encoding. The zero value means "choose": JPEG for opaque
// images, PNG for images with transparency.
type Format string

const (
	FormatAuto Format = ""
	FormatJPEG Format = "jpeg"
	FormatPNG  Format = "png"
	// WebP and AVIF are written only as alternates (Variant.Formats), beside
	// a JPEG or PNG primary every client can read.
	FormatWebP Format = "webp"
	FormatAVIF Format = "avif"
)

// Ext is the file extension used in output keys.
func (f Format) Ext() string {
	if f == FormatJPEG {
		return "jpg"
	}
	return string(f)
}

// ContentType is the MIME type of the encoding.
func (f Format) ContentType() string {
	switch f {
	case FormatJPEG:
		return "image/jpeg"
	case FormatPNG:
		return "image/png"
	case FormatWebP:
		return "image/webp"
	case FormatAVIF:
		return "image/avif"
	}
	return "application/octet-stream"
}

// Variant is one output rendition. Width or Height may be zero (unbounded on that
// axis) but not both; cover needs both.
type Variant struct {
	Name    string `json:"name"`
	Width   int    `json:"width,omitempty"`
	Height  int    `json:"height,omitempty"`
	Fit     Fit    `json:"fit,omitempty"`
	Format  Format `json:"format,omitempty"`
	Quality int    `json:"quality,omitempty"`
	// Formats are extra encodings written beside the primary (for example webp,
	// avif); empty means the primary only.
	Formats []Format `json:"formats,omitempty"`
}

// Limits bound what an input may cost before any pixel buffer exists.
type Limits struct {
	MaxBytes  int64 `json:"maxBytes"`
	MaxPixels int64 `json:"maxPixels"`
	MaxSide   int   `json:"maxSide"`
}

// DefaultQuality is the JPEG quality used when a variant does not set one.
const DefaultQuality = 82

// MaxVariantSide bounds a variant's box; larger outputs are never useful on the web
// and would let a configuration mistake allocate gigabytes.
const MaxVariantSide = 8192

// DefaultLimits are the limits used when configuration does not set them.
func DefaultLimits() Limits {
	return Limits{MaxBytes: 25 << 20, MaxPixels: 50_000_000, MaxSide: 16384}
}

// DefaultVariants is the variant set used when configuration does not set one:
// AVIF alternates on thumb, small and medium, the measured set that fits one
// core-second for a 12-20 MP photo (docs/performance.md, "Formats";
// TestAVIFAlternatesMatchTheJPEG).
func DefaultVariants() []Variant {
	return []Variant{
		// AVIF beside the JPEG where it fits the CPU budget of a photo
		// (docs/performance.md, "Formats"); on large it would more than double it.
		{Name: "thumb", Width: 200, Height: 200, Fit: FitCover, Formats: []Format{FormatAVIF}},
		{Name: "small", Width: 480, Fit: FitInside, Formats: []Format{FormatAVIF}},
		{Name: "medium", Width: 1024, Fit: FitInside, Formats: []Format{FormatAVIF}},
		{Name: "large", Width: 2048, Fit: FitInside},
	}
}

var variantName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// Validate reports every mistake in the limits, each in its own sentence.
func (l Limits) Validate() error {
	var errs []error
	if l.MaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("maxBytes must be positive, got %d", l.MaxBytes))
	}
	if l.MaxPixels <= 0 {
		errs = append(errs, fmt.Errorf("maxPixels must be positive, got %d", l.MaxPixels))
	}
	if l.MaxSide <= 0 {
		errs = append(errs, fmt.Errorf("maxSide must be positive, got %d", l.MaxSide))
	}
	return errors.Join(errs...)
}

// ValidateVariants reports every mistake in a variant set, each naming its variant,
// so a bad configuration fails at start-up rather than on the first image.
func ValidateVariants(vs []Variant) error {
	var errs []error
	if len(vs) == 0 {
		errs = append(errs, errors.New("at least one variant is required"))
	}
	seen := map[string]bool{}
	for i, v := range vs {
		where := fmt.Sprintf("variant %d (%q)", i, v.Name)
		if !variantName.MatchString(v.Name) {
			errs = append(errs, fmt.Errorf("%s: name must be 1-32 of a-z, 0-9, '-' or '_', starting with a letter or digit", where))
		}
		if v.Name == "manifest" {
			errs = append(errs, fmt.Errorf("%s: name %q is reserved for the manifest", where, v.Name))
		}
		if seen[v.Name] {
			errs = append(errs, fmt.Errorf("%s: name is used twice", where))
		}
		seen[v.Name] = true
		if v.Width < 0 || v.Height < 0 {
			errs = append(errs, fmt.Errorf("%s: width and height must not be negative", where))
		}
		if v.Width == 0 && v.Height == 0 {
			errs = append(errs, fmt.Errorf("%s: set width, height or both", where))
		}
		if v.Width > MaxVariantSide || v.Height > MaxVariantSide {
			errs = append(errs, fmt.Errorf("%s: width and height must be at most %d", where, MaxVariantSide))
		}
		switch v.Fit {
		case FitInside, "":
		case FitCover:
			if v.Width == 0 || v.Height == 0 {
				errs = append(errs, fmt.Errorf("%s: fit %q needs both width and height", where, v.Fit))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: fit must be %q or %q, got %q", where, FitInside, FitCover, v.Fit))
		}
		switch v.Format {
		case FormatAuto, FormatJPEG, FormatPNG:
		default:
			errs = append(errs, fmt.Errorf("%s: format must be %q, %q or empty (automatic), got %q", where, FormatJPEG, FormatPNG, v.Format))
		}
		if v.Quality < 0 || v.Quality > 100 {
			errs = append(errs, fmt.Errorf("%s: quality must be 1-100 (0 means the default %d), got %d", where, DefaultQuality, v.Quality))
		}
		errs = append(errs, validateFormats(where, v)...)
	}
	return errors.Join(errs...)
}

// validateFormats checks a variant's alternates: webp or avif, each once, and
// never the primary's own format.
func validateFormats(where string, v Variant) []error {
	var errs []error
	seen := map[Format]bool{}
	for _, f := range v.Formats {
		switch f {
		case FormatWebP, FormatAVIF:
		default:
			errs = append(errs, fmt.Errorf("%s: formats may list %q and %q, got %q", where, FormatWebP, FormatAVIF, f))
			continue
		}
		if seen[f] {
			errs = append(errs, fmt.Errorf("%s: formats lists %q twice", where, f))
		}
		seen[f] = true
		if f == v.Format {
			errs = append(errs, fmt.Errorf("%s: formats lists %q, the primary format", where, f))
		}
	}
	return errs
}
