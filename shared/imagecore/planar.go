package imagecore

import (
	"context"
	"fmt"
	"image"
	"sort"
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
// lw, lh) of level (kx, ky), or of the source variant's output plane when the
// variant is made from another one's output, resampled to w x h.
type planeReq struct {
	ox, oy, lw, lh float64
	w, h, kx, ky   int
}

type variantPlan struct {
	v          Variant
	crop       image.Rectangle
	ow, oh     int
	subsampled bool
	from       int // the variant whose output this one is made from, or -1: the pyramid
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
		j := variantPlan{v: v, crop: crop, ow: ow, oh: oh, from: -1}
		// A JPEG output stores chroma at half size (4:2:0) whatever it is
		// given, so for large outputs make chroma at that size in the first
		// place. Small outputs get full-size chroma, which costs little and
		// matches the encoder's own 2x2 averaging exactly.
		j.subsampled = len(geoms) == 3 && outputFormat(v.Format, true) == FormatJPEG && ow*oh >= subsampleMinPixels
		for ci, c := range geoms {
			tw, th := j.target(ci)
			// Region of this channel at level 0, then the deepest level on
			// each axis that leaves Lanczos a ratio of at least g.
			ox, oy := float64(crop.Min.X)*c.sx, float64(crop.Min.Y)*c.sy
			lw, lh := float64(crop.Dx())*c.sx, float64(crop.Dy())*c.sy
			lw, lh = j.overhang(ci, lw, lh)
			kx, ky, pw, ph := 0, 0, c.w, c.h
			g := lanczosRatioFor(ow, oh)
			if ci > 0 {
				g = max(g, chromaLanczosRatio)
			}
			for pw > 1 && boxStep(lw, tw, g) {
				ox, lw, pw = ox/2, lw/2, (pw+1)/2
				kx++
			}
			for ph > 1 && boxStep(lh, th, g) {
				oy, lh, ph = oy/2, lh/2, (ph+1)/2
				ky++
			}
			j.planes = append(j.planes, planeReq{ox: ox, oy: oy, lw: lw, lh: lh, w: tw, h: th, kx: kx, ky: ky})
		}
		plans[i] = j
	}
	cascade(plans)
	return plans
}

// target is the size channel ci of the variant is made at.
func (j *variantPlan) target(ci int) (int, int) {
	if ci > 0 && j.subsampled {
		return (j.ow + 1) / 2, (j.oh + 1) / 2
	}
	return j.ow, j.oh
}

// overhang widens a half-size chroma region: sample j covers output pixels
// 2j and 2j+1, so an odd side's last one hangs over the edge.
func (j *variantPlan) overhang(ci int, lw, lh float64) (float64, float64) {
	if ci > 0 && j.subsampled {
		tw, th := j.target(ci)
		lw *= float64(2*tw) / float64(j.ow)
		lh *= float64(2*th) / float64(j.oh)
	}
	return lw, lh
}

// chromaLanczosRatio is the least ratio a box step may leave chroma (whose
// half-size planes for 4:2:0 outputs are what the encoder keeps): a box step
// followed by a short Lanczos shows as soft colour edges, measurably worse
// than the full Lanczos from the finer plane (issue 15). An exact 2x step to
// the output size stays a box: it is the encoder's own 2x2 average.
const chromaLanczosRatio = 2

// boxStep reports whether a region of l samples resampled to n may take one
// more 2x box step first, leaving Lanczos a ratio of at least g (or exactly 1
// when g is chromaLanczosRatio).
func boxStep(l float64, n int, g float64) bool {
	r := l / float64(n)
	return r >= 2*g || g == chromaLanczosRatio && r == 2
}

// cascadeRatio is the least ratio at which a variant is made from a larger
// variant's output rather than from the pyramid: a Lanczos from a 2x larger
// output, as sharp's decode-once cascade makes its variants, is sharper
// than a box step and a short Lanczos, and costs less than a full Lanczos
// from the plane the box step reads. Just under 2, so that an output half
// another's size once rounded (683 rows from 1365) qualifies.
const cascadeRatio = 1.9

