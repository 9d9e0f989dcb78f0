package imagecore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"image"
	"image/color"
	"runtime"
	"sync"

	"github.com/kovidgoyal/imaging/prism/meta/icc"
)

// Colour management: every output is sRGB and carries no profile, so pixels
// described by an embedded ICC profile (or by HEIF/AVIF CICP code points) are
// converted to sRGB once, right after decoding and before any resampling.
//
// The colour science (profile parsing, curves, matrices, CLUT interpolation,
// PCS conversions) is github.com/kovidgoyal/imaging's ICC package. It is
// evaluated in floating point only at the grid points of a lookup table built
// once per profile; pixels then go through that table with integer
// tetrahedral interpolation. Profiles are structurally checked (checkICC)
// before the library sees them, and any failure leaves the pixels as they
// are, with a note.

// colourSource is what a decoder found about its pixels' colour space. The
// HEIF/AVIF decoder fills it from the `colr` box: ICC for 'prof'/'rICC',
// CICP for 'nclx' (then ICC is nil).
type colourSource struct {
	ICC  []byte
	CICP *cicp
	png  *pngColour // PNG gAMA/cHRM, when there is neither iCCP nor sRGB
}

// cicp holds ITU-T H.273 code points. Only Primaries and Transfer are used
// here: turning Y'CbCr into R'G'B' (Matrix, FullRange) is the decoder's job.
type cicp struct {
	Primaries, Transfer, Matrix uint16
	FullRange                   bool
}

// Grid sizes of the lookup tables: 33 points per axis for RGB (as LittleCMS
// uses for 8-bit RGB), 17 for CMYK (four axes), 256 for gray.
const (
	gridRGB  = 33
	gridCMYK = 17
	gridGray = 256
)

// colourTransform maps device values to sRGB through a lookup table.
type colourTransform struct {
	name string
	in   int // input channels: 1 gray, 3 RGB, 4 CMYK
	out  int // output channels: 1 (gray) or 3
	grid int
	lut  []uint16 // grid^in * out values, 0..lutOne; the last input varies fastest
	// cell and frac place an 8-bit input on the grid: cell index and the
	// position inside the cell, 0..65535.
	cell [256]int32
	frac [256]int32
	// off0..off2 are an 8-bit input's cell offset in the table along each of
	// the (last) three axes, so an RGB lookup adds them.
	off [3][256]int32
}

// bakeTransform samples f (device values in [0,1] to sRGB values in [0,1])
// at every grid point.
func bakeTransform(name string, in, out, grid int, f func(dev, srgb []float64)) *colourTransform {
	t := &colourTransform{name: name, in: in, out: out, grid: grid}
	n := 1
	for range in {
		n *= grid
	}
	t.lut = make([]uint16, n*out)
	dev := make([]float64, 4)
	res := make([]float64, 4)
	idx := make([]int, in)
	for p := range n {
		q := p
		for c := in - 1; c >= 0; c-- {
			idx[c] = q % grid
			q /= grid
		}
		clear(dev)
		clear(res)
		for c := range in {
			dev[c] = float64(idx[c]) / float64(grid-1)
		}
		f(dev, res)
		for c := range out {
			t.lut[p*out+c] = uint16(min(max(res[c], 0), 1)*lutOne + 0.5)
		}
	}
	for v := range 256 {
		t.cell[v], t.frac[v] = t.place(uint32(v) * 257)
		s := int32(out)
		for a := 2; a >= 0; a-- {
			t.off[a][v] = t.cell[v] * s
			s *= int32(grid)
		}
	}
	return t
}

// place puts a 16-bit input on the grid.
func (t *colourTransform) place(v uint32) (int32, int32) {
	x := v * uint32(t.grid-1)
	i := x / 65535
	f := x - i*65535
	if int(i) >= t.grid-1 {
		i, f = uint32(t.grid-2), 65535
	}
	return int32(i), int32(f * 65536 / 65535) // 0..65535, so the weights divide by 65536
}

