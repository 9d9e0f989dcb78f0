package settings_test

import (
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// The hash must change with everything that shapes the outputs, and only with that.
func TestOutputHash(t *testing.T) {
	base := settings.Default()
	want := base.OutputHash()
	if want != settings.Default().OutputHash() {
		t.Fatal("hash of the same settings differs between calls")
	}
	same := []struct {
		name   string
		mutate func(*settings.Settings)
	}{
		{"default fit spelt out", func(s *settings.Settings) { s.Variants[1].Fit = imagecore.FitInside }},
		{"default quality spelt out", func(s *settings.Settings) { s.Variants[0].Quality = imagecore.DefaultQuality }},
		{"function memory", func(s *settings.Settings) { s.Resize.MemoryMB = 3008 }},
		{"queue retention", func(s *settings.Settings) { s.Queue.Retention = time.Hour }},
	}
	for _, tc := range same {
		s := settings.Default()
		s.Variants = append([]imagecore.Variant(nil), s.Variants...)
		tc.mutate(&s)
		if got := s.OutputHash(); got != want {
			t.Errorf("%s changed the hash (%s -> %s), but not the outputs", tc.name, want, got)
		}
	}
	differ := []struct {
		name   string
		mutate func(*settings.Settings)
	}{
		{"max bytes", func(s *settings.Settings) { s.Limits.MaxBytes-- }},
		{"max pixels", func(s *settings.Settings) { s.Limits.MaxPixels++ }},
		{"max side", func(s *settings.Settings) { s.Limits.MaxSide = 8000 }},
		{"a variant's width", func(s *settings.Settings) { s.Variants[1].Width = 481 }},
		{"a variant's fit", func(s *settings.Settings) { s.Variants[0].Fit = imagecore.FitInside }},
		{"a variant's format", func(s *settings.Settings) { s.Variants[2].Format = imagecore.FormatPNG }},
		{"a variant's quality", func(s *settings.Settings) { s.Variants[3].Quality = 90 }},
		{"a variant's extra formats", func(s *settings.Settings) { s.Variants[3].Formats = []imagecore.Format{"webp"} }},
		{"a variant renamed", func(s *settings.Settings) { s.Variants[3].Name = "xl" }},
		{"a variant dropped", func(s *settings.Settings) { s.Variants = s.Variants[:3] }},
		{"the per-image timeout", func(s *settings.Settings) { s.Resize.ImageTimeout = 5 * time.Second }},
	}
	seen := map[string]string{want: "defaults"}
	for _, tc := range differ {
		s := settings.Default()
		s.Variants = append([]imagecore.Variant(nil), s.Variants...)
		tc.mutate(&s)
		got := s.OutputHash()
		if prev, dup := seen[got]; dup {
			t.Errorf("%s gives the same hash as %s", tc.name, prev)
		}
		seen[got] = tc.name
	}
	// Extra formats are a set: order and repeats do not matter.
	a, b := settings.Default(), settings.Default()
	a.Variants = append([]imagecore.Variant(nil), a.Variants...)
	b.Variants = append([]imagecore.Variant(nil), b.Variants...)
	a.Variants[0].Formats = []imagecore.Format{"webp", "avif"}
	b.Variants[0].Formats = []imagecore.Format{"avif", "webp", "avif"}
	if a.OutputHash() != b.OutputHash() {
		t.Error("the order of extra formats changed the hash")
	}
}