// cascade chooses, for each variant, whether it is made from a larger
// variant's (unencoded, unoriented) output instead of from the pyramid: the
// smallest output that covers its region at least cascadeRatio times over;
// failing that, when its own pyramid plan would leave Lanczos less than 2
// after a box step (the softness a box step shows), the smallest output that
// is at least its size. Chroma is never upsampled: a variant with
// full-size chroma is made from one with half-size chroma only at twice its
// size or more. Only geometry decides, so the scaled JPEG decoder (which plans at
// full size) and the renderer (at the decoded size) choose alike.
func cascade(plans []variantPlan) {
	order := make([]int, len(plans))
	for i := range order {
		order[i] = i
	}
	area := func(i int) int { return plans[i].ow * plans[i].oh }
	sort.SliceStable(order, func(a, b int) bool { return area(order[a]) > area(order[b]) })
	for n, i := range order {
		b := &plans[i]
		y := b.planes[0]
		soft := float64(b.crop.Dx()) >= 2*float64(b.ow) && y.lw < 2*float64(y.w) ||
			float64(b.crop.Dy()) >= 2*float64(b.oh) && y.lh < 2*float64(y.h)
		best, bestGood := -1, false
		for _, k := range order[:n] {
			a := &plans[k]
			if !b.crop.In(a.crop) {
				continue
			}
			rx := float64(b.crop.Dx()) * float64(a.ow) / float64(a.crop.Dx()) / float64(b.ow)
			ry := float64(b.crop.Dy()) * float64(a.oh) / float64(a.crop.Dy()) / float64(b.oh)
			if rx < 1 || ry < 1 || a.subsampled && !b.subsampled && (rx < 2 || ry < 2) {
				continue
			}
			good := rx >= cascadeRatio && ry >= cascadeRatio
			if !good && !soft || bestGood && !good {
				continue
			}
			if best < 0 || good && !bestGood || area(k) < area(best) {
				best, bestGood = k, good
			}
		}
		if best < 0 {
			continue
		}
		a := &plans[best]
		b.from = best
		// b's crop in a's output pixels, then per channel in a's plane samples.
		fx, fy := float64(a.ow)/float64(a.crop.Dx()), float64(a.oh)/float64(a.crop.Dy())
		ox, oy := float64(b.crop.Min.X-a.crop.Min.X)*fx, float64(b.crop.Min.Y-a.crop.Min.Y)*fy
		lw, lh := float64(b.crop.Dx())*fx, float64(b.crop.Dy())*fy
		for ci := range b.planes {
			s := 1.0
			if ci > 0 && a.subsampled {
				s = 0.5 // a's chroma sample j covers its output pixels 2j and 2j+1
			}
			tw, th := b.target(ci)
			cw, ch := b.overhang(ci, lw*s, lh*s)
			b.planes[ci] = planeReq{ox: ox * s, oy: oy * s, lw: cw, lh: ch, w: tw, h: th}
		}
	}
}

func renderPlanar(ctx context.Context, hk encodeHooks, info SourceInfo, chains []*chain, w, h int, variants []Variant) ([]Output, error) {
	geoms := make([]chainGeom, len(chains))
	for i, c := range chains {
		base := c.levels[[2]int{0, 0}]
		geoms[i] = chainGeom{w: base.w, h: base.h, sx: c.sx, sy: c.sy}
	}
	plans := planVariants(info, geoms, w, h, variants)
	jobs := make([]planarJob, len(plans))
	depth := make([]int, len(plans))
	needed := make([]bool, len(plans))
	deepest := 0
	for i, p := range plans {
		j := planarJob{v: p.v, ow: p.ow, oh: p.oh, subsampled: p.subsampled}
		for d := p.from; d >= 0; d = plans[d].from {
			depth[i]++
		}
		deepest = max(deepest, depth[i])
		if p.from >= 0 {
			needed[p.from] = true
		}
		// Only the chosen levels are built.
		for ci, r := range p.planes {
			pj := planeJob{ox: r.ox, oy: r.oy, lw: r.lw, lh: r.lh, w: r.w, h: r.h}
			if p.from < 0 {
				src, err := chains[ci].level(ctx, r.kx, r.ky)
				if err != nil {
					return nil, err
				}
				pj.src = src
			}
			j.planes = append(j.planes, pj)
		}
		jobs[i] = j
	}
	outs := make([]Output, len(jobs))
	made := make([][]plane, len(jobs)) // unoriented outputs that other variants are made from
	// Variants made from the pyramid first, then in waves those made from
	// their outputs.
	for d := 0; d <= deepest; d++ {
		var wave []int
		for i := range jobs {
			if depth[i] == d {
				wave = append(wave, i)
			}
		}
		err := parallel(ctx, len(wave), func(n int) error {
			i := wave[n]
			if f := plans[i].from; f >= 0 {
				for ci := range jobs[i].planes {
					jobs[i].planes[ci].src = made[f][ci]
				}
			}
			var err error
			var planes []plane
			planes, err = jobs[i].resample(ctx)
			if err == nil {
				if needed[i] {
					made[i] = planes
				}
				outs[i], err = jobs[i].encode(ctx, hk, planes, info.Orientation)
			}
			if err != nil {
				return fmt.Errorf("variant %s: %w", jobs[i].v.Name, err)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return outs, nil
}

// resample makes the variant's planes, unoriented.
func (j planarJob) resample(ctx context.Context) ([]plane, error) {
	planes := make([]plane, len(j.planes))
	for i, pj := range j.planes {
		p, err := resamplePlane(ctx, pj)
		if err != nil {
			return nil, err
		}
		planes[i] = p
	}
	return planes, nil
}

// encode orients the variant's planes and encodes them.
func (j planarJob) encode(ctx context.Context, hk encodeHooks, made []plane, orientation int) (Output, error) {
	planes := make([]plane, len(made))
	for i, p := range made {
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
	alts, err := encodeAlternates(ctx, hk, img, j.v, true)
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
	if err := verticalSWAR(ctx, src, x0, cols, vw, tmp); err != nil {
		rowBufs.Put(tp)
		return plane{}, err
	}
	out := plane{pix: make([]byte, w*h), w: w, h: h, stride: w}
	horizontalSWAR(tmp, cols, x0, hw, out.pix, w, h)
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
