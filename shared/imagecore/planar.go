package imagecore

import (
	"context"
	"fmt"
	"image"
)

// Opaque JPEG and lossy WebP sources never become RGB: each of their Y, Cb
// and Cr planes is shrunk at its own resolution (chroma is usually already
// half size) straight to the output size, and the result goes to the JPEG
// encoder as a 4:4:4 YCbCr image, which it takes without a colour conversion.
// Resampling is linear, so this equals resampling in RGB up to rounding.

// subsampleMinPixels is the output size from which chroma is made at 4:2:0.
const subsampleMinPixels = 1 << 19

// plane is one 8-bit channel.
type plane struct {
	pix    []byte
	w, h   int
	stride int
}

func (p plane) row(y int) []byte { return p.pix[y*p.stride : y*p.stride+p.w] }

// halve is a 2x2 box reduction; odd edges repeat their last row or column.
func (p plane) halve() plane {
	w, h := (p.w+1)/2, (p.h+1)/2
	out := plane{pix: make([]byte, w*h), w: w, h: h, stride: w}
	last := p.w - 1
	for y := 0; y < h; y++ {
		r0, r1 := p.row(2*y), p.row(min(2*y+1, p.h-1))
		o := out.row(y)
		for x := range o {
			x0 := 2 * x
			x1 := min(x0+1, last)
			o[x] = uint8((uint16(r0[x0]) + uint16(r0[x1]) + uint16(r1[x0]) + uint16(r1[x1]) + 2) >> 2)
		}
	}
	return out
}

// halveX averages pairs of columns (for chroma that is only subsampled
// vertically, or a box whose aspect differs from the plane's).
func (p plane) halveX() plane {
	w := (p.w + 1) / 2
	out := plane{pix: make([]byte, w*p.h), w: w, h: p.h, stride: w}
	last := p.w - 1
	for y := 0; y < p.h; y++ {
		r, o := p.row(y), out.row(y)
		for x := range o {
			o[x] = uint8((uint16(r[2*x]) + uint16(r[min(2*x+1, last)]) + 1) >> 1)
		}
	}
	return out
}

// halveY averages pairs of rows.
func (p plane) halveY() plane {
	h := (p.h + 1) / 2
	out := plane{pix: make([]byte, p.w*h), w: p.w, h: h, stride: p.w}
	for y := 0; y < h; y++ {
		r0, r1, o := p.row(2*y), p.row(min(2*y+1, p.h-1)), out.row(y)
		for x := range o {
			o[x] = uint8((uint16(r0[x]) + uint16(r1[x]) + 1) >> 1)
		}
	}
	return out
}

// chain is one channel's pyramid: level(kx, ky) is the plane halved kx times
// across and ky times down. sx and sy are the plane's samples per source
// pixel at level (0, 0). Halving each axis on its own lets 4:2:2 chroma,
// already half width, catch up in height alone.
type chain struct {
	levels map[[2]int]plane
	sx, sy float64
}

func newChain(p plane, sx, sy float64) *chain {
	return &chain{levels: map[[2]int]plane{{0, 0}: p}, sx: sx, sy: sy}
}

// level builds what it needs; it looks at ctx before each halving.
func (c *chain) level(ctx context.Context, kx, ky int) (plane, error) {
	k := [2]int{kx, ky}
	if p, ok := c.levels[k]; ok {
		return p, nil
	}
	if err := ctxErr(ctx); err != nil {
		return plane{}, err
	}
	var p plane
	var err error
	switch {
	case kx > 0 && ky > 0:
		if p, err = c.level(ctx, kx-1, ky-1); err == nil {
			p = p.halve()
		}
	case kx > 0:
		if p, err = c.level(ctx, kx-1, ky); err == nil {
			p = p.halveX()
		}
	default:
		if p, err = c.level(ctx, kx, ky-1); err == nil {
			p = p.halveY()
		}
	}
	if err != nil {
		return plane{}, err
	}
	c.levels[k] = p
	return p, nil
}

// planarChains splits an origin-based YCbCr or Gray image into chains, or
// reports false for anything else.
func planarChains(m image.Image, w, h int) ([]*chain, bool) {
	if m.Bounds() != image.Rect(0, 0, w, h) {
		return nil, false
	}
	switch m := m.(type) {
	case *image.Gray:
		return []*chain{newChain(plane{m.Pix, w, h, m.Stride}, 1, 1)}, true
	case *image.YCbCr:
		var cw, ch int
		switch m.SubsampleRatio {
		case image.YCbCrSubsampleRatio444:
			cw, ch = w, h
		case image.YCbCrSubsampleRatio422:
			cw, ch = (w+1)/2, h
		case image.YCbCrSubsampleRatio420:
			cw, ch = (w+1)/2, (h+1)/2
		case image.YCbCrSubsampleRatio440:
			cw, ch = w, (h+1)/2
		case image.YCbCrSubsampleRatio411:
			cw, ch = (w+3)/4, h
		case image.YCbCrSubsampleRatio410:
			cw, ch = (w+3)/4, (h+1)/2
		default:
			return nil, false
		}
		// Chroma sample j covers source pixels [j*w/cw, (j+1)*w/cw): the
		// centred siting of JFIF, so the scale is the exact ratio of sizes.
		sx, sy := float64(cw)/float64(w), float64(ch)/float64(h)
		return []*chain{
			newChain(plane{m.Y, w, h, m.YStride}, 1, 1),
			newChain(plane{m.Cb, cw, ch, m.CStride}, sx, sy),
			newChain(plane{m.Cr, cw, ch, m.CStride}, sx, sy),
		}, true
	}
	return nil, false
}

