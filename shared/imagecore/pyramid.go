package imagecore

import (
	"context"
	"image"
	"image/draw"
)

// The pyramid serves sources that are not plain YCbCr or Gray (PNG, GIF,
// CMYK JPEG, lossless or transparent WebP; see planar.go for the rest). It
// holds the image at full size as premultiplied RGBA (level 0) and successive
// 2x2 box reductions (level n is 1/2^n of the source). A variant is resampled
// from the smallest level that is still at least minLanczosRatio times its
// size, so Lanczos only ever works on a few times the output's pixels: the
// cheap box steps do the bulk of the shrinking, like libvips' shrink-then-reduce.

// minLanczosRatio is the least source-to-output ratio left for Lanczos after
// the box steps. Larger is closer to a full Lanczos and slower; large outputs
// dominate the cost, so they get the least ratio that keeps them well over
// 35 dB PSNR. Outputs under smallOutput pixels, whose Lanczos is cheap, get
// smallLanczosRatio: at a hundred pixels wide the box steps' softness shows.
const (
	minLanczosRatio   = 1
	smallLanczosRatio = 3
	smallOutput       = 1 << 18 // pixels
)

func lanczosRatioFor(ow, oh int) float64 {
	if ow*oh < smallOutput {
		return smallLanczosRatio
	}
	return minLanczosRatio
}

type pyramid struct {
	w, h   int
	levels []*image.RGBA // built on demand
	opaque bool
}

// newPyramid prepares levels for a decoded image of the header's size, which
// may differ from the decoded bounds for a GIF frame on a larger screen.
func newPyramid(ctx context.Context, m image.Image, w, h int) (*pyramid, error) {
	l0, err := toRGBA(ctx, m, w, h)
	if err != nil {
		return nil, err
	}
	return &pyramid{w: w, h: h, levels: []*image.RGBA{l0}, opaque: alphaOpaque(l0)}, nil
}

// level returns level n (n >= 0), building it and the ones it needs; it
// looks at ctx before each halving.
func (p *pyramid) level(ctx context.Context, n int) (*image.RGBA, error) {
	for len(p.levels) <= n {
		if err := ctxErr(ctx); err != nil {
			return nil, err
		}
		p.levels = append(p.levels, halve(p.levels[len(p.levels)-1]))
	}
	return p.levels[n], nil
}

// levelFor is the deepest level that still leaves Lanczos a ratio of at least
// minLanczosRatio for a variant that shrinks the source by ratio.
func (p *pyramid) levelFor(ratio, g float64) int {
	n := 0
	w, h := p.w, p.h
	for ratio >= 2*g && w > 1 && h > 1 {
		ratio /= 2
		w, h = (w+1)/2, (h+1)/2
		n++
	}
	return n
}