// tetra interpolates the 3D table at cell (i0, i1, i2), fractions (f0, f1,
// f2), with base offset o (the K slice of a CMYK table), into dst.
func (t *colourTransform) tetra(o int, i0, i1, i2, f0, f1, f2 int32, dst *[3]int32) {
	g := int32(t.grid)
	s2 := int32(t.out)
	s1 := s2 * g
	s0 := s1 * g
	lut := t.lut[o:]
	b := i0*s0 + i1*s1 + i2*s2
	// The cube's corners: x is the first input (stride s0), z the last.
	c000 := b
	c111 := b + s0 + s1 + s2
	var ca, cb int32 // the two corners between c000 and c111 on the chosen path
	var fa, fb, fc int32
	switch {
	case f0 >= f1 && f1 >= f2:
		ca, cb, fa, fb, fc = b+s0, b+s0+s1, f0, f1, f2
	case f0 >= f2 && f2 >= f1:
		ca, cb, fa, fb, fc = b+s0, b+s0+s2, f0, f2, f1
	case f2 >= f0 && f0 >= f1:
		ca, cb, fa, fb, fc = b+s2, b+s0+s2, f2, f0, f1
	case f1 >= f0 && f0 >= f2:
		ca, cb, fa, fb, fc = b+s1, b+s0+s1, f1, f0, f2
	case f1 >= f2 && f2 >= f0:
		ca, cb, fa, fb, fc = b+s1, b+s1+s2, f1, f2, f0
	default: // f2 >= f1 >= f0
		ca, cb, fa, fb, fc = b+s2, b+s1+s2, f2, f1, f0
	}
	for c := range int32(3) {
		v0 := int64(lut[c000+c])
		va := int64(lut[ca+c])
		vb := int64(lut[cb+c])
		v1 := int64(lut[c111+c])
		v := v0<<16 + (va-v0)*int64(fa) + (vb-va)*int64(fb) + (v1-vb)*int64(fc)
		dst[c] = int32((v + 1<<15) >> 16)
	}
}

// rgb16 converts one 16-bit RGB value; results are 0..lutOne.
func (t *colourTransform) rgb16(r, g, b uint32) (uint32, uint32, uint32) {
	i0, f0 := t.place(r)
	i1, f1 := t.place(g)
	i2, f2 := t.place(b)
	var d [3]int32
	t.tetra(0, i0, i1, i2, f0, f1, f2, &d)
	return uint32(d[0]), uint32(d[1]), uint32(d[2])
}

// rgb8 converts one 8-bit RGB value: tetra for a 3-input table, with the
// cell offsets looked up.
func (t *colourTransform) rgb8(r, g, b uint8) (uint8, uint8, uint8) {
	s2 := int32(t.out)
	s1 := s2 * int32(t.grid)
	s0 := s1 * int32(t.grid)
	c000 := t.off[0][r] + t.off[1][g] + t.off[2][b]
	f0, f1, f2 := int64(t.frac[r]), int64(t.frac[g]), int64(t.frac[b])
	var ca, cb int32
	var fa, fb, fc int64
	switch {
	case f0 >= f1 && f1 >= f2:
		ca, cb, fa, fb, fc = s0, s0+s1, f0, f1, f2
	case f0 >= f2 && f2 >= f1:
		ca, cb, fa, fb, fc = s0, s0+s2, f0, f2, f1
	case f2 >= f0 && f0 >= f1:
		ca, cb, fa, fb, fc = s2, s0+s2, f2, f0, f1
	case f1 >= f0 && f0 >= f2:
		ca, cb, fa, fb, fc = s1, s0+s1, f1, f0, f2
	case f1 >= f2 && f2 >= f0:
		ca, cb, fa, fb, fc = s1, s1+s2, f1, f2, f0
	default:
		ca, cb, fa, fb, fc = s2, s1+s2, f2, f1, f0
	}
	c := t.lut[c000 : c000+s0+s1+s2+3]
	a, bb, e := c[ca:ca+3], c[cb:cb+3], c[s0+s1+s2:s0+s1+s2+3]
	ch := func(k int) uint8 {
		v0, va, vb, v1 := int64(c[k]), int64(a[k]), int64(bb[k]), int64(e[k])
		v := v0<<16 + (va-v0)*fa + (vb-va)*fb + (v1-vb)*fc
		return to8(int32((v + 1<<15) >> 16))
	}
	return ch(0), ch(1), ch(2)
}

