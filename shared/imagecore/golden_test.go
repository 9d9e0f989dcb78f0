package imagecore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// engineGoldenFile holds the SHA-256 of every output the engine makes for a
// fixed set of inputs and variants, with the EngineVersion that made them.
const engineGoldenFile = "../../testdata/engine-golden.json"

type engineGolden struct {
	EngineVersion string            `json:"engineVersion"`
	Digests       map[string]string `json:"digests"`
}

// goldenInputs reach each path of the engine: the scaled decoder (baseline
// at several scales, progressive, gray, 4:2:2, 4:4:4), colour conversion,
// the cascade, image/jpeg at full size, and the SWAR resampler at many
// ratios.
var goldenInputs = [][]string{
	{"images", "friends.jpg"},
	{"images", "wine.jpg"},
	{"colour", "seeding-adobergb.jpg"},
	{"colour", "seeding-gray.jpg"},
	{"jpeg", "baseline-422-restart.jpg"},
	{"jpeg", "progressive-444-restart.jpg"},
	{"jpeg", "progressive-420-odd.jpg"},
}

func goldenVariants() []Variant {
	return append(primariesOnly(DefaultVariants()),
		Variant{Name: "w700", Width: 700},
		Variant{Name: "w333", Width: 333, Height: 250, Fit: FitCover},
		Variant{Name: "h90", Height: 90},
		Variant{Name: "q95", Width: 500, Quality: 95},
	)
}

// The engine's bytes for the same input and settings are fixed: a change of
// them must come with a new EngineVersion (manifests and cached URLs name
// it), and amd64 and arm64 (Lambda's Graviton; make test-arm64 runs this
// under qemu) must agree. After a deliberate change of output, bump
// EngineVersion and regenerate: UPDATE_GOLDEN=1 go test -run TestEngineGolden.
func TestEngineGolden(t *testing.T) {
	e, err := NewEngine(DefaultLimits(), goldenVariants())
	if err != nil {
		t.Fatal(err)
	}
	got := engineGolden{EngineVersion: EngineVersion, Digests: map[string]string{}}
	for _, in := range goldenInputs {
		res, err := e.Process(context.Background(), readTestdata(t, in...))
		if err != nil {
			t.Fatalf("%s: %v", filepath.Join(in...), err)
		}
		for _, o := range res.Outputs {
			sum := sha256.Sum256(o.Data)
			got.Digests[filepath.Join(in...)+"/"+o.Name] = hex.EncodeToString(sum[:])
		}
	}
	if os.Getenv("UPDATE_GOLDEN") != "" {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(engineGoldenFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(engineGoldenFile)
	if err != nil {
		t.Fatalf("%v (generate it with UPDATE_GOLDEN=1)", err)
	}
	var want engineGolden
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatalf("%s: %v", engineGoldenFile, err)
	}
	keys := make([]string, 0, len(got.Digests))
	for k := range got.Digests {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	changed := 0
	for _, k := range keys {
		if want.Digests[k] != got.Digests[k] {
			changed++
			t.Errorf("%s: output digest %.12s, golden %.12s", k, got.Digests[k], want.Digests[k])
		}
	}
	if len(want.Digests) != len(got.Digests) {
		t.Errorf("%d outputs, golden has %d", len(got.Digests), len(want.Digests))
	}
	switch {
	case changed > 0 && want.EngineVersion == EngineVersion:
		t.Errorf("%d outputs changed but EngineVersion is still %q: bump it, then regenerate with UPDATE_GOLDEN=1", changed, EngineVersion)
	case changed == 0 && want.EngineVersion != EngineVersion:
		t.Errorf("golden made by EngineVersion %q, engine is %q: regenerate with UPDATE_GOLDEN=1", want.EngineVersion, EngineVersion)
	case changed > 0:
		t.Errorf("outputs changed with EngineVersion %q (golden %q): if deliberate, regenerate with UPDATE_GOLDEN=1", EngineVersion, want.EngineVersion)
	}
}
