package imagecore

import (
	"testing"
)

// TestWarmCompilesEveryCodec: after Warm both WASM decoders are compiled (no
// image pays for it later) and images of every kind are processed with their
// alternates.
func TestWarmCompilesEveryCodec(t *testing.T) {
	e := newEngine(t, Variant{Name: "thumb", Width: 64, Height: 64, Fit: FitCover, Formats: []Format{FormatAVIF, FormatWebP}})
	if err := e.Warm(); err != nil {
		t.Fatalf("Warm: %v", err)
	}
	for name, m := range map[string]*wasmModule{"heif": &e.wasm.heif, "avif": &e.wasm.avif} {
		if m.mod == nil || m.err != nil {
			t.Errorf("%s decoder not compiled by Warm (err %v)", name, m.err)
		}
	}
	for _, tc := range []struct{ name, file string }{
		{"heic", "heic-8bit.heic"},
		{"avif", "avif-8bit.avif"},
		{"jpeg", "video-001.progressive.jpeg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := process(t, e, readTestdata(t, "formats", tc.file))
			for _, o := range res.Outputs {
				if len(o.Alternates) != 2 || len(o.Alternates[0].Data) == 0 || len(o.Alternates[1].Data) == 0 {
					t.Errorf("%s: alternates %d, want 2 non-empty", o.Name, len(o.Alternates))
				}
			}
		})
	}
}