// planeJob is where one channel of one variant reads from, and its size.
type planeJob struct {
	src            plane
	ox, oy, lw, lh float64
	w, h           int
}

type planarJob struct {
	v          Variant
	planes     []planeJob
	ow, oh     int
	subsampled bool // chroma planes are half size (4:2:0)
}

// chainGeom is a channel's level-0 plane size and samples per source pixel.
type chainGeom struct {
	w, h   int
	sx, sy float64
}

// planeReq is where one channel of one variant reads from: region (ox, oy,
// lw, lh) of level (kx, ky), resampled to w x h.
type planeReq struct {
	ox, oy, lw, lh float64
	w, h, kx, ky   int
}

type variantPlan struct {
	v          Variant
	ow, oh     int
	subsampled bool
	planes     []planeReq
}

// planVariants works out, without building any level, what each variant
// reads from each channel. The scaled JPEG decoder uses it to know how much
// it may shrink each component before the pyramid sees it.
func planVariants(info SourceInfo, geoms []chainGeom, w, h int, variants []Variant) []variantPlan {
	plans := make([]variantPlan, len(variants))
	for i, v := range variants {
		bw, bh := v.Width, v.Height
		if info.Orientation >= 5 { // the stored image is transposed relative to what people see
			bw, bh = bh, bw
		}
		crop, ow, oh := plan(v.Fit, bw, bh, w, h)
		j := variantPlan{v: v, ow: ow, oh: oh}
		// A JPEG output stores chroma at half size (4:2:0) whatever it is
		// given, so for large outputs make chroma at that size in the first
		// place. Small outputs get full-size chroma, which costs little and
		// matches the encoder's own 2x2 averaging exactly.
		j.subsampled = len(geoms) == 3 && outputFormat(v.Format, true) == FormatJPEG && ow*oh >= subsampleMinPixels
		for ci, c := range geoms {
			tw, th := ow, oh
			if ci > 0 && j.subsampled {
				tw, th = (ow+1)/2, (oh+1)/2
			}
			// Region of this channel at level 0, then the deepest level on
			// each axis that leaves Lanczos a ratio of at least minLanczosRatio.
			ox, oy := float64(crop.Min.X)*c.sx, float64(crop.Min.Y)*c.sy
			lw, lh := float64(crop.Dx())*c.sx, float64(crop.Dy())*c.sy
			if ci > 0 && j.subsampled { // half-size chroma sample j covers output pixels 2j and 2j+1,
				lw *= float64(2*tw) / float64(ow) // so an odd side's last one hangs over the edge
				lh *= float64(2*th) / float64(oh)
			}
			kx, ky, pw, ph := 0, 0, c.w, c.h
			g := lanczosRatioFor(ow, oh)
			for lw/float64(tw) >= 2*g && pw > 1 {
				ox, lw, pw = ox/2, lw/2, (pw+1)/2
				kx++
			}
			for lh/float64(th) >= 2*g && ph > 1 {
				oy, lh, ph = oy/2, lh/2, (ph+1)/2
				ky++
			}
			j.planes = append(j.planes, planeReq{ox: ox, oy: oy, lw: lw, lh: lh, w: tw, h: th, kx: kx, ky: ky})
		}
		plans[i] = j
	}
	return plans
}

func renderPlanar(ctx context.Context, info SourceInfo, chains []*chain, w, h int, variants []Variant) ([]Output, error) {
	geoms := make([]chainGeom, len(chains))
	for i, c := range chains {
		base := c.levels[[2]int{0, 0}]
		geoms[i] = chainGeom{w: base.w, h: base.h, sx: c.sx, sy: c.sy}
	}
	plans := planVariants(info, geoms, w, h, variants)
	jobs := make([]planarJob, len(plans))
	for i, p := range plans {
		j := planarJob{v: p.v, ow: p.ow, oh: p.oh, subsampled: p.subsampled}
		// Only the chosen levels are built.
		for ci, r := range p.planes {
			src, err := chains[ci].level(ctx, r.kx, r.ky)
			if err != nil {
				return nil, err
			}
			j.planes = append(j.planes, planeJob{src: src, ox: r.ox, oy: r.oy, lw: r.lw, lh: r.lh, w: r.w, h: r.h})
		}
		jobs[i] = j
	}
	outs := make([]Output, len(jobs))
	err := parallel(ctx, len(jobs), func(i int) error {
		var err error
		outs[i], err = jobs[i].run(ctx, info.Orientation)
		if err != nil {
			return fmt.Errorf("variant %s: %w", jobs[i].v.Name, err)
		}
		return nil
	})
	return outs, err
}