// cmyk8 converts one 8-bit CMYK value (255 = full ink): tetrahedral in M,
// Y, K on the two C slices around c, linear between them (as LittleCMS
// interpolates four inputs).
func (t *colourTransform) cmyk8(c, m, y, k uint8) (uint8, uint8, uint8) {
	g := t.grid
	slice := g * g * g * t.out
	ic, fc := int(t.cell[c]), int64(t.frac[c])
	var lo, hi [3]int32
	im, iy, ik := t.cell[m], t.cell[y], t.cell[k]
	fm, fy, fk := t.frac[m], t.frac[y], t.frac[k]
	t.tetra(ic*slice, im, iy, ik, fm, fy, fk, &lo)
	t.tetra((ic+1)*slice, im, iy, ik, fm, fy, fk, &hi)
	var out [3]uint8
	for i := range 3 {
		v := int64(lo[i])<<16 + int64(hi[i]-lo[i])*fc
		out[i] = to8(int32((v + 1<<15) >> 16))
	}
	return out[0], out[1], out[2]
}

// gray16 converts one 16-bit gray value; the result is 0..lutOne.
func (t *colourTransform) gray16(v uint32) uint32 {
	i, f := t.place(v)
	a, b := int64(t.lut[i]), int64(t.lut[i+1])
	return uint32((a<<16 + (b-a)*int64(f) + 1<<15) >> 16)
}

// lutOne is 1.0 in the tables: 255 * 256, so an 8-bit result is a shift.
const lutOne = 255 * 256

func to8(v int32) uint8 { return uint8((min(max(v, 0), lutOne) + 128) >> 8) }

// transformCache keeps the tables of recently seen profiles: a warm function
// sees the same camera and phone profiles over and over.
type transformCache struct {
	mu sync.Mutex
	m  map[[32]byte]cachedTransform
}

type cachedTransform struct {
	t   *colourTransform // nil: the profile is sRGB
	err error
}

const transformCacheSize = 16

var transforms = &transformCache{m: map[[32]byte]cachedTransform{}}

func (c *transformCache) get(key [32]byte, build func() (*colourTransform, error)) (*colourTransform, error) {
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return e.t, e.err
	}
	t, err := build()
	c.mu.Lock()
	if len(c.m) >= transformCacheSize {
		for k := range c.m { // any one: the cache only saves rebuilding
			delete(c.m, k)
			break
		}
	}
	c.m[key] = cachedTransform{t, err}
	c.mu.Unlock()
	return t, err
}

// iccTransform builds the table of an ICC profile, or nil when the profile
// is sRGB. An error means the profile cannot be used.
func iccTransform(b []byte) (*colourTransform, error) {
	key := sha256.Sum256(b)
	return transforms.get(key, func() (*colourTransform, error) { return buildICCTransform(b) })
}

