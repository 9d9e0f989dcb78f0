package imagecore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
)

// collectAfterDecodePixels is the source size from which a scaled decode is
// followed by a garbage collection.
const collectAfterDecodePixels = 4 << 20

// maxJPEGShrink is the deepest DCT-domain reduction: 1/8, a block's DC alone.
const maxJPEGShrink = 3

// jpegScales chooses how many times to halve each component in the DCT
// domain: as many times as every variant's own plan would halve luma with 2x
// box steps anyway, so luma reaches the resampler at the same size as before.
func jpegScales(info SourceInfo, d *jpegDecoder, variants []Variant) []int {
	geoms := make([]chainGeom, len(d.comps))
	for i, c := range d.comps {
		geoms[i] = chainGeom{w: c.cw, h: c.ch, sx: float64(c.cw) / float64(d.w), sy: float64(c.ch) / float64(d.h)}
	}
	ks := make([]int, len(d.comps))
	for i := range ks {
		ks[i] = maxJPEGShrink
	}
	for _, p := range planVariants(info, geoms, d.w, d.h, variants) {
		if p.from >= 0 { // made from another variant's output
			continue
		}
		ks[0] = min(ks[0], p.planes[0].kx, p.planes[0].ky)
	}
	// Chroma follows luma, as in libjpeg: small outputs keep full-size
	// chroma in the plan only because it is cheap there, and decoding chroma
	// at full size would cost more than the whole reduced luma.
	for i := range ks {
		ks[i] = ks[0]
	}
	return ks
}

// renderJPEG decodes a JPEG at the reduced scale its variants allow and
// renders them. ok is false only when the scaled decoder does not apply, which
// is known from the headers before the first scan, before any pixel work: a
// kind of JPEG it does not handle, a header it cannot read (image/jpeg then
// judges it), or a baseline file with no reduction possible (image/jpeg
// decodes those about 10% faster at full size). A progressive file is
// decoded here at any scale: as fast as image/jpeg at full size, and its
// scans cost what their bits cost, where image/jpeg visits every block of
// every scan. The caller then takes the image/jpeg path. Once scans are being decoded every error is final (ok is true): a
// damaged file is refused as corrupt, not decoded a second time.
func renderJPEG(ctx context.Context, hk encodeHooks, info SourceInfo, data []byte, w, h int, variants []Variant, src colourSource, notes *[]string) (outs []Output, ok bool, err error) {
	d, err := newJPEGDecoder(data)
	if err != nil || d.w != w || d.h != h {
		return nil, false, nil
	}
	ks := jpegScales(info, d, variants)
	if ks[0] == 0 && !d.progressive {
		return nil, false, nil
	}
	n := make([]int, len(ks))
	for i, k := range ks {
		n[i] = 8 >> k
	}
	planes, err := d.decode(ctx, n)
	if err != nil {
		return nil, true, jpegRefusal(err)
	}
	// Collect now, while the live heap is small and pointer-free (the planes):
	// a progressive decode's coefficients and the previous image's outputs
	// are garbage, and the pacer would otherwise let the variants pile onto
	// them. About a millisecond; a warm 12-20 MP photo's peak RSS falls by a
	// fifth to a third (docs/performance.md).
	if w*h >= collectAfterDecodePixels {
		runtime.GC()
	}
	// Colour conversion runs here, at the reduced scale: converted chroma
	// comes out at luma's size, so every plane then has luma's geometry.
	geom := make([]int, len(planes))
	cp, converted, cn := planesToSRGB(d, planes, src)
	*notes = append(*notes, cn...)
	if converted {
		planes = cp
	} else {
		for i := range geom {
			geom[i] = i
		}
	}
	chains := make([]*chain, len(planes))
	for i, p := range planes {
		c := d.comps[geom[i]]
		s := float64(c.n) / 8
		chains[i] = newChain(p, float64(c.cw)/float64(w)*s, float64(c.ch)/float64(h)*s)
	}
	outs, err = renderPlanar(ctx, hk, info, chains, w, h, variants)
	return outs, true, err
}

// jpegRefusal turns a decoding error into what Process returns: the context's
// error (wrapped) when it stopped the work, else a refusal of the file.
func jpegRefusal(err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("image engine: %w", err)
	case errors.Is(err, errJPEGTooComplex):
		return &Error{Code: CodeTooComplex, Message: "decoding the JPEG would take far more work than its size and pixels justify", Err: err}
	}
	return &Error{Code: CodeCorrupt, Message: "the jpeg data is damaged or truncated", Err: err}
}
