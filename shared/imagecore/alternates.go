package imagecore

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"sync"

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

// encodeHooks go with one Process call's encodes: alts runs its alternates
// beside the variants' workers, observe sees each variant's pixels
// (VariantImages). The zero value encodes in line and shows no one.
type encodeHooks struct {
	alts    *altEncoder
	observe func(VariantImage)
}

// encodeAlternates writes a variant's extra encodings of img (premultiplied
// RGBA, YCbCr or Gray); transparency is kept in both formats. ctx is checked
// before each: an encode is one WASM call that cannot be interrupted. With
// hk.alts, encodes may run beside the caller and fill in their Data by the
// time its wait returns; img must not change after this call.
func encodeAlternates(ctx context.Context, hk encodeHooks, img image.Image, v Variant, opaque bool) ([]Alternate, error) {
	// Both encode paths come through here first, with the pixels the primary
	// is encoded from too: the one place a bench can take them (measure.go).
	observeVariant(hk, img, v, opaque)
	if len(v.Formats) == 0 {
		return nil, nil
	}
	alts := make([]Alternate, len(v.Formats))
	for i, f := range v.Formats {
		alts[i].Format = f
		if hk.alts.start(ctx, v.Name, func() ([]byte, error) { return encodeAlternate(img, f, opaque) }, &alts[i].Data) {
			continue
		}
		if err := ctxErr(ctx); err != nil {
			return nil, err
		}
		data, err := encodeAlternate(img, f, opaque)
		if err != nil {
			return nil, err
		}
		alts[i].Data = data
	}
	return alts, nil
}

// altEncoder runs one Process call's alternate encodes beside its other work.
// AVIF costs more than the rest of a variant together (the 1024 px medium of a
// 12 MP photo: about 0.3 s of a core, against 0.05 s for its resample and
// JPEG), and the variants run one after another on each of GOMAXPROCS workers,
// so encoded in line a costly alternate waits for what the worker was given
// before it and then holds the worker while other cores run dry. Started as
// soon as its pixels exist, it runs while the worker goes on with the next
// variant, and every core stays busy until the end.
type altEncoder struct {
	// slots bounds the encodes running beside the workers (and the WASM
	// instances' memory); when all are taken the caller encodes in line.
	slots chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	err   error // the first failure
}

func newAltEncoder(n int) *altEncoder { return &altEncoder{slots: make(chan struct{}, max(n, 1))} }

// start runs encode on its own goroutine, storing its bytes in *dst, if a is
// not nil and a slot is free; false means the caller encodes in line.
func (a *altEncoder) start(ctx context.Context, variant string, encode func() ([]byte, error), dst *[]byte) bool {
	if a == nil {
		return false
	}
	select {
	case a.slots <- struct{}{}:
	default:
		return false
	}
	a.wg.Go(func() {
		defer func() { <-a.slots }()
		if err := ctxErr(ctx); err != nil {
			a.fail(err)
			return
		}
		data, err := encode()
		if err != nil {
			a.fail(fmt.Errorf("variant %s: %w", variant, err))
			return
		}
		*dst = data
	})
	return true
}

func (a *altEncoder) fail(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err == nil {
		a.err = err
	}
}

// wait returns once every encode started has ended, with the first failure.
func (a *altEncoder) wait() error {
	a.wg.Wait()
	return a.err
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
