package imagecore

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"runtime"
	"sync"
)

// job is one variant's work: where in which pyramid level to read, what to make.
type job struct {
	v      Variant
	level  *image.RGBA
	scale  float64 // source pixels per level pixel
	crop   image.Rectangle
	ow, oh int
}

// render makes every variant from one decode. Levels are built first, in
// order (each from the one above); then the variants, which only read them,
// run on up to GOMAXPROCS goroutines.
func render(info SourceInfo, m image.Image, w, h int, variants []Variant) ([]Output, error) {
	p := newPyramid(m, w, h)
	jobs := make([]job, len(variants))
	for i, v := range variants {
		bw, bh := v.Width, v.Height
		if info.Orientation >= 5 { // the stored image is transposed relative to what people see
			bw, bh = bh, bw
		}
		crop, ow, oh := plan(v.Fit, bw, bh, w, h)
		n := 0
		if ow != crop.Dx() || oh != crop.Dy() {
			n = p.levelFor(min(float64(crop.Dx())/float64(ow), float64(crop.Dy())/float64(oh)))
		}
		jobs[i] = job{v: v, level: p.level(n), scale: float64(int(1) << n), crop: crop, ow: ow, oh: oh}
	}
	p.decoded = nil // let the decoded planes go once the levels exist

	outs := make([]Output, len(jobs))
	errs := make([]error, len(jobs))
	workers := min(runtime.GOMAXPROCS(0), len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				outs[i], errs[i] = jobs[i].run(info.Orientation, p.opaque)
			}
		}()
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("variant %s: %w", jobs[i].v.Name, err)
		}
	}
	return outs, nil
}

func (j job) run(orientation int, opaque bool) (Output, error) {
	var img *image.RGBA
	if j.ow == j.crop.Dx() && j.oh == j.crop.Dy() { // level 0, no resampling
		img = copyRect(j.level, j.crop)
	} else {
		s := j.scale
		img = resample(j.level, float64(j.crop.Min.X)/s, float64(j.crop.Min.Y)/s,
			float64(j.crop.Dx())/s, float64(j.crop.Dy())/s, j.ow, j.oh, opaque)
	}
	img = orientRGBA(img, orientation)
	format := outputFormat(j.v.Format, opaque)
	data, err := encode(img, format, j.v.Quality, opaque)
	if err != nil {
		return Output{}, err
	}
	return Output{Name: j.v.Name, Format: format, Width: img.Rect.Dx(), Height: img.Rect.Dy(), Data: data}, nil
}

func copyRect(m *image.RGBA, r image.Rectangle) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	for y := 0; y < r.Dy(); y++ {
		copy(dst.Pix[y*dst.Stride:(y+1)*dst.Stride], m.Pix[m.PixOffset(r.Min.X, r.Min.Y+y):])
	}
	return dst
}

// orientRGBA turns a stored image into the one people see, for EXIF
// orientation 1-8. It runs on outputs, which are small, never on the source.
func orientRGBA(m *image.RGBA, o int) *image.RGBA {
	if o < 2 || o > 8 {
		return m
	}
	w, h := m.Rect.Dx(), m.Rect.Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < h; y++ {
		row := m.Pix[y*m.Stride : y*m.Stride+4*w]
		for x := 0; x < w; x++ {
			var dx, dy int
			switch o {
			case 2:
				dx, dy = w-1-x, y
			case 3:
				dx, dy = w-1-x, h-1-y
			case 4:
				dx, dy = x, h-1-y
			case 5:
				dx, dy = y, x
			case 6:
				dx, dy = h-1-y, x
			case 7:
				dx, dy = h-1-y, w-1-x
			case 8:
				dx, dy = y, w-1-x
			}
			copy(dst.Pix[dy*dst.Stride+4*dx:dy*dst.Stride+4*dx+4], row[4*x:4*x+4])
		}
	}
	return dst
}

// encode writes a premultiplied image. Outputs carry no metadata: the
// standard encoders write none.
func encode(m *image.RGBA, f Format, quality int, opaque bool) ([]byte, error) {
	buf := bytes.NewBuffer(make([]byte, 0, m.Rect.Dx()*m.Rect.Dy()/2+4096))
	switch f {
	case FormatJPEG:
		if quality == 0 {
			quality = DefaultQuality
		}
		if !opaque {
			// JPEG has no alpha: composite onto white, never black.
			for i := 0; i+3 < len(m.Pix); i += 4 {
				k := 0xFF - m.Pix[i+3]
				m.Pix[i] += k
				m.Pix[i+1] += k
				m.Pix[i+2] += k
				m.Pix[i+3] = 0xFF
			}
		}
		// *image.RGBA takes image/jpeg's fast path: no per-pixel conversion.
		if err := jpeg.Encode(buf, m, &jpeg.Options{Quality: quality}); err != nil {
			return nil, fmt.Errorf("encode jpeg: %w", err)
		}
	case FormatPNG:
		var src image.Image = m
		if !opaque {
			src = unpremultiply(m)
		}
		if err := png.Encode(buf, src); err != nil {
			return nil, fmt.Errorf("encode png: %w", err)
		}
	default:
		return nil, fmt.Errorf("unknown output format %q", f)
	}
	return buf.Bytes(), nil
}

func unpremultiply(m *image.RGBA) *image.NRGBA {
	n := image.NewNRGBA(m.Rect)
	for i := 0; i+3 < len(m.Pix); i += 4 {
		a := uint32(m.Pix[i+3])
		n.Pix[i+3] = uint8(a)
		if a == 0 {
			continue
		}
		for c := 0; c < 3; c++ {
			n.Pix[i+c] = uint8(min(255, (uint32(m.Pix[i+c])*255+a/2)/a))
		}
	}
	return n
}
