package imagecore

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"
	"math"

	"github.com/disintegration/imaging"
)

// source is a decoded input in its stored (not yet oriented) orientation.
// Orientation is applied to each small output instead of the large source.
type source struct {
	info   SourceInfo
	pix    *image.NRGBA
	opaque bool
}

func (e *Engine) decode(data []byte) (*source, error) {
	info, cfg, err := e.header(data)
	if err != nil {
		return nil, err
	}
	m, err := decodeImage(info.Format, data)
	if err != nil {
		return nil, &Error{Code: CodeCorrupt, Message: fmt.Sprintf("the %s data is damaged or truncated", info.Format), Err: err}
	}
	var pix *image.NRGBA
	if b := m.Bounds(); b != image.Rect(0, 0, cfg.Width, cfg.Height) {
		// A GIF frame may cover part of the logical screen: place it on a
		// transparent canvas of the size the header declared (and we checked).
		pix = image.NewNRGBA(image.Rect(0, 0, cfg.Width, cfg.Height))
		draw.Draw(pix, b, m, b.Min, draw.Src)
	} else {
		pix = imaging.Clone(m)
	}
	return &source{info: info, pix: pix, opaque: isOpaque(m, pix)}, nil
}

// isOpaque reports whether every pixel is fully opaque, without scanning when
// the decoded colour model cannot carry alpha.
func isOpaque(m image.Image, pix *image.NRGBA) bool {
	switch m.(type) {
	case *image.YCbCr, *image.Gray, *image.Gray16, *image.CMYK:
		if m.Bounds() == pix.Bounds() {
			return true
		}
	}
	for y := 0; y < pix.Rect.Dy(); y++ {
		row := pix.Pix[y*pix.Stride : y*pix.Stride+4*pix.Rect.Dx()]
		for i := 3; i < len(row); i += 4 {
			if row[i] != 0xFF {
				return false
			}
		}
	}
	return true
}

func renderAll(src *source, variants []Variant) ([]Output, error) {
	outs := make([]Output, 0, len(variants))
	for _, v := range variants {
		o, err := render(src, v)
		if err != nil {
			return nil, fmt.Errorf("variant %s: %w", v.Name, err)
		}
		outs = append(outs, o)
	}
	return outs, nil
}

func render(src *source, v Variant) (Output, error) {
	bw, bh := v.Width, v.Height
	orient := src.info.Orientation
	if orient >= 5 { // the stored image is transposed relative to what people see
		bw, bh = bh, bw
	}
	crop, ow, oh := plan(v.Fit, bw, bh, src.pix.Rect.Dx(), src.pix.Rect.Dy())
	sub := src.pix.SubImage(crop)
	var img *image.NRGBA
	if ow == crop.Dx() && oh == crop.Dy() {
		img = imaging.Clone(sub)
	} else {
		img = imaging.Resize(sub, ow, oh, imaging.Lanczos)
	}
	img = orient8(img, orient)

	format := outputFormat(v.Format, src.opaque)
	data, err := encode(img, format, v.Quality, src.opaque)
	if err != nil {
		return Output{}, err
	}
	return Output{Name: v.Name, Format: format, Width: img.Rect.Dx(), Height: img.Rect.Dy(), Data: data}, nil
}

// plan computes, for a w x h source and a bw x bh box (0 = unbounded), the
// source rectangle to use and the output size. It never upscales: a box larger
// than the source yields the source size (inside) or the largest centred crop of
// the box's aspect (cover).
func plan(fit Fit, bw, bh, w, h int) (crop image.Rectangle, ow, oh int) {
	crop = image.Rect(0, 0, w, h)
	if fit == FitCover {
		// Largest rectangle of the box's aspect inside the source, centred.
		cw, ch := w, h
		if int64(w)*int64(bh) > int64(h)*int64(bw) { // source is wider than the box
			cw = max(1, int(math.Round(float64(h)*float64(bw)/float64(bh))))
		} else {
			ch = max(1, int(math.Round(float64(w)*float64(bh)/float64(bw))))
		}
		x0, y0 := (w-cw)/2, (h-ch)/2
		crop = image.Rect(x0, y0, x0+cw, y0+ch)
		if cw <= bw || ch <= bh {
			return crop, cw, ch
		}
		return crop, bw, bh
	}
	s := 1.0
	if bw > 0 {
		s = min(s, float64(bw)/float64(w))
	}
	if bh > 0 {
		s = min(s, float64(bh)/float64(h))
	}
	if s >= 1 {
		return crop, w, h
	}
	ow = max(1, int(math.Round(float64(w)*s)))
	oh = max(1, int(math.Round(float64(h)*s)))
	if bw > 0 {
		ow = min(ow, bw)
	}
	if bh > 0 {
		oh = min(oh, bh)
	}
	return crop, ow, oh
}

// orient8 turns a stored image into the one people see, for EXIF orientation 1-8.
func orient8(m *image.NRGBA, o int) *image.NRGBA {
	switch o {
	case 2:
		return imaging.FlipH(m)
	case 3:
		return imaging.Rotate180(m)
	case 4:
		return imaging.FlipV(m)
	case 5:
		return imaging.Transpose(m)
	case 6:
		return imaging.Rotate270(m) // 90 degrees clockwise
	case 7:
		return imaging.Transverse(m)
	case 8:
		return imaging.Rotate90(m) // 90 degrees counter-clockwise
	}
	return m
}

func outputFormat(f Format, opaque bool) Format {
	if f != FormatAuto {
		return f
	}
	if opaque {
		return FormatJPEG
	}
	return FormatPNG
}

func encode(m *image.NRGBA, f Format, quality int, opaque bool) ([]byte, error) {
	var buf bytes.Buffer
	switch f {
	case FormatJPEG:
		if quality == 0 {
			quality = DefaultQuality
		}
		if !opaque {
			// JPEG has no alpha: composite onto white, never black.
			flattenOnWhite(m)
		}
		// With every alpha at 255, NRGBA and RGBA bytes are identical; the RGBA
		// view takes image/jpeg's fast path with no conversion per pixel.
		view := &image.RGBA{Pix: m.Pix, Stride: m.Stride, Rect: m.Rect}
		if err := jpeg.Encode(&buf, view, &jpeg.Options{Quality: quality}); err != nil {
			return nil, fmt.Errorf("encode jpeg: %w", err)
		}
	case FormatPNG:
		enc := png.Encoder{CompressionLevel: png.DefaultCompression}
		if err := enc.Encode(&buf, m); err != nil {
			return nil, fmt.Errorf("encode png: %w", err)
		}
	default:
		return nil, fmt.Errorf("unknown output format %q", f)
	}
	return buf.Bytes(), nil
}

// flattenOnWhite composites m onto white in place and makes it opaque.
func flattenOnWhite(m *image.NRGBA) {
	for y := 0; y < m.Rect.Dy(); y++ {
		row := m.Pix[y*m.Stride : y*m.Stride+4*m.Rect.Dx()]
		for i := 0; i < len(row); i += 4 {
			a := uint32(row[i+3])
			if a == 0xFF {
				continue
			}
			for c := 0; c < 3; c++ {
				row[i+c] = uint8((uint32(row[i+c])*a + 0xFF*(0xFF-a) + 127) / 0xFF)
			}
			row[i+3] = 0xFF
		}
	}
}
