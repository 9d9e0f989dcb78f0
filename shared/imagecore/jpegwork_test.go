package imagecore

import (
	"context"
	"errors"
	"image"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// The scan bombs of testdata/hostile (made by shared/hostile, which checks
// the engine's verdict on each): the walk's numbers, and the work the scaled
// decoder does on them when the walk is not there to refuse them first.
var scanBombs = []struct {
	file         string
	scans        int
	passes       int64 // visits / blocks for a decoder that walks every block
	refused      string
	refinements  bool
	decodeFailed bool // the decoder itself refuses (damage after the scans)
}{
	{file: "bomb-jpeg-scans-7000x7000.jpg", scans: 1100, passes: 1100, refused: "the JPEG has 1,100 scans; at most 500 are accepted"},
	{file: "bomb-jpeg-refine-7000x7000.jpg", scans: 401, passes: 401, refused: "401 scans would pass over each 8x8 block 401 times; at most 16", refinements: true},
	{file: "bomb-jpeg-cmyk-scans-7000x7000.jpg", scans: 480, passes: 120, refused: "480 scans would pass over each 8x8 block 120 times"},
	{file: "bomb-jpeg-scans-stray-marker-7000x7000.jpg", scans: 1100, passes: 1100, refused: "1,100 scans", decodeFailed: true},
	{file: "jpeg-eob-scans-16-512x512.jpg", scans: 16, passes: 16},
	{file: "jpeg-eob-scans-stray-marker-512x512.jpg", scans: 12, passes: 12, decodeFailed: true},
}

func readHostile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "hostile", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestJPEGWalkCountsScans(t *testing.T) {
	for _, tc := range scanBombs {
		t.Run(tc.file, func(t *testing.T) {
			data := readHostile(t, tc.file)
			s := walkJPEG(data)
			if s.scans != tc.scans || s.visits != tc.passes*s.blocks {
				t.Errorf("walk: %d scans, %d visits of %d blocks; want %d scans, %d passes", s.scans, s.visits, s.blocks, tc.scans, tc.passes)
			}
			err := checkJPEGScans(data)
			if tc.refused == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantCode(t, err, CodeTooComplex)
			if !strings.Contains(err.Error(), tc.refused) {
				t.Errorf("message %q does not say %q", err, tc.refused)
			}
		})
	}
}

// Every real JPEG the tests have passes the walk, which counts the scans it
// really has: one for baseline, libjpeg's progression (10 scans for colour,
// 6 for gray) or a script of about as many.
func TestJPEGWalkAcceptsRealFiles(t *testing.T) {
	for name, data := range decoderCases(t) {
		s := walkJPEG(data)
		if err := checkJPEGScans(data); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		d, err := newJPEGDecoder(data)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := 1, len(d.comps) // baseline: interleaved, or one scan per component
		if d.progressive {
			lo, hi = 2, 12
		}
		if s.scans < lo || s.scans > hi || s.visits < s.blocks || s.visits > 6*s.blocks {
			t.Errorf("%s: %d scans, %.1f passes; want %d-%d scans, 1-6 passes", name, s.scans, float64(s.visits)/float64(s.blocks), lo, hi)
		}
	}
}

// TestJPEGDecoderWorkOnScanBombs decodes each scan bomb with the scaled
// decoder directly, as if the walk had let it through, and counts the
// decoder's steps: end-of-band runs of AC first scans cost one step each, so
// the work is within the input's bits, where visiting every block of every
// scan would be scans x blocks; a refinement run costs a step per 64 blocks
// and per row it spans (its non-zero blocks would cost one more each).
func TestJPEGDecoderWorkOnScanBombs(t *testing.T) {
	for _, tc := range scanBombs {
		t.Run(tc.file, func(t *testing.T) {
			data := readHostile(t, tc.file)
			d, err := newJPEGDecoder(data)
			if errors.Is(err, errJPEGUnsupported) && strings.Contains(tc.file, "cmyk") {
				return // image/jpeg decodes CMYK, and only what the walk lets through
			}
			if err != nil {
				t.Fatal(err)
			}
			d.budget = 1 << 62                  // the budget is tested on its own
			scales := make([]int, len(d.comps)) // one eighth: the bomb is in the scans, not the pixels
			for i := range scales {
				scales[i] = 1
			}
			_, err = d.decode(context.Background(), scales)
			if (err != nil) != tc.decodeFailed {
				t.Fatalf("decode: %v", err)
			}
			blocks := int64(d.comps[0].bw * d.comps[0].bh)
			rows := int64(d.comps[0].bh)
			naive := int64(tc.scans) * blocks
			bound := 8 * int64(len(data))
			if tc.refinements {
				bound += int64(tc.scans) * (blocks/64 + 2*rows)
			}
			t.Logf("%d steps for %d bytes and %d blocks; visiting every block of every scan: %d", d.work, len(data), blocks, naive)
			if d.work > bound {
				t.Errorf("%d steps, over %d", d.work, bound)
			}
		})
	}
}

// A decode that passes its work budget is refused as too complex.
func TestJPEGDecoderWorkBudget(t *testing.T) {
	data := readHostile(t, "jpeg-eob-scans-16-512x512.jpg")
	d, err := newJPEGDecoder(data)
	if err != nil {
		t.Fatal(err)
	}
	d.budget = 10 // runs of up to 32703 blocks: 4 steps a scan
	_, err = d.decode(context.Background(), []int{1})
	if !errors.Is(err, errJPEGTooComplex) {
		t.Fatalf("decode: %v, want errJPEGTooComplex", err)
	}
	wantCode(t, jpegRefusal(err), CodeTooComplex)
}

// Damage found once the scans are being decoded is final: renderJPEG does
// not hand the file to image/jpeg (ok is true), so it is decoded once.
func TestJPEGLateErrorIsFinal(t *testing.T) {
	cases := map[string][]byte{"stray marker after the scans": readHostile(t, "jpeg-eob-scans-stray-marker-512x512.jpg")}
	for _, name := range []string{"progressive-420.jpg", "baseline-420.jpg", "progressive-gray.jpg"} {
		data := readTestdata(t, "jpeg", name)
		cases[name+" cut"] = data[:len(data)*3/4]
		bad := append([]byte(nil), data...)
		for i := len(bad) / 2; i < len(bad)/2+64; i++ {
			bad[i] = 0xFE // a run of 1 bits no Huffman table codes
		}
		cases[name+" damaged"] = bad
	}
	variants := []Variant{{Name: "s", Width: 48}}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEngine(t, variants...)
			info, cfg, _, err := e.header(data)
			if err != nil {
				t.Fatal(err)
			}
			_, ok, err := renderJPEG(context.Background(), encodeHooks{}, info, data, cfg.Width, cfg.Height, variants, colourSource{}, new([]string))
			if !ok {
				t.Fatal("renderJPEG handed a late error to image/jpeg")
			}
			wantCode(t, err, CodeCorrupt)
			_, err = e.Process(context.Background(), data)
			wantCode(t, err, CodeCorrupt)
		})
	}
}

