package settings

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"

	"github.com/imagepipe/imagepipe/shared/imagecore"
)

// OutputHash is a stable digest of the settings that decide what the resize
// function makes of an upload: the limits (what is refused), the variants with
// their sizes, fits, formats and qualities (what is written), and the per-image
// time budget (what is refused as too_complex). A manifest records it, and a re-run
// skips an image only when the hash it would write is the one recorded, so a
// deployment with new variants or limits redoes the work instead of keeping
// outputs made under the old ones.
//
// Defaults are spelled out before hashing (fit "" is inside, quality 0 is
// DefaultQuality, extra formats are a set), so two spellings of the same
// configuration agree.
func OutputHash(limits imagecore.Limits, variants []imagecore.Variant, imageTimeout time.Duration) string {
	type variant struct {
		Name    string   `json:"name"`
		Width   int      `json:"width"`
		Height  int      `json:"height"`
		Fit     string   `json:"fit"`
		Format  string   `json:"format"`
		Quality int      `json:"quality"`
		Formats []string `json:"formats"`
	}
	doc := struct {
		Limits       imagecore.Limits `json:"limits"`
		Variants     []variant        `json:"variants"`
		ImageTimeout int64            `json:"imageTimeoutMs"`
	}{Limits: limits, Variants: []variant{}, ImageTimeout: imageTimeout.Milliseconds()}
	for _, v := range variants {
		cv := variant{Name: v.Name, Width: v.Width, Height: v.Height, Fit: string(v.Fit), Format: string(v.Format), Quality: v.Quality, Formats: []string{}}
		if cv.Fit == "" {
			cv.Fit = string(imagecore.FitInside)
		}
		if cv.Quality == 0 {
			cv.Quality = imagecore.DefaultQuality
		}
		for _, f := range v.Formats {
			if !slices.Contains(cv.Formats, string(f)) {
				cv.Formats = append(cv.Formats, string(f))
			}
		}
		slices.Sort(cv.Formats)
		doc.Variants = append(doc.Variants, cv)
	}
	raw, _ := json.Marshal(doc) // plain structs: cannot fail
	sum := sha256.Sum256(raw)
	return "v1:" + hex.EncodeToString(sum[:16])
}

// OutputHash is the hash the resize function of this deployment records.
func (s Settings) OutputHash() string {
	return OutputHash(s.Limits, s.Variants, s.Resize.ImageTimeout)
}
