// Package imagecore turns uploaded image bytes into the configured variants.
// It knows nothing of AWS.
//
// An Engine checks every input before any pixel buffer exists (size, format
// sniffed from the bytes, then the header's dimensions against the limits),
// decodes it once (JPEG, PNG, GIF first frame, WebP), and renders every
// variant from that one decode: fit inside or cover, never upscaled, EXIF
// orientation applied to the outputs, no metadata written, JPEG for opaque
// images and PNG for transparent ones. Every refusal is an *Error with a Code.
//
// Work per file is bounded by its bytes and declared pixels (docs/hostile.md):
// JPEGs whose scans would cost more are refused as CodeTooComplex from a walk
// of their markers, and Process stops soon after its context is done, with an
// error that wraps the context's.
//
// Colour (docs/colour.md): an embedded ICC profile (JPEG APP2, PNG iCCP, WebP
// ICCP) is checked, turned into a lookup table once and applied right after
// decoding, so every output is sRGB with no profile; untagged CMYK is read as
// SWOP press output. A profile that cannot be used leaves the pixels as they
// are, with a note in Result.Notes.
//
// Speed (docs/performance.md): opaque JPEG and WebP sources are resampled per
// Y/Cb/Cr plane and handed to the JPEG encoder as YCbCr, with no RGB image in
// between; other sources go through premultiplied RGBA. Both shrink with 2x
// box steps first and finish with a fixed-point Lanczos-3. JPEGs are decoded
// by the package's own decoder at 1/2, 1/4 or 1/8 scale in the DCT domain
// when every variant allows it, and at full size when progressive (image/jpeg
// decodes baseline files at full size, and the kinds that decoder does not
// handle, known from the headers: an error once its scans are being decoded
// is a refusal, never a second decode).
// ProcessReference keeps the straightforward imaging pipeline as the quality
// and speed baseline.
package imagecore
