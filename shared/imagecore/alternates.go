package imagecore

import (
	"bytes"
	"context"
	"fmt"
	"image"

	"github.com/gen2brain/avif"
	"github.com/gen2brain/webp"
)

// WebP and AVIF alternates are encoded by libwebp and libaom (through libavif),
// compiled to WASM (gen2brain/webp, gen2brain/avif). Their settings were chosen
// on the bench corpus (docs/performance.md, "Formats"): AVIF at the least
// quality whose SSIM against the Lanczos reference matches the JPEG primary's
// (q80; speed 10 costs a third of speed 8's CPU for the same bytes and SSIM).
// WebP likewise (q87; method 6 costs 1.25-1.55x method 4's CPU for 4-5%
// fewer bytes and no better SSIM): 0.76-0.90 of the JPEG's bytes on the corpus.
const (
	WebPQuality = 87 // libwebp 0-100
	WebPMethod  = 4  // libwebp 0 (fast) - 6 (small)
	AVIFQuality = 80 // libavif 0-100
	AVIFSpeed   = 10 // libavif 0 (small) - 10 (fast)
)

// encodeAlternates writes a variant's extra encodings of img (premultiplied
// RGBA, YCbCr or Gray); transparency is kept in both formats. ctx is checked
// before each: an encode is one WASM call that cannot be interrupted.
func encodeAlternates(ctx context.Context, img image.Image, v Variant, opaque bool) ([]Alternate, error) {
	// Both encode paths come through here first, with the pixels the primary
	// is encoded from too: the one place a bench can take them (measure.go).
	observeVariant(ctx, img, v, opaque)
	if len(v.Formats) == 0 {
		return nil, nil
	}
	alts := make([]Alternate, 0, len(v.Formats))
	for _, f := range v.Formats {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("image engine: %w", err)
		}
		data, err := encodeAlternate(img, f, opaque)
		if err != nil {
			return nil, err
		}
		alts = append(alts, Alternate{Format: f, Data: data})
	}
	return alts, nil
}

// altSettings are an alternate encoder's knobs: quality, and WebP's method
// or AVIF's speed.
type altSettings struct {
	quality, effort int
}

var defaultAlt = map[Format]altSettings{
	FormatWebP: {WebPQuality, WebPMethod},
	FormatAVIF: {AVIFQuality, AVIFSpeed},
}

func encodeAlternate(img image.Image, f Format, opaque bool) ([]byte, error) {
	return encodeAlternateWith(img, f, opaque, defaultAlt[f])
}

func encodeAlternateWith(img image.Image, f Format, opaque bool, s altSettings) ([]byte, error) {
	b := img.Bounds()
	buf := bytes.NewBuffer(make([]byte, 0, b.Dx()*b.Dy()/4+1024))
	switch f {
	case FormatWebP:
		src := img
		if m, ok := img.(*image.RGBA); ok && !opaque {
			src = unpremultiply(m) // libwebp imports straight RGBA
		}
		if err := webp.Encode(buf, src, webp.Options{Quality: s.quality, Method: s.effort}); err != nil {
			return nil, fmt.Errorf("encode webp: %w", err)
		}
	case FormatAVIF:
		// The encoder reads premultiplied RGBA (image.RGBA) and writes no
		// alpha plane for an opaque image.
		if err := avif.Encode(buf, img, avif.Options{Quality: s.quality, QualityAlpha: s.quality, Speed: s.effort,
			ChromaSubsampling: image.YCbCrSubsampleRatio420}); err != nil {
			return nil, fmt.Errorf("encode avif: %w", err)
		}
	default:
		return nil, fmt.Errorf("unknown alternate format %q", f)
	}
	return buf.Bytes(), nil
}
