package imagecore

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"runtime"
	"slices"
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
func render(ctx context.Context, hk encodeHooks, info SourceInfo, m image.Image, w, h int, variants []Variant) ([]Output, error) {
	if chains, ok := planarChains(m, w, h); ok {
		return renderPlanar(ctx, hk, info, chains, w, h, variants)
	}
	p, err := newPyramid(ctx, m, w, h)
	if err != nil {
		return nil, err
	}
	jobs := make([]job, len(variants))
	for i, v := range variants {
		bw, bh := v.Width, v.Height
		if info.Orientation >= 5 { // the stored image is transposed relative to what people see
			bw, bh = bh, bw
		}
		crop, ow, oh := plan(v.Fit, bw, bh, w, h)
		n := 0
		if ow != crop.Dx() || oh != crop.Dy() {
			n = p.levelFor(min(float64(crop.Dx())/float64(ow), float64(crop.Dy())/float64(oh)), lanczosRatioFor(ow, oh))
		}
		level, err := p.level(ctx, n)
		if err != nil {
			return nil, err
		}
		jobs[i] = job{v: v, level: level, scale: float64(int(1) << n), crop: crop, ow: ow, oh: oh}
	}

	outs := make([]Output, len(jobs))
	err = parallel(ctx, len(jobs), func(i int) error {
		var err error
		outs[i], err = jobs[i].run(ctx, hk, info.Orientation, p.opaque)
		if err != nil {
			return fmt.Errorf("variant %s: %w", jobs[i].v.Name, err)
		}
		return nil
	})
	return outs, err
}

// parallel runs f(0..n-1) on up to GOMAXPROCS goroutines and returns the
// first error by index. Once ctx is done no further f starts.
func parallel(ctx context.Context, n int, f func(i int) error) error {
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if errs[i] = ctxErr(ctx); errs[i] == nil {
					errs[i] = f(i)
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctxErr(ctx); err != nil {
		return err // not "variant x: context deadline exceeded"
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (j job) run(ctx context.Context, hk encodeHooks, orientation int, opaque bool) (Output, error) {
	var img *image.RGBA
	if j.ow == j.crop.Dx() && j.oh == j.crop.Dy() { // level 0, no resampling
		img = copyRect(j.level, j.crop)
	} else {
		s := j.scale
		var err error
		img, err = resample(ctx, j.level, float64(j.crop.Min.X)/s, float64(j.crop.Min.Y)/s,
			float64(j.crop.Dx())/s, float64(j.crop.Dy())/s, j.ow, j.oh, opaque)
		if err != nil {
			return Output{}, err
		}
	}
	if err := ctxErr(ctx); err != nil { // before the encode
		return Output{}, err
	}
	img = orientRGBA(img, orientation)
	// Alternates first: they may run beside the rest (altEncoder).
	alts, err := encodeAlternates(ctx, hk, img, j.v, opaque)
	if err != nil {
		return Output{}, err
	}
	format := outputFormat(j.v.Format, opaque)
	data, err := encode(img, format, j.v.Quality, opaque)
	if err != nil {
		return Output{}, err
	}
	return Output{Name: j.v.Name, Format: format, Width: img.Rect.Dx(), Height: img.Rect.Dy(), Data: data, Alternates: alts}, nil
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
			dx, dy := orientPoint(o, x, y, w, h)
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
			// JPEG has no alpha: composite onto white, never black, in a copy,
			// since alternates may still be reading m.
			m = &image.RGBA{Pix: slices.Clone(m.Pix), Stride: m.Stride, Rect: m.Rect}
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

// encodeOpaque writes a YCbCr or Gray output: JPEG through the planar encoder
// (jpegenc.go), PNG through image/png.
func encodeOpaque(m image.Image, f Format, quality int) ([]byte, error) {
	b := m.Bounds()
	buf := bytes.NewBuffer(make([]byte, 0, b.Dx()*b.Dy()/2+4096))
	switch f {
	case FormatJPEG:
		if quality == 0 {
			quality = DefaultQuality
		}
		switch m.(type) {
		case *image.YCbCr, *image.Gray: // the planes the engine makes: its own encoder
			out, err := encodeJPEGPlanes(m, quality, buf.Bytes())
			if err != nil {
				return nil, fmt.Errorf("encode jpeg: %w", err)
			}
			return out, nil
		}
		if err := jpeg.Encode(buf, m, &jpeg.Options{Quality: quality}); err != nil {
			return nil, fmt.Errorf("encode jpeg: %w", err)
		}
	case FormatPNG:
		if y, ok := m.(*image.YCbCr); ok {
			m = ycbcrToRGBA(y)
		}
		if err := png.Encode(buf, m); err != nil {
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