func buildICCTransform(b []byte) (t *colourTransform, err error) {
	h, err := checkICC(b)
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("%w: the profile could not be evaluated: %v", errICCMalformed, r)
		}
	}()
	p, err := icc.DecodeProfile(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errICCMalformed, err)
	}
	if h.colourSpace == iccSigRGB && p.IsSRGB() {
		return nil, nil
	}
	in := h.channels()
	// Perceptual intent, as ImageMagick and browsers use; for matrix/TRC
	// profiles every intent is the same. Out-of-gamut colours are clipped.
	pl, err := p.CreateTransformerToSRGB(icc.PerceptualRenderingIntent, false, in, true, false, true)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errICCMalformed, err)
	}
	name := profileName(p)
	switch in {
	case 1:
		return bakeTransform(name, 1, 1, gridGray, func(dev, srgb []float64) {
			_, g, _ := pl.Transform(dev[0], dev[0], dev[0])
			srgb[0] = g
		}), nil
	case 3:
		return bakeTransform(name, 3, 3, gridRGB, func(dev, srgb []float64) {
			srgb[0], srgb[1], srgb[2] = pl.Transform(dev[0], dev[1], dev[2])
		}), nil
	}
	return bakeTransform(name, 4, 3, gridCMYK, func(dev, srgb []float64) {
		pl.TransformGeneral(srgb, dev)
	}), nil
}

func profileName(p *icc.Profile) (name string) {
	defer func() {
		if recover() != nil {
			name = "embedded profile"
		}
	}()
	if d, err := p.Description(); err == nil && d != "" {
		if len(d) > 64 {
			d = d[:64]
		}
		return d
	}
	return "embedded profile"
}

// toSRGB converts decoded pixels whose colour space src describes to sRGB.
// It returns m itself (possibly converted in place) or a new image, and notes
// for a person when the description could not be used (the pixels are then
// treated as sRGB). CMYK pixels without a profile get the press default.
// Y'CbCr images come back as 4:4:4 Y'CbCr, so the planar path still takes
// them; alpha is kept.
func toSRGB(m image.Image, src colourSource) (image.Image, []string) {
	t, notes := transformFor(src, imageChannels(m))
	if t == nil {
		return m, notes
	}
	out, err := t.apply(m)
	if err != nil {
		return m, append(notes, fmt.Sprintf("the colour profile (%s) was not applied: %v", t.name, err))
	}
	return out, notes
}

// transformFor is the table for pixels of ch channels described by src, or
// nil when they are sRGB already (or the description cannot be used, which
// the notes then say).
func transformFor(src colourSource, ch int) (*colourTransform, []string) {
	var t *colourTransform
	var notes []string
	switch {
	case src.ICC != nil:
		var err error
		t, err = iccTransform(src.ICC)
		if err != nil {
			notes = append(notes, fmt.Sprintf("the embedded colour profile was ignored and the image %s: %v", treatedAs(ch), err))
			t = nil
		} else if t != nil && t.in != ch {
			notes = append(notes, fmt.Sprintf("the embedded colour profile (%s) is for %d channels and the image has %d; it was ignored and the image %s", t.name, t.in, ch, treatedAs(ch)))
			t = nil
		}
	case src.png != nil:
		t = src.png.transform(ch)
	case src.CICP != nil:
		var err error
		t, err = cicpTransform(*src.CICP)
		if err != nil {
			notes = append(notes, fmt.Sprintf("the colour description was ignored and the image treated as sRGB: %v", err))
		}
		if ch != 3 {
			t = nil // a gray image: CICP primaries do not apply
		}
	}
	if t == nil && ch == 4 {
		t = defaultCMYK()
	}
	return t, notes
}

