package imagecore

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"sync"

	"github.com/gen2brain/avif"
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

// VariantImages processes data as Process does and also returns, in variant
// order, a copy of the pixels each variant was encoded from.
func (e *Engine) VariantImages(ctx context.Context, data []byte) ([]VariantImage, *Result, error) {
	var mu sync.Mutex // variants are encoded on up to GOMAXPROCS goroutines
	byName := map[string]VariantImage{}
	res, err := e.processObserved(ctx, data, func(vi VariantImage) {
		mu.Lock()
		defer mu.Unlock()
		byName[vi.Variant.Name] = vi
	})
	if err != nil {
		return nil, nil, err
	}
	out := make([]VariantImage, len(e.variants))
	for i, v := range e.variants {
		vi, ok := byName[v.Name]
		if !ok {
			return nil, nil, fmt.Errorf("variant %s: the engine encoded no pixels for it", v.Name)
		}
		out[i] = vi
	}
	return out, res, nil
}

// observeVariant hands a copy of img to VariantImages, when it is the caller.
func observeVariant(hk encodeHooks, img image.Image, v Variant, opaque bool) {
	if hk.observe != nil {
		hk.observe(VariantImage{Variant: v, Image: cloneImage(img), Opaque: opaque})
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
// JPEG, PNG and WebP with the engine's own input decoders (lossy WebP
// expanded to full range, which golang.org/x/image/webp alone does not do),
// AVIF with libavif's.
func DecodeOutput(f Format, data []byte) (image.Image, error) {
	var m image.Image
	var err error
	switch f {
	case FormatJPEG, FormatPNG, FormatWebP: // named as the sources are
		m, err = decodeImage(string(f), data)
	case FormatAVIF:
		m, err = avif.Decode(bytes.NewReader(data))
	default:
		err = fmt.Errorf("unknown format %q", f)
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
