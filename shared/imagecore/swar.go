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

// laneStart is where the accumulators start: the bias, plus the rounding half
// of the final shift and clampOffset in both lanes, so that clampPair needs
// no add.
const laneStart = laneBias2 + (clampOffset<<wBits+wHalf)*(1+1<<32)

// clampPair is clamp8 of both lanes of an accumulator that started at
// laneStart, by table: a lane's bits from wBits up are the rounded sample
// plus clampOffset (the bias is a multiple of 2^wBits times the table size),
// and the table maps that to the sample clamped to 0-255. Exact for sums
// within ±clampOffset*wOne, eight times the most any filter of weightsFor can
// reach (255 times the sum of its weights' magnitudes, under 2*wOne).
func clampPair(v uint64) (lo, hi uint8) {
	const mask = 2*clampOffset - 1
	return clampTab[uint32(v)>>wBits&mask], clampTab[v>>(32+wBits)&mask]
}

const clampOffset = 2048

var clampTab = func() (t [2 * clampOffset]uint8) {
	for i := range t {
		t[i] = uint8(min(max(i-clampOffset, 0), 255))
	}
	return t
}()

// verticalSWAR filters columns [x0, x0+cols) of src into len(vw.start) rows
// of tmp (cols bytes each). Column i and column i+half share a lane pair.
// Source rows are packed into a ring of vw.n rows as the filter reaches them
// (start rows only grow), so the packing costs one pass over the rows read.
//
// Each output row is made in ceil((n-1)/4) passes over its lane pairs (n > 4),
// four taps a pass: the first pass (five taps when that leaves whole fours)
// starts the accumulators at the bias, the last (one to four taps) adds its
// taps and writes the output bytes straight from registers, so no pass only
// clears or only extracts.
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
			dst = dst[:len(hi)]
			for i, v := range hi {
				dst[i] = uint64(lo[i]) | uint64(v)<<32
			}
			if len(hi) < half { // odd width: the last low lane has no partner
				ring[(r%n)*half+half-1] = uint64(lo[half-1])
			}
			packed = r
		}
		ws := vw.w[y*n : y*n+n]
		ringRow := func(k int) []uint64 { return ring[((s+k)%n)*half:][:half] }
		k := 0
		if n%4 == 1 && n > 5 { // 9, 13, 17 taps: five first, then whole fours
			vFirst5(acc, ringRow(0), ringRow(1), ringRow(2), ringRow(3), ringRow(4), ws[0], ws[1], ws[2], ws[3], ws[4])
			k = 5
			for ; n-k > 4; k += 4 {
				vAdd4(acc, ringRow(k), ringRow(k+1), ringRow(k+2), ringRow(k+3), ws[k], ws[k+1], ws[k+2], ws[k+3])
			}
		} else if n > 4 {
			vFirst4(acc, ringRow(0), ringRow(1), ringRow(2), ringRow(3), ws[0], ws[1], ws[2], ws[3])
			k = 4
			for ; n-k > 4; k += 4 {
				vAdd4(acc, ringRow(k), ringRow(k+1), ringRow(k+2), ringRow(k+3), ws[k], ws[k+1], ws[k+2], ws[k+3])
			}
		} else {
			for i := range acc {
				acc[i] = laneStart
			}
		}
		out := tmp[y*cols:][:cols]
		var r [4][]uint64
		var w [4]int32
		for j := 0; j < n-k; j++ {
			r[j], w[j] = ringRow(k+j), ws[k+j]
		}
		vLast(acc, r, w, n-k, out[:half], out[half:])
	}
	return nil
}

func vFirst4(acc, r0, r1, r2, r3 []uint64, w0, w1, w2, w3 int32) {
	a0, a1, a2, a3 := uint64(int64(w0)), uint64(int64(w1)), uint64(int64(w2)), uint64(int64(w3))
	r0, r1, r2, r3 = r0[:len(acc)], r1[:len(acc)], r2[:len(acc)], r3[:len(acc)]
	for i := range acc {
		acc[i] = laneStart + r0[i]*a0 + r1[i]*a1 + r2[i]*a2 + r3[i]*a3
	}
}

