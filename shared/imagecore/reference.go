package imagecore

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"math"

	"github.com/disintegration/imaging"
)

// ProcessReference is the straightforward pipeline the engine is measured
// against: decode, then for every variant a full-size imaging Lanczos resize,
// imaging's orientation and a plain encode. It applies the same checks and
// geometry as Process, so the two can be compared pixel for pixel (the quality
// test) and side by side (the benchmarks). It is not used to serve images.
func (e *Engine) ProcessReference(data []byte) (*Result, error) {
	info, cfg, hf, err := e.header(data)
	if err != nil {
		return nil, err
	}
	var m image.Image
	if hf != nil {
		if m, _, err = e.wasm.decodeHEIF(context.Background(), info.Format, data, hf); err != nil {
			return nil, err
		}
	} else if m, err = decodeImage(info.Format, data); err != nil {
		return nil, err
	}
	opaque := true
	switch m.(type) {
	case *image.YCbCr, *image.Gray:
	default:
		n := imaging.New(cfg.Width, cfg.Height, color.NRGBA{})
		draw.Draw(n, m.Bounds(), m, m.Bounds().Min, draw.Src)
		m = n
		opaque = alphaOpaque((*image.RGBA)(n))
	}
	res := &Result{Source: info}
	for _, v := range e.variants {
		bw, bh := v.Width, v.Height
		if info.Orientation >= 5 {
			bw, bh = bh, bw
		}
		crop, ow, oh := plan(v.Fit, bw, bh, cfg.Width, cfg.Height)
		sub := m.(interface {
			SubImage(image.Rectangle) image.Image
		}).SubImage(crop)
		var img *image.NRGBA
		if ow == crop.Dx() && oh == crop.Dy() {
			img = imaging.Clone(sub)
		} else {
			img = imaging.Resize(sub, ow, oh, imaging.Lanczos)
		}
		img = orient8(img, info.Orientation)
		format := outputFormat(v.Format, opaque)
		var buf bytes.Buffer
		switch format {
		case FormatJPEG:
			if !opaque {
				flattenOnWhite(img)
			}
			q := v.Quality
			if q == 0 {
				q = DefaultQuality
			}
			err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: q})
		default:
			err = png.Encode(&buf, img)
		}
		if err != nil {
			return nil, fmt.Errorf("variant %s: encode %s: %w", v.Name, format, err)
		}
		res.Outputs = append(res.Outputs, Output{Name: v.Name, Format: format, Width: img.Rect.Dx(), Height: img.Rect.Dy(), Data: buf.Bytes()})
	}
	return res, nil
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