// toRGBA is level 0. The general conversion (16-bit, paletted, CMYK...) is
// the slowest per pixel, so it runs in bands with a look at ctx between them.
func toRGBA(ctx context.Context, m image.Image, w, h int) (*image.RGBA, error) {
	b := m.Bounds()
	switch m := m.(type) {
	case *image.RGBA:
		if b == image.Rect(0, 0, w, h) {
			return m, nil
		}
	case *image.NRGBA:
		// An opaque NRGBA is already premultiplied: share its pixels.
		if b == image.Rect(0, 0, w, h) && alphaOpaque((*image.RGBA)(m)) {
			return (*image.RGBA)(m), nil
		}
	case *image.YCbCr:
		if b == image.Rect(0, 0, w, h) {
			return ycbcrToRGBA(m), nil
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	if conv := rgbaRows(m); conv != nil {
		r := b.Intersect(dst.Rect)
		for y := r.Min.Y; y < r.Max.Y; y++ {
			if (y-r.Min.Y)%ctxRows == 0 {
				if err := ctxErr(ctx); err != nil {
					return nil, err
				}
			}
			i := dst.PixOffset(r.Min.X, y)
			conv(dst.Pix[i:i+4*r.Dx()], r.Min.X, y)
		}
		return dst, nil
	}
	for y := b.Min.Y; y < b.Max.Y; y += ctxRows {
		if err := ctxErr(ctx); err != nil {
			return nil, err
		}
		r := image.Rect(b.Min.X, y, b.Max.X, min(y+ctxRows, b.Max.Y))
		draw.Draw(dst, r, m, r.Min, draw.Src)
	}
	return dst, nil
}

// rgbaRows converts the decoders' other common types a row at a time, with
// exactly draw.Draw's arithmetic (the 16-bit colour of RGBA64At, premultiplied,
// shifted down to 8 bits), where draw.Draw would call RGBA64At per pixel:
// GIF and palette PNG (Paletted), 16-bit PNG (NRGBA64, RGBA64, Gray16). out
// is the row's pixels from column x0 on; nil means draw.Draw does it.
func rgbaRows(m image.Image) func(out []byte, x0, y int) {
	switch m := m.(type) {
	case *image.Paletted:
		var lut [256][4]byte // indices past the palette stay transparent black
		for i, c := range m.Palette[:min(len(m.Palette), 256)] {
			r, g, b, a := c.RGBA()
			lut[i] = [4]byte{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
		}
		return func(out []byte, x0, y int) {
			src := m.Pix[m.PixOffset(x0, y):][:len(out)/4]
			for i, idx := range src {
				copy(out[4*i:4*i+4:4*i+4], lut[idx][:])
			}
		}
	case *image.NRGBA64:
		return func(out []byte, x0, y int) {
			src := m.Pix[m.PixOffset(x0, y):][:2*len(out)]
			for i := 0; i < len(out); i += 4 {
				s := src[2*i : 2*i+8 : 2*i+8]
				a := uint32(s[6])<<8 | uint32(s[7])
				o := out[i : i+4 : i+4]
				o[0] = uint8((uint32(s[0])<<8 | uint32(s[1])) * a / 0xffff >> 8)
				o[1] = uint8((uint32(s[2])<<8 | uint32(s[3])) * a / 0xffff >> 8)
				o[2] = uint8((uint32(s[4])<<8 | uint32(s[5])) * a / 0xffff >> 8)
				o[3] = uint8(a >> 8)
			}
		}
	case *image.RGBA64:
		return func(out []byte, x0, y int) {
			src := m.Pix[m.PixOffset(x0, y):][:2*len(out)]
			for i := range out {
				out[i] = src[2*i]
			}
		}
	case *image.Gray16:
		return func(out []byte, x0, y int) {
			src := m.Pix[m.PixOffset(x0, y):][:len(out)/2]
			for i := 0; i < len(out); i += 4 {
				v := src[i/2]
				out[i], out[i+1], out[i+2], out[i+3] = v, v, v, 0xff
			}
		}
	}
	return nil
}

func alphaOpaque(m *image.RGBA) bool {
	for y := 0; y < m.Rect.Dy(); y++ {
		row := m.Pix[y*m.Stride : y*m.Stride+4*m.Rect.Dx()]
		for i := 3; i < len(row); i += 4 {
			if row[i] != 0xFF {
				return false
			}
		}
	}
	return true
}

// ycc converts one JPEG (JFIF) YCbCr sample to RGB with the same integer
// arithmetic as image/color.YCbCrToRGB, inlined for the hot loops.
func ycc(yy, cb, cr int32, o []byte) {
	yy1 := yy * 0x10101
	cb1 := cb - 128
	cr1 := cr - 128
	r := yy1 + 91881*cr1
	g := yy1 - 22554*cb1 - 46802*cr1
	b := yy1 + 116130*cb1
	o[0], o[1], o[2], o[3] = sat(r), sat(g), sat(b), 0xFF
}

func sat(v int32) uint8 {
	if uint32(v)&0xff000000 == 0 {
		return uint8(v >> 16)
	}
	return uint8(^(v >> 31))
}

func ycbcrToRGBA(m *image.YCbCr) *image.RGBA {
	b := m.Rect
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := b.Min.Y; y < b.Max.Y; y++ {
		out := dst.Pix[(y-b.Min.Y)*dst.Stride:]
		yi := m.YOffset(b.Min.X, y)
		for x := b.Min.X; x < b.Max.X; x++ {
			ci := m.COffset(x, y)
			ycc(int32(m.Y[yi]), int32(m.Cb[ci]), int32(m.Cr[ci]), out[(x-b.Min.X)*4:(x-b.Min.X)*4+4:(x-b.Min.X)*4+4])
			yi++
		}
	}
	return dst
}

// halve is a 2x2 box reduction; odd edges repeat their last row or column.
func halve(src *image.RGBA) *image.RGBA {
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	w, h := (sw+1)/2, (sh+1)/2
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		r0 := src.Pix[2*y*src.Stride : 2*y*src.Stride+sw*4]
		y1 := min(2*y+1, sh-1)
		r1 := src.Pix[y1*src.Stride : y1*src.Stride+sw*4]
		out := dst.Pix[y*dst.Stride : y*dst.Stride+w*4]
		for x := 0; x < w; x++ {
			i0 := 8 * x
			i1 := min(i0+4, (sw-1)*4)
			a := r0[i0 : i0+4 : i0+4]
			b := r0[i1 : i1+4 : i1+4]
			c := r1[i0 : i0+4 : i0+4]
			d := r1[i1 : i1+4 : i1+4]
			o := out[x*4 : x*4+4 : x*4+4]
			for k := 0; k < 4; k++ {
				o[k] = uint8((uint16(a[k]) + uint16(b[k]) + uint16(c[k]) + uint16(d[k]) + 2) >> 2)
			}
		}
	}
	return dst
}
