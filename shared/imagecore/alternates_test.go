package imagecore

import (
	"testing"
)

// TestAVIFAlternatesMatchTheJPEG checks the claim behind the default AVIF
// setting (docs/performance.md, "Formats"): against the plain Lanczos
// reference of the same region, the AVIF alternate of every default variant
// that has one scores an SSIM at least the JPEG primary's (within 0.003),
// in fewer bytes. The corpus run behind the docs used the same code.
func TestAVIFAlternatesMatchTheJPEG(t *testing.T) {
	var served, ref []Variant
	for _, v := range DefaultVariants()[:3] { // the measured set: AVIF on thumb, small, medium
		v.Formats = []Format{FormatAVIF}
		served = append(served, v)
		v.Format, v.Formats = FormatPNG, nil
		ref = append(ref, v)
	}
	es, er := newEngine(t, served...), newEngine(t, ref...)
	for name, data := range qualityPhotos(t) {
		t.Run(name, func(t *testing.T) {
			refs, err := er.ProcessReference(data)
			if err != nil {
				t.Fatal(err)
			}
			res := process(t, es, data)
			for i, o := range res.Outputs {
				r := decodeOutput(t, refs.Outputs[i])
				sj := SSIM(r, decodeOutput(t, o))
				for _, a := range o.Alternates {
					m := decodeOutput(t, Output{Name: o.Name, Format: a.Format, Data: a.Data, Width: o.Width, Height: o.Height})
					sa := SSIM(r, m)
					t.Logf("%-6s %4dx%-4d jpeg %6d bytes SSIM %.4f, %s %6d bytes (%.2f) SSIM %.4f", o.Name, o.Width, o.Height,
						len(o.Data), sj, a.Format, len(a.Data), float64(len(a.Data))/float64(len(o.Data)), sa)
					if a.Format != FormatAVIF {
						continue
					}
					if sa < sj-0.003 {
						t.Errorf("%s: AVIF SSIM %.4f, JPEG %.4f", o.Name, sa, sj)
					}
					if len(a.Data) >= len(o.Data) {
						t.Errorf("%s: AVIF %d bytes, JPEG %d", o.Name, len(a.Data), len(o.Data))
					}
				}
			}
		})
	}
}