// cmykPlanesToSRGB converts the four planes of an Adobe CMYK or YCCK JPEG,
// as image/jpeg reads them: Adobe stores 255 - ink; YCCK holds that
// inverted CMY as Y'CbCr, so its R'G'B' is the ink and only K is inverted.
// The result is three Y'CbCr planes at the first plane's size.
func cmykPlanesToSRGB(d *jpegDecoder, planes []plane, t *colourTransform) []plane {
	base := planes[0]
	out := make([]plane, 3)
	for i := range out {
		out[i] = plane{pix: make([]byte, base.w*base.h), w: base.w, h: base.h, stride: base.w}
	}
	ycck := d.transform != 0
	rows(base.h, func(y0, y1 int) {
		idx := make([][]int, 4)
		for c := range idx {
			idx[c] = make([]int, base.w)
			for x := range idx[c] {
				idx[c][x] = min(x*d.comps[c].h/d.hmax, planes[c].w-1)
			}
		}
		for y := y0; y < y1; y++ {
			var r [4][]byte
			for c := range r {
				r[c] = planes[c].row(min(y*d.comps[c].v/d.vmax, planes[c].h-1))
			}
			oy, ob, or := out[0].row(y), out[1].row(y), out[2].row(y)
			for x := range oy {
				a, b, c, k := r[0][idx[0][x]], r[1][idx[1][x]], r[2][idx[2][x]], 255-r[3][idx[3][x]]
				if ycck {
					a, b, c = color.YCbCrToRGB(a, b, c)
				} else {
					a, b, c = 255-a, 255-b, 255-c
				}
				rr, gg, bb := t.cmyk8(a, b, c, k)
				oy[x], ob[x], or[x] = color.RGBToYCbCr(rr, gg, bb)
			}
		}
	})
	return out
}

// treatedAs says how pixels without a usable description are read.
func treatedAs(ch int) string {
	if ch == 4 {
		return "read as SWOP press CMYK"
	}
	return "treated as sRGB"
}

// planesToSRGB converts the Y'CbCr or gray planes of the scaled JPEG decoder.
// Converted chroma comes back at luma's size. converted is false when there
// is nothing to do (the planes are then unchanged).
func planesToSRGB(d *jpegDecoder, planes []plane, src colourSource) ([]plane, bool, []string) {
	if src.ICC == nil && len(planes) != 4 {
		return nil, false, nil
	}
	t, notes := transformFor(src, len(planes))
	if t == nil {
		return nil, false, notes
	}
	if len(planes) == 1 {
		var lut [256]uint8
		for v := range 256 {
			lut[v] = to8(int32(t.gray16(uint32(v) * 257)))
		}
		p := planes[0]
		rows(p.h, func(y0, y1 int) {
			for y := y0; y < y1; y++ {
				row := p.row(y)
				for i, v := range row {
					row[i] = lut[v]
				}
			}
		})
		return planes, true, notes
	}
	if len(planes) == 4 {
		return cmykPlanesToSRGB(d, planes, t), true, notes
	}
	if len(planes) != 3 {
		return nil, false, notes
	}
	lum := planes[0]
	out := make([]plane, 3)
	for i := range out {
		out[i] = plane{pix: make([]byte, lum.w*lum.h), w: lum.w, h: lum.h, stride: lum.w}
	}
	cb, cr := planes[1], planes[2]
	hx, vy := d.comps[1].h, d.comps[1].v
	rows(lum.h, func(y0, y1 int) {
		xs := make([]int, lum.w)
		for x := range xs {
			xs[x] = min(x*hx/d.hmax, cb.w-1)
		}
		for y := y0; y < y1; y++ {
			cy := min(y*vy/d.vmax, cb.h-1)
			ly, rb, rr := lum.row(y), cb.row(cy), cr.row(cy)
			oy, ob, or := out[0].row(y), out[1].row(y), out[2].row(y)
			for x, yv := range ly {
				cx := xs[x]
				r, g, b := color.YCbCrToRGB(yv, rb[cx], rr[cx])
				r, g, b = t.rgb8(r, g, b)
				oy[x], ob[x], or[x] = color.RGBToYCbCr(r, g, b)
			}
		}
	})
	return out, true, notes
}

// imageChannels is the number of colour channels of m's pixels (alpha aside).
func imageChannels(m image.Image) int {
	switch m.(type) {
	case *image.Gray, *image.Gray16:
		return 1
	case *image.CMYK:
		return 4
	}
	return 3
}

var errColourLayout = errors.New("pixel layout not supported by the colour transform")

