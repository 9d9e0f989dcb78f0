package imagecore

import (
	"context"
	"errors"
	"fmt"
	"image"
)

// HEIC is decoded by libheif and libde265, AVIF by libavif and dav1d (gen2brain/heic
// and gen2brain/avif), compiled to WASM and run by wazero, so the functions stay
// static CGO-free binaries. What each library does and what is left to us
// (docs/formats.md):
//   - libheif assembles grids, applies irot, imir and clap, and turns 10- and
//     12-bit planes into 8 bits; it returns only the primary item's colour
//     planes (YCbCr as coded), so the alpha item is decoded separately and
//     YCbCr that is not full-range BT.601 is converted here;
//   - libavif assembles grids, converts YUV to RGB by the file's matrix,
//     premultiplies the alpha item in, and returns 16-bit samples for deeper
//     sources (rounded to 8 bits here); it applies no irot or imir, which the
//     engine applies to the outputs like an EXIF orientation.
// Both only ever see files whose ispe passed the limits, and run under the
// engine's context and a memory bound (wasmdecode.go).

// heifHeader parses a HEIF/AVIF file and returns its format (by the coded
// items' codec), the size of the pixels the decoder will return, and the
// orientation the engine must still apply.
func heifHeader(data []byte) (*heifFile, string, image.Config, int, error) {
	hf, err := parseHEIF(data)
	if err != nil {
		return nil, "", image.Config{}, 0, err
	}
	format := SourceHEIC
	if hf.codec == "av01" {
		format = SourceAVIF
	}
	return hf, format, image.Config{Width: hf.width, Height: hf.height}, hf.orientation, nil
}

// decodeHEIF decodes a file heifHeader accepted. notes say what was not kept.
func (w *wasmDecoders) decodeHEIF(ctx context.Context, format string, data []byte, hf *heifFile) (image.Image, []string, error) {
	corrupt := func(err error) error {
		var refusal *Error
		if errors.As(err, &refusal) { // already judged (over the decoder's memory bound)
			return refusal
		}
		return &Error{Code: CodeCorrupt, Message: fmt.Sprintf("the %s data is damaged, truncated or uses a feature the decoder does not support", format), Err: err}
	}
	var notes []string
	size := image.Pt(hf.width, hf.height)
	switch format {
	case SourceAVIF:
		m, err := w.decodeAVIF(ctx, data, size)
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("image engine: %w", err)
		}
		if err != nil {
			return nil, nil, corrupt(err)
		}
		m, n := containerColour(m, hf.icc, hf.cicp)
		return m, append(notes, n...), nil
	case SourceHEIC:
		m, err := w.decodeHEIC(ctx, hf.untransformed(data, false), size)
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("image engine: %w", err)
		}
		if err != nil {
			return nil, nil, corrupt(err)
		}
		if y, ok := m.(*image.YCbCr); ok && hf.cicp != nil && !jfifEquivalent(hf.cicp) {
			m = ycbcrToRGBAWith(y, hf.cicp)
		}
		if hf.alpha != 0 {
			a, err := w.decodeHEIC(ctx, hf.untransformed(data, true), size)
			if err := ctx.Err(); err != nil {
				return nil, nil, fmt.Errorf("image engine: %w", err)
			}
			// Encoders without 4:0:0 (x265) code alpha as the luma of 4:2:0.
			g, ok := a.(*image.Gray)
			if y, isY := a.(*image.YCbCr); isY {
				g, ok = &image.Gray{Pix: y.Y, Stride: y.YStride, Rect: y.Rect}, true
			}
			switch {
			case err != nil:
				notes = append(notes, fmt.Sprintf("the HEIC alpha plane could not be decoded (%v); the image is shown opaque", err))
			case !ok || g.Rect != m.Bounds():
				notes = append(notes, "the HEIC alpha plane does not match the image; the image is shown opaque")
			default:
				m = withAlpha(m, g, hf.premultiplied)
			}
		}
		m, n := containerColour(m, hf.icc, hf.cicp)
		return m, append(notes, n...), nil
	}
	return nil, nil, fmt.Errorf("no decoder for %q", format)
}

