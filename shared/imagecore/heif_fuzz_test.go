package imagecore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseHEIF feeds arbitrary bytes to the container sniffing and the
// ISOBMFF item parser. They must never panic, never report a size or tile
// count over their bounds, and anything they accept must agree with the
// sniffed format family; their work is bounded by the box and count limits
// (no decoder runs here).
func FuzzParseHEIF(f *testing.F) {
	for _, dir := range []string{"../../testdata/formats", "../../testdata/hostile"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range entries {
			n := e.Name()
			if strings.HasSuffix(n, ".heic") || strings.HasSuffix(n, ".avif") {
				b, err := os.ReadFile(filepath.Join(dir, n))
				if err != nil {
					f.Fatal(err)
				}
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		family := ftypFormat(data[:min(len(data), sniffLen)])
		hf, err := parseHEIF(data)
		if err != nil {
			return
		}
		if len(data) < 8 || string(data[4:8]) != "ftyp" {
			t.Fatalf("accepted a file that does not start with ftyp")
		}
		if hf.codec != "hvc1" && hf.codec != "av01" {
			t.Fatalf("accepted codec %q", hf.codec)
		}
		if hf.tiles > heifMaxTiles || (hf.grid && hf.tiles == 0) {
			t.Fatalf("grid of %d tiles", hf.tiles)
		}
		if hf.orientation < 1 || hf.orientation > 8 {
			t.Fatalf("orientation %d", hf.orientation)
		}
		_ = family
		// The patched copies keep the length and change only what they say.
		for _, alpha := range []bool{false, true} {
			if c := hf.untransformed(data, alpha); len(c) != len(data) {
				t.Fatalf("patched copy is %d bytes, the file %d", len(c), len(data))
			}
		}
	})
}