// apply runs the table over m, in place where m's layout allows.
func (t *colourTransform) apply(m image.Image) (image.Image, error) {
	switch m := m.(type) {
	case *image.YCbCr:
		return t.ycbcr(m), nil
	case *image.NYCbCrA:
		n := image.NewNRGBA(m.Rect)
		b := m.Rect
		rows(b.Dy(), func(y0, y1 int) {
			for y := b.Min.Y + y0; y < b.Min.Y+y1; y++ {
				o := n.PixOffset(b.Min.X, y)
				for x := b.Min.X; x < b.Max.X; x++ {
					yi, ci := m.YOffset(x, y), m.COffset(x, y)
					r, g, bb := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
					n.Pix[o], n.Pix[o+1], n.Pix[o+2] = t.rgb8(r, g, bb)
					n.Pix[o+3] = m.A[m.AOffset(x, y)]
					o += 4
				}
			}
		})
		return n, nil
	case *image.RGBA:
		t.rgbaPix(m.Pix, m.Stride, m.Rect, true)
		return m, nil
	case *image.NRGBA:
		t.rgbaPix(m.Pix, m.Stride, m.Rect, false)
		return m, nil
	case *image.RGBA64, *image.NRGBA64:
		return t.wide(m), nil
	case *image.Paletted:
		if t.in != 3 {
			break
		}
		p := make(color.Palette, len(m.Palette))
		for i, c := range m.Palette {
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			n.R, n.G, n.B = t.rgb8(n.R, n.G, n.B)
			p[i] = n
		}
		m.Palette = p
		return m, nil
	case *image.Gray:
		if t.in != 1 {
			break
		}
		var lut [256]uint8
		for v := range 256 {
			lut[v] = to8(int32(t.gray16(uint32(v) * 257)))
		}
		b := m.Rect
		rows(b.Dy(), func(y0, y1 int) {
			for y := y0; y < y1; y++ {
				row := m.Pix[y*m.Stride : y*m.Stride+b.Dx()]
				for i, v := range row {
					row[i] = lut[v]
				}
			}
		})
		return m, nil
	case *image.Gray16:
		if t.in != 1 {
			break
		}
		g := image.NewGray(m.Rect)
		b := m.Rect
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				o := y*m.Stride + 2*x
				v := uint32(m.Pix[o])<<8 | uint32(m.Pix[o+1])
				g.Pix[y*g.Stride+x] = to8(int32(t.gray16(v)))
			}
		}
		return g, nil
	case *image.CMYK:
		if t.in != 4 {
			break
		}
		n := image.NewRGBA(m.Rect)
		b := m.Rect
		rows(b.Dy(), func(y0, y1 int) {
			for y := y0; y < y1; y++ {
				s := m.Pix[y*m.Stride : y*m.Stride+4*b.Dx()]
				d := n.Pix[y*n.Stride : y*n.Stride+4*b.Dx()]
				for i := 0; i+3 < len(s); i += 4 {
					d[i], d[i+1], d[i+2] = t.cmyk8(s[i], s[i+1], s[i+2], s[i+3])
					d[i+3] = 0xFF
				}
			}
		})
		return n, nil
	}
	return nil, fmt.Errorf("%w: %T", errColourLayout, m)
}

// ycbcr converts a Y'CbCr image (JFIF full range) and returns it as 4:4:4.
func (t *colourTransform) ycbcr(m *image.YCbCr) *image.YCbCr {
	b := m.Rect
	n := image.NewYCbCr(b, image.YCbCrSubsampleRatio444)
	// A chroma sample's column offset depends on x alone.
	dx := make([]int, b.Dx())
	c0 := m.COffset(b.Min.X, b.Min.Y)
	for i := range dx {
		dx[i] = m.COffset(b.Min.X+i, b.Min.Y) - c0
	}
	rows(b.Dy(), func(y0, y1 int) {
		for y := b.Min.Y + y0; y < b.Min.Y+y1; y++ {
			yo, co, o := m.YOffset(b.Min.X, y), m.COffset(b.Min.X, y), n.YOffset(b.Min.X, y)
			yr := m.Y[yo : yo+len(dx)]
			ny, ncb, ncr := n.Y[o:o+len(dx)], n.Cb[o:o+len(dx)], n.Cr[o:o+len(dx)]
			for i, yv := range yr {
				ci := co + dx[i]
				r, g, bb := color.YCbCrToRGB(yv, m.Cb[ci], m.Cr[ci])
				r, g, bb = t.rgb8(r, g, bb)
				ny[i], ncb[i], ncr[i] = color.RGBToYCbCr(r, g, bb)
			}
		}
	})
	return n
}

