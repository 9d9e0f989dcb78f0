package imagecore

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// FuzzICC feeds arbitrary bytes to the profile checker and, when they pass,
// to the ICC library and the table baker. Nothing may panic or allocate
// beyond a bound set by the profile's size; a refusal is errICCMalformed.
func FuzzICC(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "colour", "*.icc"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for name, b := range testProfiles() {
		if name != "swop-tr003.icc" { // committed already; keep the corpus small
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		tr, err := buildICCTransform(b)
		runtime.ReadMemStats(&after)
		if err != nil && !errors.Is(err, errICCMalformed) {
			t.Fatalf("error %v is not errICCMalformed", err)
		}
		if err == nil && tr != nil && len(tr.lut) == 0 {
			t.Fatal("a transform without a table")
		}
		// The tables (at most 17^4*3 uint16) plus the library's float copy of
		// the profile's samples, about 8 bytes per byte.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20+uint64(64*len(b)) {
			t.Fatalf("allocated %d bytes for a %d-byte profile", alloc, len(b))
		}
	})
}

// Hostile profile structures are refused by checkICC with errICCMalformed.
func TestCheckICCRefuses(t *testing.T) {
	good := testProfiles()["prophoto-v2.icc"]
	if _, err := checkICC(good); err != nil {
		t.Fatalf("a valid profile is refused: %v", err)
	}
	put32 := func(p []byte, off int, v uint32) []byte {
		p = append([]byte(nil), p...)
		p[off], p[off+1], p[off+2], p[off+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
		return p
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"short", good[:100]},
		{"size over the data", put32(good, 0, uint32(len(good)+1))},
		{"no acsp", put32(good, 36, 0)},
		{"unknown colour space", put32(good, 16, 0x4C756976)},
		{"too many tags", put32(good, 128, 1<<30)},
		{"tag table past the end", put32(good, 128, 40)},
		{"tag past the end", put32(good, 132+8, 1<<31)},
		{"tag inside the table", put32(good, 132+4, 0)},
		{"truncated profile", good[:len(good)-4]},
		{"oversized", make([]byte, maxICCBytes+1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkICC(tc.b)
			if !errors.Is(err, errICCMalformed) {
				t.Fatalf("checkICC = %v, want errICCMalformed", err)
			}
			if _, err := buildICCTransform(tc.b); !errors.Is(err, errICCMalformed) {
				t.Fatalf("buildICCTransform = %v, want errICCMalformed", err)
			}
		})
	}
}

// lutAtoB and lutBtoA tags: a CLUT maps the tag's inputs to its outputs in
// both directions (a CMYK profile's B2A has 3 inputs and 4 outputs).
func TestCheckICCModular(t *testing.T) {
	curve := []byte("curv\x00\x00\x00\x00\x00\x00\x00\x00") // identity, 12 bytes
	mk := func(sig string, in, out, grid int) []byte {
		tag := append([]byte(sig+"\x00\x00\x00\x00"), byte(in), byte(out), 0, 0)
		offs := make([]byte, 20) // B, matrix, M, CLUT, A
		tag = append(tag, offs...)
		put := func(field int, off int) {
			p := 12 + 4*field
			tag[p], tag[p+1], tag[p+2], tag[p+3] = byte(off>>24), byte(off>>16), byte(off>>8), byte(off)
		}
		bCount, aCount := out, in
		if sig == "mBA " {
			bCount, aCount = in, out
		}
		put(0, len(tag))
		for range bCount {
			tag = append(tag, curve...)
		}
		put(1, len(tag)) // the matrix: 12 numbers, not curves
		tag = append(tag, make([]byte, 48)...)
		put(2, len(tag))
		for range bCount {
			tag = append(tag, curve...)
		}
		put(3, len(tag))
		clut := make([]byte, 20)
		for i := range in {
			clut[i] = byte(grid)
		}
		clut[16] = 2
		n := 1
		for range in {
			n *= grid
		}
		tag = append(append(tag, clut...), make([]byte, 2*n*out)...)
		put(4, len(tag))
		for range aCount {
			tag = append(tag, curve...)
		}
		return tag
	}
	for _, tc := range []struct {
		name    string
		tag     []byte
		refused bool
	}{
		{"A2B CMYK", mk("mAB ", 4, 3, 5), false},
		{"B2A CMYK", mk("mBA ", 3, 4, 5), false},
		{"B2A RGB", mk("mBA ", 3, 3, 9), false},
		{"A2B short CLUT", mk("mAB ", 4, 3, 5)[:200], true},
	} {
		if err := checkICCTag(tc.tag); (err != nil) != tc.refused {
			t.Errorf("%s: %v, refused want %v", tc.name, err, tc.refused)
		}
	}
}