func vFirst5(acc, r0, r1, r2, r3, r4 []uint64, w0, w1, w2, w3, w4 int32) {
	a0, a1, a2, a3, a4 := u64(w0), u64(w1), u64(w2), u64(w3), u64(w4)
	r0, r1, r2, r3, r4 = r0[:len(acc)], r1[:len(acc)], r2[:len(acc)], r3[:len(acc)], r4[:len(acc)]
	for i := range acc {
		acc[i] = laneStart + r0[i]*a0 + r1[i]*a1 + r2[i]*a2 + r3[i]*a3 + r4[i]*a4
	}
}

func vAdd4(acc, r0, r1, r2, r3 []uint64, w0, w1, w2, w3 int32) {
	a0, a1, a2, a3 := uint64(int64(w0)), uint64(int64(w1)), uint64(int64(w2)), uint64(int64(w3))
	r0, r1, r2, r3 = r0[:len(acc)], r1[:len(acc)], r2[:len(acc)], r3[:len(acc)]
	for i := range acc {
		acc[i] += r0[i]*a0 + r1[i]*a1 + r2[i]*a2 + r3[i]*a3
	}
}

// vLast adds the last m (1-4) taps to acc and writes both lanes of every pair
// as output bytes: lane 0 to lo, lane 1 to hi (one shorter for odd widths).
func vLast(acc []uint64, r [4][]uint64, w [4]int32, m int, lo, hi []byte) {
	a := acc[:len(hi)]
	lo = lo[:len(a)]
	switch m {
	case 1:
		r0, a0 := r[0][:len(a)], uint64(int64(w[0]))
		for i, v := range a {
			v += r0[i] * a0
			lo[i], hi[i] = clampPair(v)
		}
	case 2:
		r0, r1 := r[0][:len(a)], r[1][:len(a)]
		a0, a1 := uint64(int64(w[0])), uint64(int64(w[1]))
		for i, v := range a {
			v += r0[i]*a0 + r1[i]*a1
			lo[i], hi[i] = clampPair(v)
		}
	case 3:
		r0, r1, r2 := r[0][:len(a)], r[1][:len(a)], r[2][:len(a)]
		a0, a1, a2 := uint64(int64(w[0])), uint64(int64(w[1])), uint64(int64(w[2]))
		for i, v := range a {
			v += r0[i]*a0 + r1[i]*a1 + r2[i]*a2
			lo[i], hi[i] = clampPair(v)
		}
	default:
		r0, r1, r2, r3 := r[0][:len(a)], r[1][:len(a)], r[2][:len(a)], r[3][:len(a)]
		a0, a1, a2, a3 := uint64(int64(w[0])), uint64(int64(w[1])), uint64(int64(w[2])), uint64(int64(w[3]))
		for i, v := range a {
			v += r0[i]*a0 + r1[i]*a1 + r2[i]*a2 + r3[i]*a3
			lo[i], hi[i] = clampPair(v)
		}
	}
	if len(a) < len(acc) { // odd width: the last pair has only its low lane
		i := len(a)
		v := acc[i]
		for j := range m {
			v += r[j][i] * uint64(int64(w[j]))
		}
		lo = lo[:i+1]
		lo[i], _ = clampPair(v)
	}
}

// horizontalSWAR filters src (h rows of cols samples from source column x0)
// into dst (h rows of len(hw.start) samples, dstStride apart), two rows at a
// time sharing each weight. The tap loop is unrolled in full for the tap
// counts the large and medium variants use (7-9), eight at a time otherwise.
func horizontalSWAR(src []byte, cols, x0 int, hw axisWeights, dst []byte, dstStride, h int) {
	n := hw.n
	w := len(hw.start)
	pair := make([]uint64, cols)
	for y := 0; y < h; y += 2 {
		r0 := src[y*cols:][:cols]
		o0 := dst[y*dstStride:][:w]
		o1 := o0 // a lone last row writes lane 1 over lane 0's value, then lane 0 wins
		if y+1 < h {
			r1 := src[(y+1)*cols:][:cols]
			for j := range pair {
				pair[j] = uint64(r0[j]) | uint64(r1[j])<<32
			}
			o1 = dst[(y+1)*dstStride:][:w]
		} else {
			for j := range pair {
				pair[j] = uint64(r0[j])
			}
		}
		switch n {
		case 7:
			hRow7(pair, x0, hw.start, hw.w, o0, o1)
		case 8:
			hRow8(pair, x0, hw.start, hw.w, o0, o1)
		case 9:
			hRow9(pair, x0, hw.start, hw.w, o0, o1)
		default:
			hRowN(pair, x0, n, hw.start, hw.w, o0, o1)
		}
	}
}