func (j planarJob) run(ctx context.Context, orientation int) (Output, error) {
	planes := make([]plane, len(j.planes))
	for i, pj := range j.planes {
		p, err := resamplePlane(ctx, pj)
		if err != nil {
			return Output{}, err
		}
		planes[i] = orientPlane(p, orientation)
	}
	if err := ctxErr(ctx); err != nil { // before the encode
		return Output{}, err
	}
	w, h := planes[0].w, planes[0].h
	var img image.Image
	if len(planes) == 1 {
		img = &image.Gray{Pix: planes[0].pix, Stride: planes[0].stride, Rect: image.Rect(0, 0, w, h)}
	} else {
		ratio := image.YCbCrSubsampleRatio444
		if j.subsampled {
			ratio = image.YCbCrSubsampleRatio420
		}
		img = &image.YCbCr{Y: planes[0].pix, Cb: planes[1].pix, Cr: planes[2].pix, YStride: w, CStride: planes[1].stride,
			SubsampleRatio: ratio, Rect: image.Rect(0, 0, w, h)}
	}
	alts, err := encodeAlternates(ctx, img, j.v, true)
	if err != nil {
		return Output{}, err
	}
	format := outputFormat(j.v.Format, true)
	data, err := encodeOpaque(img, format, j.v.Quality)
	if err != nil {
		return Output{}, err
	}
	return Output{Name: j.v.Name, Format: format, Width: w, Height: h, Data: data, Alternates: alts}, nil
}

// resamplePlane makes the w x h version of a channel's region: a copy when
// the region is already that size on whole pixels, else Lanczos (which also
// upsamples subsampled chroma to the output size).
func resamplePlane(ctx context.Context, pj planeJob) (plane, error) {
	src, w, h := pj.src, pj.w, pj.h
	if pj.lw == float64(w) && pj.lh == float64(h) && pj.ox == float64(int(pj.ox)) && pj.oy == float64(int(pj.oy)) {
		out := plane{pix: make([]byte, w*h), w: w, h: h, stride: w}
		x0, y0 := int(pj.ox), int(pj.oy)
		for y := 0; y < h; y++ {
			copy(out.row(y), src.pix[(y0+y)*src.stride+x0:])
		}
		return out, nil
	}
	hw := weightsFor(w, pj.ox, pj.lw, src.w)
	vw := weightsFor(h, pj.oy, pj.lh, src.h)
	x0, x1 := hw.start[0], hw.start[w-1]+hw.n
	cols := x1 - x0

	tp := rowBufs.Get().(*[]byte)
	if cap(*tp) < h*cols {
		*tp = make([]byte, h*cols)
	}
	tmp := (*tp)[:h*cols]
	ap := accBufs.Get().(*[]int32)
	if cap(*ap) < cols {
		*ap = make([]int32, cols)
	}
	acc := (*ap)[:cols]
	n := vw.n
	for y := 0; y < h; y++ {
		if y%ctxRows == 0 {
			if err := ctxErr(ctx); err != nil {
				accBufs.Put(ap)
				rowBufs.Put(tp)
				return plane{}, err
			}
		}
		clear(acc)
		s := vw.start[y]
		for k, wt := range vw.w[y*n : y*n+n] {
			if wt == 0 {
				continue
			}
			off := (s+k)*src.stride + x0
			row := src.pix[off : off+cols]
			acc := acc[:len(row)]
			for i, v := range row {
				acc[i] += int32(v) * wt
			}
		}
		out := tmp[y*cols : (y+1)*cols]
		for i := range out {
			out[i] = clamp8(acc[i])
		}
	}
	accBufs.Put(ap)
	out := plane{pix: make([]byte, w*h), w: w, h: h, stride: w}
	horizontal(tmp, cols, x0, hw, out.pix, w, 1, h)
	rowBufs.Put(tp)
	return out, nil
}

// orientPlane applies EXIF orientation 1-8 to one output channel.
func orientPlane(p plane, o int) plane {
	if o < 2 || o > 8 {
		return p
	}
	w, h := p.w, p.h
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	out := plane{pix: make([]byte, dw*dh), w: dw, h: dh, stride: dw}
	for y := 0; y < h; y++ {
		row := p.row(y)
		for x, v := range row {
			dx, dy := orientPoint(o, x, y, w, h)
			out.pix[dy*dw+dx] = v
		}
	}
	return out
}

// orientPoint maps stored pixel (x, y) of a w x h image to where a viewer
// honouring EXIF orientation o shows it.
func orientPoint(o, x, y, w, h int) (int, int) {
	switch o {
	case 2:
		return w - 1 - x, y
	case 3:
		return w - 1 - x, h - 1 - y
	case 4:
		return x, h - 1 - y
	case 5:
		return y, x
	case 6:
		return h - 1 - y, x
	case 7:
		return h - 1 - y, w - 1 - x
	case 8:
		return y, w - 1 - x
	}
	return x, y
}
