package imagecore

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"

	"github.com/gen2brain/avif"
	"golang.org/x/image/webp"
)

// What imagepipe bench and the benchmarks need to put a figure on each
// encoder alone: the pixels the engine encodes for a variant, the engine's own
// encode of them in any format, and a decode of an output as a client sees it.
// The engine itself never uses these.

// VariantImage is what the engine encodes for one variant, taken just before
// its encodes: Y'CbCr or gray planes (the planar path) or premultiplied RGBA.
type VariantImage struct {
	Variant Variant
	Image   image.Image
	Opaque  bool
}

type variantImagesKey struct{}

// WithVariantImages returns a context under which Process hands f a copy of
// every variant's pixels before encoding them (on the goroutine that encodes,
// so f must be safe for concurrent use when GOMAXPROCS > 1). f may keep them.
func WithVariantImages(ctx context.Context, f func(VariantImage)) context.Context {
	return context.WithValue(ctx, variantImagesKey{}, f)
}

// observeVariant passes img to the context's WithVariantImages function, if any.
func observeVariant(ctx context.Context, img image.Image, v Variant, opaque bool) {
	if f, ok := ctx.Value(variantImagesKey{}).(func(VariantImage)); ok {
		f(VariantImage{Variant: v, Image: cloneImage(img), Opaque: opaque})
	}
}

// Encode writes the image as f with the settings Process uses for it: the
// primary's encoder and quality for JPEG or PNG, the alternates' for WebP and
// AVIF. It leaves the image as it was, so it can be encoded again.
func (vi VariantImage) Encode(f Format) ([]byte, error) {
	switch f {
	case FormatWebP, FormatAVIF:
		return encodeAlternate(vi.Image, f, vi.Opaque)
	}
	if m, ok := vi.Image.(*image.RGBA); ok {
		// encode flattens a transparent image onto white in place.
		return encode(cloneImage(m).(*image.RGBA), f, vi.Variant.Quality, vi.Opaque)
	}
	return encodeOpaque(vi.Image, f, vi.Variant.Quality)
}

// PrimaryFormat is the format Process writes the variant's primary in.
func (vi VariantImage) PrimaryFormat() Format { return outputFormat(vi.Variant.Format, vi.Opaque) }

// DecodeOutput decodes an output of the engine as a client would see it:
// lossy WebP expanded from limited to full range (webprange.go), which
// golang.org/x/image/webp alone does not do.
func DecodeOutput(f Format, data []byte) (image.Image, error) {
	r := bytes.NewReader(data)
	var m image.Image
	var err error
	switch f {
	case FormatJPEG:
		m, err = jpeg.Decode(r)
	case FormatPNG:
		m, err = png.Decode(r)
	case FormatWebP:
		if m, err = webp.Decode(r); err == nil {
			webpFullRange(m)
		}
	case FormatAVIF:
		m, err = avif.Decode(r)
	default:
		return nil, fmt.Errorf("decode output: unknown format %q", f)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s output: %w", f, err)
	}
	return m, nil
}

// cloneImage copies the image types the engine encodes.
func cloneImage(m image.Image) image.Image {
	switch m := m.(type) {
	case *image.YCbCr:
		c := *m
		c.Y, c.Cb, c.Cr = bytes.Clone(m.Y), bytes.Clone(m.Cb), bytes.Clone(m.Cr)
		return &c
	case *image.Gray:
		c := *m
		c.Pix = bytes.Clone(m.Pix)
		return &c
	case *image.RGBA:
		c := *m
		c.Pix = bytes.Clone(m.Pix)
		return &c
	}
	return m // not one the engine makes; never changed in place either
}