// The hRow functions make one output row pair: o1 gets lane 1 and is written
// first, so that when o1 aliases o0 (an odd last row) o0 keeps lane 0.
func hRow7(pair []uint64, x0 int, start []int, wq []int32, o0, o1 []byte) {
	o1 = o1[:len(o0)]
	start = start[:len(o0)]
	for x, s := range start {
		p := (*[7]uint64)(pair[s-x0:])
		q := (*[7]int32)(wq[x*7:])
		acc := laneStart + p[0]*u64(q[0]) + p[1]*u64(q[1]) + p[2]*u64(q[2]) + p[3]*u64(q[3]) + p[4]*u64(q[4]) + p[5]*u64(q[5]) + p[6]*u64(q[6])
		lo, hi := clampPair(acc)
		o1[x] = hi
		o0[x] = lo
	}
}

func hRow8(pair []uint64, x0 int, start []int, wq []int32, o0, o1 []byte) {
	o1 = o1[:len(o0)]
	start = start[:len(o0)]
	for x, s := range start {
		p := (*[8]uint64)(pair[s-x0:])
		q := (*[8]int32)(wq[x*8:])
		acc := laneStart + p[0]*u64(q[0]) + p[1]*u64(q[1]) + p[2]*u64(q[2]) + p[3]*u64(q[3]) + p[4]*u64(q[4]) + p[5]*u64(q[5]) + p[6]*u64(q[6]) + p[7]*u64(q[7])
		lo, hi := clampPair(acc)
		o1[x] = hi
		o0[x] = lo
	}
}

func hRow9(pair []uint64, x0 int, start []int, wq []int32, o0, o1 []byte) {
	o1 = o1[:len(o0)]
	start = start[:len(o0)]
	for x, s := range start {
		p := (*[9]uint64)(pair[s-x0:])
		q := (*[9]int32)(wq[x*9:])
		acc := laneStart + p[0]*u64(q[0]) + p[1]*u64(q[1]) + p[2]*u64(q[2]) + p[3]*u64(q[3]) + p[4]*u64(q[4]) + p[5]*u64(q[5]) + p[6]*u64(q[6]) + p[7]*u64(q[7]) + p[8]*u64(q[8])
		lo, hi := clampPair(acc)
		o1[x] = hi
		o0[x] = lo
	}
}

// u64 is a weight as the multiplier of a lane pair.
func u64(w int32) uint64 { return uint64(int64(w)) }

func hRowN(pair []uint64, x0, n int, start []int, wq []int32, o0, o1 []byte) {
	o1 = o1[:len(o0)]
	start = start[:len(o0)]
	for x, s := range start {
		p := pair[s-x0:][:n]
		q := wq[x*n:][:n]
		acc := laneStart
		k := 0
		for ; k+8 <= len(p); k += 8 {
			pk, qk := (*[8]uint64)(p[k:]), (*[8]int32)(q[k:])
			acc += pk[0]*u64(qk[0]) + pk[1]*u64(qk[1]) + pk[2]*u64(qk[2]) + pk[3]*u64(qk[3]) +
				pk[4]*u64(qk[4]) + pk[5]*u64(qk[5]) + pk[6]*u64(qk[6]) + pk[7]*u64(qk[7])
		}
		if k+4 <= len(p) {
			pk, qk := (*[4]uint64)(p[k:]), (*[4]int32)(q[k:])
			acc += pk[0]*u64(qk[0]) + pk[1]*u64(qk[1]) + pk[2]*u64(qk[2]) + pk[3]*u64(qk[3])
			k += 4
		}
		for ; k < len(p); k++ {
			acc += p[k] * u64(q[k])
		}
		lo, hi := clampPair(acc)
		o1[x] = hi
		o0[x] = lo
	}
}
