package imagecore

import "image"

// VP8 (lossy WebP) codes Y'CbCr in BT.601 limited range (Y' 16-235, Cb and
// Cr 16-240), as libwebp decodes it; golang.org/x/image/webp hands those
// samples over as an image.YCbCr, which the rest of Go (and this engine)
// reads as JFIF full range, so lossy WebP came out washed out (about 6 %
// RMSE against libwebp's own decode). Expanding the samples to full range
// in place makes them JFIF samples: the conversion matrices are the same.

var webpLumaLUT, webpChromaLUT = func() (y, c [256]uint8) {
	for v := range 256 {
		y[v] = uint8(min(max((float64(v)-16)*255/219+0.5, 0), 255))
		c[v] = uint8(min(max((float64(v)-128)*255/224+128.5, 0), 255))
	}
	return y, c
}()

// webpFullRange expands a lossy WebP decode's samples to full range.
func webpFullRange(m image.Image) {
	var y, cb, cr []byte
	switch m := m.(type) {
	case *image.YCbCr:
		y, cb, cr = m.Y, m.Cb, m.Cr
	case *image.NYCbCrA:
		y, cb, cr = m.Y, m.Cb, m.Cr
	default:
		return // lossless WebP is RGB already
	}
	for i, v := range y {
		y[i] = webpLumaLUT[v]
	}
	for i, v := range cb {
		cb[i] = webpChromaLUT[v]
	}
	for i, v := range cr {
		cr[i] = webpChromaLUT[v]
	}
}
