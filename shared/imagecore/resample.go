package imagecore

import (
	"context"
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
// read: its inner loop is a plain multiply-add along a row of bytes, the
// cheapest pass to run on the larger image. It writes one plane per channel,
// so the horizontal pass is also a run of simple one-channel dot products.
func resample(ctx context.Context, src *image.RGBA, ox, oy, lw, lh float64, w, h int, opaque bool) (*image.RGBA, error) {
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	hw := weightsFor(w, ox, lw, sw)
	vw := weightsFor(h, oy, lh, sh)
	x0, x1 := hw.start[0], hw.start[w-1]+hw.n
	cols := x1 - x0
	channels := 4
	if opaque {
		channels = 3
	}

	tp := rowBufs.Get().(*[]byte)
	if cap(*tp) < channels*h*cols {
		*tp = make([]byte, channels*h*cols)
	}
	planes := make([][]byte, channels)
	for c := range planes {
		planes[c] = (*tp)[c*h*cols : (c+1)*h*cols]
	}
	ap := accBufs.Get().(*[]int32)
	if cap(*ap) < cols*4 {
		*ap = make([]int32, cols*4)
	}
	err := vertical(ctx, src, x0, x1, vw, planes, (*ap)[:cols*4])
	accBufs.Put(ap)
	if err != nil {
		rowBufs.Put(tp)
		return nil, err
	}

	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	for c, plane := range planes {
		horizontal(plane, cols, x0, hw, dst.Pix[c:], dst.Stride, 4, h)
	}
	rowBufs.Put(tp)
	if opaque {
		for i := 3; i < len(dst.Pix); i += 4 {
			dst.Pix[i] = 0xFF
		}
	} else {
		// Premultiplied: ringing must not push a colour above its alpha.
		for i := 0; i+3 < len(dst.Pix); i += 4 {
			p := dst.Pix[i : i+4 : i+4]
			p[0], p[1], p[2] = min(p[0], p[3]), min(p[1], p[3]), min(p[2], p[3])
		}
	}
	return dst, nil
}

// clamp8 rounds a filter sum to a sample, clamped to 0-255 without a branch
// (ringing at hard edges and in noise clamps often enough to mispredict).
func clamp8(v int32) uint8 {
	v = (v + wHalf) >> wBits
	v &^= v >> 31                 // negative: 0
	return uint8(v | (255-v)>>31) // above 255: all ones
}

// vertical filters columns [x0, x1) of src into len(aw.start) rows, one plane
// per channel (3 planes drop alpha). It stops when ctx is done.
func vertical(ctx context.Context, src *image.RGBA, x0, x1 int, aw axisWeights, planes [][]byte, acc []int32) error {
	n := aw.n
	cols := x1 - x0
	rowLen := cols * 4
	for y := range aw.start {
		if y%ctxRows == 0 {
			if err := ctxErr(ctx); err != nil {
				return err
			}
		}
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
		for c, plane := range planes {
			out := plane[y*cols : (y+1)*cols]
			for i := range out {
				out[i] = clamp8(acc[4*i+c])
			}
		}
	}
	return nil
}

// horizontal filters src (h rows of cols samples, from source column x0)
// into dst, whose rows are dstStride apart with samples step bytes apart.
func horizontal(src []byte, cols, x0 int, aw axisWeights, dst []byte, dstStride, step, h int) {
	n := aw.n
	w := len(aw.start)
	for y := 0; y < h; y++ {
		row := src[y*cols : (y+1)*cols]
		out := dst[y*dstStride : y*dstStride+(w-1)*step+1]
		for x, s := range aw.start {
			ws := aw.w[x*n : x*n+n]
			p := row[s-x0:][:len(ws)]
			var sum int32
			k := 0
			for ; k+4 <= len(ws); k += 4 { // four taps a step: fewer loop and bounds overheads
				sum += int32(p[k])*ws[k] + int32(p[k+1])*ws[k+1] + int32(p[k+2])*ws[k+2] + int32(p[k+3])*ws[k+3]
			}
			for ; k < len(ws); k++ {
				sum += int32(p[k]) * ws[k]
			}
			out[x*step] = clamp8(sum)
		}
	}
}
