package imagecore

import (
	"image"
	"math"
	"sync"
)

// The resampler is a separable Lanczos-3 in fixed point on premultiplied RGBA.
// Integer arithmetic and fixed tap counts let the inner loops run without
// per-pixel allocation or float conversion; it matches imaging's Lanczos
// (the reference) to well under the PSNR bound the tests check.

const (
	wBits = 14
	wOne  = 1 << wBits
	wHalf = 1 << (wBits - 1)
)

func lanczos3(x float64) float64 {
	x = math.Abs(x)
	if x == 0 {
		return 1
	}
	if x >= 3 {
		return 0
	}
	px := math.Pi * x
	return 3 * math.Sin(px) * math.Sin(px/3) / (px * px)
}

// axisWeights maps each destination sample to n consecutive source samples
// starting at start[i], with weights w[i*n : i*n+n] summing to wOne.
type axisWeights struct {
	n     int
	start []int
	w     []int32
}

// weightsFor resamples the source interval [off, off+length) of an axis with
// srcN samples onto dst samples. Taps outside the axis are dropped and the rest
// renormalised, as imaging does.
func weightsFor(dst int, off, length float64, srcN int) axisWeights {
	du := length / float64(dst)
	scale := max(du, 1)
	support := 3 * scale
	type span struct{ begin, end int }
	spans := make([]span, dst)
	n := 1
	for v := range spans {
		fu := off + (float64(v)+0.5)*du - 0.5
		b := max(0, int(math.Ceil(fu-support)))
		e := min(srcN-1, int(math.Floor(fu+support)))
		if e < b { // only possible at a degenerate edge: take the nearest sample
			b = min(max(0, int(math.Round(fu))), srcN-1)
			e = b
		}
		spans[v] = span{b, e}
		n = max(n, e-b+1)
	}
	n = min(n, srcN)
	aw := axisWeights{n: n, start: make([]int, dst), w: make([]int32, dst*n)}
	fw := make([]float64, n)
	for v, sp := range spans {
		fu := off + (float64(v)+0.5)*du - 0.5
		start := min(sp.begin, srcN-n) // keep all n taps inside the axis
		aw.start[v] = start
		var sum float64
		for k := range fw {
			fw[k] = 0
			if u := start + k; u >= sp.begin && u <= sp.end {
				fw[k] = lanczos3((float64(u) - fu) / scale)
				sum += fw[k]
			}
		}
		if sum == 0 {
			fw[sp.begin-start], sum = 1, 1
		}
		ws := aw.w[v*n : v*n+n]
		var total, big int32
		for k, f := range fw {
			ws[k] = int32(math.Round(f / sum * wOne))
			total += ws[k]
			if ws[k] > ws[big] {
				big = int32(k)
			}
		}
		ws[big] += wOne - total // exact unity gain: flat areas stay flat
	}
	return aw
}

// rowBufs recycles the intermediate rows of the two passes between calls.
var rowBufs = sync.Pool{New: func() any { return new([]byte) }}
var accBufs = sync.Pool{New: func() any { return new([]int32) }}

// resample resizes the region [ox, ox+lw) x [oy, oy+lh) (source pixels, may
// be fractional) of src to w x h. With opaque set, alpha is not computed.
//
// The vertical pass runs first, over only the columns the horizontal taps
// read: its inner loop is a plain multiply-add over a row of bytes, so it is
// the cheaper pass to run on the larger image.
func resample(src *image.RGBA, ox, oy, lw, lh float64, w, h int, opaque bool) *image.RGBA {
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	hw := weightsFor(w, ox, lw, sw)
	vw := weightsFor(h, oy, lh, sh)
	x0, x1 := hw.start[0], hw.start[w-1]+hw.n
	rowLen := (x1 - x0) * 4

	tp := rowBufs.Get().(*[]byte)
	if cap(*tp) < h*rowLen {
		*tp = make([]byte, h*rowLen)
	}
	tmp := (*tp)[:h*rowLen]
	ap := accBufs.Get().(*[]int32)
	if cap(*ap) < rowLen {
		*ap = make([]int32, rowLen)
	}
	vertical(src, x0, x1, vw, tmp, (*ap)[:rowLen], opaque)
	accBufs.Put(ap)

	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	horizontal(tmp, rowLen, x0, hw, dst, opaque)
	rowBufs.Put(tp)
	return dst
}

func clamp8(v int32) uint8 {
	v = (v + wHalf) >> wBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// vertical filters columns [x0, x1) of src into len(vw.start) rows of tmp.
func vertical(src *image.RGBA, x0, x1 int, aw axisWeights, tmp []byte, acc []int32, opaque bool) {
	n := aw.n
	rowLen := (x1 - x0) * 4
	for y := range aw.start {
		clear(acc)
		s := aw.start[y]
		for k, wt := range aw.w[y*n : y*n+n] {
			if wt == 0 {
				continue
			}
			off := (s+k)*src.Stride + x0*4
			row := src.Pix[off : off+rowLen]
			acc := acc[:len(row)]
			for i, v := range row {
				acc[i] += int32(v) * wt
			}
		}
		out := tmp[y*rowLen : (y+1)*rowLen]
		if opaque {
			for i := 0; i+3 < len(out); i += 4 {
				o := out[i : i+4 : i+4]
				a := acc[i : i+3 : i+3]
				o[0], o[1], o[2], o[3] = clamp8(a[0]), clamp8(a[1]), clamp8(a[2]), 0xFF
			}
			continue
		}
		for i := 0; i+3 < len(out); i += 4 {
			o := out[i : i+4 : i+4]
			a := acc[i : i+4 : i+4]
			o[3] = clamp8(a[3])
			// Premultiplied: ringing must not push a colour above its alpha.
			o[0], o[1], o[2] = min(clamp8(a[0]), o[3]), min(clamp8(a[1]), o[3]), min(clamp8(a[2]), o[3])
		}
	}
}

// horizontal filters each row of tmp (starting at source column x0) into dst.
func horizontal(tmp []byte, rowLen, x0 int, aw axisWeights, dst *image.RGBA, opaque bool) {
	n := aw.n
	w := dst.Rect.Dx()
	for y := 0; y < dst.Rect.Dy(); y++ {
		row := tmp[y*rowLen : (y+1)*rowLen]
		out := dst.Pix[y*dst.Stride : y*dst.Stride+w*4]
		for x := 0; x < w; x++ {
			s := (aw.start[x] - x0) * 4
			p := row[s : s+n*4]
			ws := aw.w[x*n : x*n+n]
			var r, g, b, a int32
			o := out[x*4 : x*4+4 : x*4+4]
			if opaque {
				for k, wt := range ws {
					q := p[k*4 : k*4+3 : k*4+3]
					r += int32(q[0]) * wt
					g += int32(q[1]) * wt
					b += int32(q[2]) * wt
				}
				o[0], o[1], o[2], o[3] = clamp8(r), clamp8(g), clamp8(b), 0xFF
				continue
			}
			for k, wt := range ws {
				q := p[k*4 : k*4+4 : k*4+4]
				r += int32(q[0]) * wt
				g += int32(q[1]) * wt
				b += int32(q[2]) * wt
				a += int32(q[3]) * wt
			}
			o[3] = clamp8(a)
			o[0], o[1], o[2] = min(clamp8(r), o[3]), min(clamp8(g), o[3]), min(clamp8(b), o[3])
		}
	}
}
