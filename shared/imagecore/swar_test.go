package imagecore

import (
	"context"
	"math/rand"
	"testing"
)

// The two-lane resampler must equal the one-lane loops bit for bit, for every
// size (odd widths and heights leave a lane without a partner), ratio (few
// and many taps, up- and downscaling of chroma) and offset.
func TestSWARMatchesScalar(t *testing.T) {
	seenH, seenV := map[int]bool{}, map[int]bool{}
	rng := rand.New(rand.NewSource(3))
	tests := []struct {
		sw, sh, w, h int
		ox, oy       float64
	}{
		{1, 1, 1, 1, 0, 0},
		{3, 5, 1, 2, 0, 0},
		{2112, 9, 2048, 7, 0, 0},
		{1507, 848, 480, 270, 0, 0},
		{1001, 777, 333, 211, 0.5, 1.25},
		{64, 64, 200, 200, 0, 0}, // chroma brought up to the output size
		{4000, 40, 200, 3, 10.5, 2},
		{17, 1000, 5, 31, 0, 0},
		{3014, 41, 2048, 27, 0, 0},   // 9 horizontal taps (the unrolled loop), 10 vertical
		{301, 848, 204, 576, 0, 0},   // 9 taps both ways
		{2656, 30, 2048, 23, 0, 0},   // 8 taps
		{2113, 23, 2048, 21, 0, 0},   // 7 taps, odd width and height
		{2656, 1494, 480, 270, 0, 0}, // 34 taps (eight at a time, then four, then two)
		{40, 300, 40, 55, 0, 0},      // 33 vertical taps: five first, then fours
		{9, 3, 9, 7, 0, 0},           // 3 vertical taps: only the fused last pass
		{12, 4, 12, 9, 0.25, 0.5},    // 4 vertical taps
	}
	for _, tt := range tests {
		src := plane{pix: make([]byte, tt.sw*tt.sh), w: tt.sw, h: tt.sh, stride: tt.sw}
		for i := range src.pix {
			src.pix[i] = byte(rng.Intn(256))
		}
		if tt.sw > 8 { // hard edges ring the most
			for y := 0; y < tt.sh; y++ {
				src.pix[y*tt.sw+tt.sw/2] = 255 * byte(y%2)
			}
		}
		lw, lh := float64(tt.sw)-2*tt.ox, float64(tt.sh)-2*tt.oy
		hw := weightsFor(tt.w, tt.ox, lw, tt.sw)
		vw := weightsFor(tt.h, tt.oy, lh, tt.sh)
		seenH[hw.n], seenV[vw.n] = true, true
		x0 := hw.start[0]
		cols := hw.start[tt.w-1] + hw.n - x0

		want := make([]byte, tt.h*cols)
		if err := verticalScalar(context.Background(), src, x0, vw, want, make([]int32, cols)); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, tt.h*cols)
		if err := verticalSWAR(context.Background(), src, x0, cols, vw, got); err != nil {
			t.Fatal(err)
		}
		if d := firstDiff(got, want); d >= 0 {
			t.Errorf("%+v: vertical differs at %d: %d, want %d", tt, d, got[d], want[d])
			continue
		}
		wantOut := make([]byte, tt.w*tt.h)
		horizontal(want, cols, x0, hw, wantOut, tt.w, 1, tt.h)
		gotOut := make([]byte, tt.w*tt.h)
		horizontalSWAR(got, cols, x0, hw, gotOut, tt.w, tt.h)
		if d := firstDiff(gotOut, wantOut); d >= 0 {
			t.Errorf("%+v: horizontal differs at %d: %d, want %d", tt, d, gotOut[d], wantOut[d])
		}
	}
	for _, n := range []int{7, 8, 9, 34} { // the specialised horizontal loops and a long one
		if !seenH[n] {
			t.Errorf("no case with %d horizontal taps", n)
		}
	}
	for _, n := range []int{1, 3, 4, 5, 6, 8, 9, 33} { // every length of the vertical pass's last group, a five-tap first group
		if !seenV[n] {
			t.Errorf("no case with %d vertical taps", n)
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// verticalScalar, the oracle of verticalSWAR, filters columns [x0, x0+len(acc)) of src into len(vw.start)
// rows of tmp. Taps are taken four source rows at a time: one pass over the
// accumulator per four rows instead of one per row, the part of the loop that
// costs the most in Go's scalar code.
func verticalScalar(ctx context.Context, src plane, x0 int, vw axisWeights, tmp []byte, acc []int32) error {
	n, cols, stride := vw.n, len(acc), src.stride
	for y, s := range vw.start {
		if y%ctxRows == 0 {
			if err := ctxErr(ctx); err != nil {
				return err
			}
		}
		ws := vw.w[y*n : y*n+n]
		clear(acc)
		k := 0
		for ; k+4 <= n; k += 4 {
			w0, w1, w2, w3 := ws[k], ws[k+1], ws[k+2], ws[k+3]
			off := (s+k)*stride + x0
			r0 := src.pix[off:][:len(acc)]
			r1 := src.pix[off+stride:][:len(acc)]
			r2 := src.pix[off+2*stride:][:len(acc)]
			r3 := src.pix[off+3*stride:][:len(acc)]
			for i := range acc {
				acc[i] += int32(r0[i])*w0 + int32(r1[i])*w1 + int32(r2[i])*w2 + int32(r3[i])*w3
			}
		}
		for ; k < n; k++ {
			wt := ws[k]
			if wt == 0 {
				continue
			}
			r := src.pix[(s+k)*stride+x0:][:len(acc)]
			for i := range acc {
				acc[i] += int32(r[i]) * wt
			}
		}
		out := tmp[y*cols:][:len(acc)]
		for i, a := range acc {
			out[i] = clamp8(a)
		}
	}
	return nil
}

// clamp8 is branch-free; it must round and clamp exactly as the plain
// definition does over every sum a filter can make (and well beyond).
func TestClamp8(t *testing.T) {
	ref := func(v int32) uint8 {
		v = (v + wHalf) >> wBits
		if v < 0 {
			return 0
		}
		if v > 255 {
			return 255
		}
		return uint8(v)
	}
	for v := int32(-1 << 26); v <= 1<<26; v++ {
		if got, want := clamp8(v), ref(v); got != want {
			t.Fatalf("clamp8(%d) = %d, want %d", v, got, want)
		}
	}
	for _, v := range []int32{-1 << 31, 1<<31 - 1 - wHalf, -wHalf - 1, -wHalf, 255*wOne + wHalf - 1, 255*wOne + wHalf} {
		if got, want := clamp8(v), ref(v); got != want {
			t.Fatalf("clamp8(%d) = %d, want %d", v, got, want)
		}
	}
}

// clampPair must give clamp8 of each lane for every sum a filter can make
// (and eight times beyond: any |sum| below clampOffset*wOne), whatever the
// other lane holds.
func TestClampPair(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	const lim = clampOffset*wOne - wHalf
	lane := func(v int32) uint64 { return uint64(uint32(int64(laneStart&0xFFFFFFFF) + int64(v))) }
	for s := int32(-lim); s < lim; s += 1 + int32(rng.Intn(2)) {
		o := int32(rng.Intn(2*lim)) - lim
		lo, hi := clampPair(lane(s) | lane(o)<<32)
		if lo != clamp8(s) || hi != clamp8(o) {
			t.Fatalf("clampPair(%d, %d) = %d, %d, want %d, %d", s, o, lo, hi, clamp8(s), clamp8(o))
		}
		lo, hi = clampPair(lane(o) | lane(s)<<32)
		if lo != clamp8(o) || hi != clamp8(s) {
			t.Fatalf("clampPair(%d, %d) = %d, %d, want %d, %d", o, s, lo, hi, clamp8(o), clamp8(s))
		}
	}
}

// The bound clampPair relies on: no filter weightsFor makes has weights whose
// magnitudes sum to 2*wOne or more (Lanczos-3 renormalised at an edge reaches
// about 1.6), over up- and downscaling, offsets and tiny axes.
func TestWeightMagnitudes(t *testing.T) {
	worst := 0.0
	for _, srcN := range []int{1, 2, 3, 4, 5, 7, 16, 101, 1000} {
		for _, dst := range []int{1, 2, 3, 5, 8, 33, 200, 999, 3000} {
			for _, off := range []float64{0, 0.25, 0.5, 1.75} {
				length := float64(srcN) - 2*off
				if length <= 0 {
					continue
				}
				aw := weightsFor(dst, off, length, srcN)
				for v := range aw.start {
					var sum int64
					for _, w := range aw.w[v*aw.n : v*aw.n+aw.n] {
						sum += int64(max(w, -w))
					}
					if sum >= 2*wOne {
						t.Fatalf("srcN %d dst %d off %v: output %d has weight magnitudes %d", srcN, dst, off, v, sum)
					}
					worst = max(worst, float64(sum)/wOne)
				}
			}
		}
	}
	t.Logf("largest sum of weight magnitudes: %.3f", worst)
}