// rgbaPix converts 4-byte RGBA pixels in place; premultiplied ones are
// unpremultiplied around the conversion.
func (t *colourTransform) rgbaPix(pix []byte, stride int, r image.Rectangle, premul bool) {
	w := r.Dx()
	rows(r.Dy(), func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			row := pix[y*stride : y*stride+4*w]
			for i := 0; i+3 < len(row); i += 4 {
				a := row[i+3]
				switch {
				case a == 0 && premul:
				case a == 0xFF || !premul:
					row[i], row[i+1], row[i+2] = t.rgb8(row[i], row[i+1], row[i+2])
				default:
					a32 := uint32(a)
					var c [3]uint8
					for k := range 3 {
						c[k] = uint8(min(255, (uint32(row[i+k])*255+a32/2)/a32))
					}
					c[0], c[1], c[2] = t.rgb8(c[0], c[1], c[2])
					for k := range 3 {
						row[i+k] = uint8((uint32(c[k])*a32 + 127) / 255)
					}
				}
			}
		}
	})
}

// wide converts a 16-bit image with 16-bit input precision to 8-bit NRGBA,
// reading the big-endian samples directly (premultiplied ones are
// unpremultiplied first).
func (t *colourTransform) wide(m image.Image) *image.NRGBA {
	b := m.Bounds()
	n := image.NewNRGBA(b)
	var pix []byte
	var stride int
	premul := false
	switch m := m.(type) {
	case *image.NRGBA64:
		pix, stride = m.Pix, m.Stride
	case *image.RGBA64:
		pix, stride, premul = m.Pix, m.Stride, true
	}
	w := b.Dx()
	rows(b.Dy(), func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			s := pix[y*stride : y*stride+8*w]
			d := n.Pix[y*n.Stride : y*n.Stride+4*w]
			for x := range w {
				p := s[8*x : 8*x+8]
				r, g, bl, a := uint32(p[0])<<8|uint32(p[1]), uint32(p[2])<<8|uint32(p[3]), uint32(p[4])<<8|uint32(p[5]), uint32(p[6])<<8|uint32(p[7])
				if premul && a != 0xFFFF {
					if a == 0 {
						d[4*x+3] = 0
						continue
					}
					r, g, bl = min(r*0xFFFF/a, 0xFFFF), min(g*0xFFFF/a, 0xFFFF), min(bl*0xFFFF/a, 0xFFFF)
				}
				cr, cg, cb := t.rgb16(r, g, bl)
				d[4*x], d[4*x+1], d[4*x+2], d[4*x+3] = to8(int32(cr)), to8(int32(cg)), to8(int32(cb)), uint8(a>>8)
			}
		}
	})
	return n
}

// rows runs f over [0, h) in bands on up to GOMAXPROCS goroutines.
func rows(h int, f func(y0, y1 int)) {
	n := min(h, 4*runtime.GOMAXPROCS(0))
	if n <= 1 {
		f(0, h)
		return
	}
	// A conversion costs a few operations per pixel of an image within the
	// limits, so it runs to the end; the engine checks ctx before and after.
	_ = parallel(context.Background(), n, func(i int) error {
		f(i*h/n, (i+1)*h/n)
		return nil
	})
}