// withAlpha joins colour and a decoded alpha plane. HEIF alpha is straight
// unless the file says (prem) the colour was premultiplied.
func withAlpha(m image.Image, a *image.Gray, premultiplied bool) image.Image {
	b := m.Bounds()
	var rgba *image.RGBA
	switch c := m.(type) {
	case *image.YCbCr:
		rgba = ycbcrToRGBA(c)
	case *image.RGBA:
		rgba = c
	default:
		// toRGBA fails only on a done context; the decode before was checked.
		rgba, _ = toRGBA(context.Background(), m, b.Dx(), b.Dy())
	}
	for y := 0; y < b.Dy(); y++ {
		px := rgba.Pix[y*rgba.Stride : y*rgba.Stride+4*b.Dx()]
		ar := a.Pix[y*a.Stride : y*a.Stride+b.Dx()]
		for x, av := range ar {
			p := px[4*x : 4*x+4]
			if !premultiplied {
				for c := 0; c < 3; c++ {
					p[c] = uint8((uint32(p[c])*uint32(av) + 127) / 255)
				}
			} else {
				for c := 0; c < 3; c++ {
					p[c] = min(p[c], av)
				}
			}
			p[3] = av
		}
	}
	return rgba
}

// jfifEquivalent reports whether YCbCr coded with c reads correctly as Go's
// image.YCbCr (JFIF: BT.601 matrix, full range). Unspecified (2) matrices
// are taken as BT.601, as libheif does.
func jfifEquivalent(c *CICP) bool {
	return c.FullRange && (c.Matrix == 5 || c.Matrix == 6 || c.Matrix == 2)
}

// ycbcrToRGBAWith converts YCbCr by the nclx matrix and range (H.273):
// BT.709 (1), BT.601 (5, 6), BT.2020 non-constant (9), SMPTE 240M (7), and
// identity (0, planes are G, B, R). Unknown matrices are read as BT.601.
func ycbcrToRGBAWith(m *image.YCbCr, c *CICP) *image.RGBA {
	kr, kb := 0.299, 0.114
	switch c.Matrix {
	case 1:
		kr, kb = 0.2126, 0.0722
	case 7:
		kr, kb = 0.212, 0.087
	case 9, 10:
		kr, kb = 0.2627, 0.0593
	case 4:
		kr, kb = 0.30, 0.11
	}
	kg := 1 - kr - kb
	yOff, yScale, cScale := 0.0, 1.0, 1.0
	if !c.FullRange {
		yOff, yScale, cScale = 16, 255.0/219, 255.0/224
	}
	// Tables over the 256 sample values keep the loop to integer work.
	var ty [256]int32
	var tcrR, tcbB, tcbG, tcrG [256]int32
	for v := range 256 {
		ty[v] = int32((float64(v) - yOff) * yScale * 65536)
		d := (float64(v) - 128) * cScale
		tcrR[v] = int32(2 * (1 - kr) * d * 65536)
		tcbB[v] = int32(2 * (1 - kb) * d * 65536)
		tcbG[v] = int32(2 * (1 - kb) * kb / kg * d * 65536)
		tcrG[v] = int32(2 * (1 - kr) * kr / kg * d * 65536)
	}
	clamp := func(v int32) uint8 {
		v = (v + 32768) >> 16
		if v < 0 {
			return 0
		}
		if v > 255 {
			return 255
		}
		return uint8(v)
	}
	b := m.Rect
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := b.Min.Y; y < b.Max.Y; y++ {
		o := out.Pix[(y-b.Min.Y)*out.Stride:]
		for x := b.Min.X; x < b.Max.X; x++ {
			yi, ci := m.YOffset(x, y), m.COffset(x, y)
			yy, cb, cr := m.Y[yi], m.Cb[ci], m.Cr[ci]
			p := o[4*(x-b.Min.X):]
			if c.Matrix == 0 { // GBR: Y is G, Cb is B, Cr is R
				p[0], p[1], p[2] = clamp(ty[cr]), clamp(ty[yy]), clamp(ty[cb])
			} else {
				p[0] = clamp(ty[yy] + tcrR[cr])
				p[1] = clamp(ty[yy] - tcbG[cb] - tcrG[cr])
				p[2] = clamp(ty[yy] + tcbB[cb])
			}
			p[3] = 0xFF
		}
	}
	return out
}
