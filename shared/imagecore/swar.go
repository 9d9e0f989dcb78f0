package imagecore

import "context"

// Two-lane fixed-point resampling ("SIMD within a register"), pure Go.
//
// A plane's filter taps are 8-bit samples times signed 14-bit weights, summed
// into a value that stays within about ±2^23. Two such sums fit in one uint64
// when each 32-bit lane starts at laneBias: then every lane stays positive and
// below 2^32, so plain wrapping 64-bit multiplies and adds compute both lanes
// exactly (a negative product borrows from the upper lane, and the bias pays
// it back). Both lanes must share a weight: the vertical pass pairs two
// columns of one output row, the horizontal pass two rows of one output
// column. Each 64-bit multiply-add does two taps, the results are bit for bit
// those of the one-lane loops (swar_test.go keeps those as the oracle), and
// the code is the same on arm64 and amd64.

// laneBias keeps each lane positive: |sum| < 255 * 2 * wOne * (taps/6) stays
// far below it for every filter weightsFor makes (at most a few dozen taps).
const laneBias = 1 << 30

const laneBias2 = uint64(laneBias) | uint64(laneBias)<<32

func lane0(v uint64) int32 { return int32(uint32(v)) - laneBias }
func lane1(v uint64) int32 { return int32(uint32(v>>32)) - laneBias }

// verticalSWAR filters columns [x0, x0+cols) of src into len(vw.start) rows
// of tmp (cols bytes each). Column i and column i+half share a lane pair.
// Source rows are packed into a ring of vw.n rows as the filter reaches them
// (start rows only grow), so the packing costs one pass over the rows read.
func verticalSWAR(ctx context.Context, src plane, x0, cols int, vw axisWeights, tmp []byte) error {
	n := vw.n
	half := (cols + 1) / 2
	ring := make([]uint64, n*half)
	packed := -1 // highest source row packed so far
	acc := make([]uint64, half)
	for y, s := range vw.start {
		if y%ctxRows == 0 {
			if err := ctxErr(ctx); err != nil {
				return err
			}
		}
		for r := max(packed+1, s); r < s+n; r++ {
			row := src.pix[r*src.stride+x0:][:cols]
			dst := ring[(r%n)*half:][:half]
			lo, hi := row[:half], row[half:]
			for i := range hi {
				dst[i] = uint64(lo[i]) | uint64(hi[i])<<32
			}
			if len(hi) < half { // odd width: the last low lane has no partner
				dst[half-1] = uint64(lo[half-1])
			}
			packed = r
		}
		for i := range acc {
			acc[i] = laneBias2
		}
		ws := vw.w[y*n : y*n+n]
		k := 0
		for ; k+4 <= n; k += 4 {
			w0, w1, w2, w3 := uint64(int64(ws[k])), uint64(int64(ws[k+1])), uint64(int64(ws[k+2])), uint64(int64(ws[k+3]))
			r0 := ring[((s+k)%n)*half:][:len(acc)]
			r1 := ring[((s+k+1)%n)*half:][:len(acc)]
			r2 := ring[((s+k+2)%n)*half:][:len(acc)]
			r3 := ring[((s+k+3)%n)*half:][:len(acc)]
			for i := range acc {
				acc[i] += r0[i]*w0 + r1[i]*w1 + r2[i]*w2 + r3[i]*w3
			}
		}
		for ; k < n; k++ {
			wt := uint64(int64(ws[k]))
			r := ring[((s+k)%n)*half:][:len(acc)]
			for i := range acc {
				acc[i] += r[i] * wt
			}
		}
		out := tmp[y*cols:][:cols]
		lo, hi := out[:half], out[half:]
		for i := range hi {
			lo[i] = clamp8(lane0(acc[i]))
			hi[i] = clamp8(lane1(acc[i]))
		}
		if len(hi) < half {
			lo[half-1] = clamp8(lane0(acc[half-1]))
		}
	}
	return nil
}

// horizontalSWAR filters src (h rows of cols samples from source column x0)
// into dst (h rows of len(hw.start) samples, dstStride apart), two rows at a
// time sharing each weight.
func horizontalSWAR(src []byte, cols, x0 int, hw axisWeights, dst []byte, dstStride, h int) {
	n := hw.n
	w := len(hw.start)
	pair := make([]uint64, cols)
	for y := 0; y < h; y += 2 {
		r0 := src[y*cols:][:cols]
		if y+1 < h {
			r1 := src[(y+1)*cols:][:cols]
			for j := range pair {
				pair[j] = uint64(r0[j]) | uint64(r1[j])<<32
			}
		} else {
			for j := range pair {
				pair[j] = uint64(r0[j])
			}
		}
		o0 := dst[y*dstStride:][:w]
		var o1 []byte
		if y+1 < h {
			o1 = dst[(y+1)*dstStride:][:w]
		}
		for x, s := range hw.start {
			ws := hw.w[x*n : x*n+n]
			p := pair[s-x0:][:len(ws)]
			acc := laneBias2
			k := 0
			for ; k+4 <= len(ws); k += 4 {
				acc += p[k]*uint64(int64(ws[k])) + p[k+1]*uint64(int64(ws[k+1])) +
					p[k+2]*uint64(int64(ws[k+2])) + p[k+3]*uint64(int64(ws[k+3]))
			}
			for ; k < len(ws); k++ {
				acc += p[k] * uint64(int64(ws[k]))
			}
			o0[x] = clamp8(lane0(acc))
			if o1 != nil {
				o1[x] = clamp8(lane1(acc))
			}
		}
	}
}