// countdown is a context that reports DeadlineExceeded from its n-th look on,
// so a test can stop the engine deterministically anywhere in its work.
type countdown struct {
	context.Context
	n, looks atomic.Int64
}

func newCountdown(n int64) *countdown {
	c := &countdown{Context: context.Background()}
	c.n.Store(n)
	return c
}

func (c *countdown) Err() error {
	c.looks.Add(1)
	if c.n.Add(-1) < 0 {
		return context.DeadlineExceeded
	}
	return nil
}

// Process looks at its context often on every path, and once the context is
// done it stops with an error that wraps the context's: not a refusal of the
// file, which the caller must classify (a per-image deadline is too_complex).
func TestProcessStopsWhenContextDone(t *testing.T) {
	photo := readTestdata(t, "images", "wine.jpg") // 1067x1600
	cases := []struct {
		name     string
		data     []byte
		std      bool
		variants []Variant
	}{
		{"scaled jpeg", photo, false, DefaultVariants()},
		{"image/jpeg", photo, true, DefaultVariants()},
		{"progressive scaled", readHostile(t, "jpeg-eob-scans-16-512x512.jpg"), false, []Variant{{Name: "a", Width: 200}, {Name: "b", Width: 100, Height: 100, Fit: FitCover}}},
		{"png", encodePNG(t, noisy(900, 700)), false, DefaultVariants()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, tc.variants...)
			e.stdJPEG = tc.std
			full := newCountdown(1 << 40)
			if _, err := e.Process(full, tc.data); err != nil {
				t.Fatal(err)
			}
			looks := full.looks.Load()
			if looks < 20 {
				t.Errorf("the engine looked at its context %d times in a whole run", looks)
			}
			for _, n := range []int64{0, looks / 3, looks - 1} {
				ctx := newCountdown(n)
				res, err := e.Process(ctx, tc.data)
				if !errors.Is(err, context.DeadlineExceeded) || res != nil {
					t.Fatalf("stopped at look %d of %d: %v, %v; want an error wrapping DeadlineExceeded", n, looks, res, err)
				}
				var refusal *Error
				if errors.As(err, &refusal) {
					t.Errorf("stopped at look %d: a refusal (%v), want the context's error", n, err)
				}
				// It stops at once: at most a look per variant still running.
				if extra := ctx.looks.Load() - n - 1; extra > int64(len(tc.variants))+2 {
					t.Errorf("stopped at look %d: %d more looks after the context was done", n, extra)
				}
			}
		})
	}
}

// noisy is an opaque NRGBA of deterministic pixels (the PNG path's pyramid).
func noisy(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range m.Pix {
		m.Pix[i] = uint8(i * 7 % 251)
		if i%4 == 3 {
			m.Pix[i] = 0xFF
		}
	}
	return m
}
