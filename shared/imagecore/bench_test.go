package imagecore

import (
	"context"
	"sort"
	"testing"
)

// The engine against the reference pipeline on the same photos. `make bench`
// adds the 12-20 MP corpus through IMAGEPIPE_PHOTOS and runs these at
// GOMAXPROCS 1 and 2.
func BenchmarkProcess(b *testing.B) {
	benchPhotos(b, func(e *Engine, data []byte) (*Result, error) { return e.Process(context.Background(), data) })
}

// BenchmarkProcessStdJPEG is the engine with image/jpeg decoding every JPEG
// at full size, as before the scaled decoder.
func BenchmarkProcessStdJPEG(b *testing.B) {
	benchPhotos(b, func(e *Engine, data []byte) (*Result, error) {
		std := *e
		std.stdJPEG = true
		return std.Process(context.Background(), data)
	})
}

func BenchmarkReference(b *testing.B) {
	benchPhotos(b, func(e *Engine, data []byte) (*Result, error) { return e.ProcessReference(data) })
}

func benchPhotos(b *testing.B, run func(*Engine, []byte) (*Result, error)) {
	eachBenchPhoto(b, func(b *testing.B, e *Engine, info SourceInfo, data []byte) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		loopCPU(b, func() {
			if _, err := run(e, data); err != nil {
				b.Fatal(err)
			}
		})
		b.ReportMetric(float64(info.Width*info.Height)/1e6*float64(b.N)/b.Elapsed().Seconds(), "MP/s")
	})
}

// eachBenchPhoto runs one sub-benchmark per photo (benchPhotoData) with an
// engine for the default primaries and the photo's header.
func eachBenchPhoto(b *testing.B, run func(b *testing.B, e *Engine, info SourceInfo, data []byte)) {
	names, photos := benchPhotoData()
	e, err := NewEngine(DefaultLimits(), primariesOnly(DefaultVariants()))
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range names {
		data := photos[name]
		b.Run(name, func(b *testing.B) {
			info, err := e.CheckHeader(data)
			if err != nil {
				b.Fatal(err)
			}
			run(b, e, info, data)
		})
	}
}

// primariesOnly drops the alternates: the engine benchmarks measure what the
// sharp comparison does (sharp makes JPEGs only); the alternates have their own.
func primariesOnly(vs []Variant) []Variant {
	out := make([]Variant, len(vs))
	for i, v := range vs {
		v.Formats = nil
		out[i] = v
	}
	return out
}

// benchPhotoData are the benchmarks' photos (qualityPhotos), in name order.
func benchPhotoData() (names []string, photos map[string][]byte) {
	photos = qualityPhotos(&testing.T{})
	for n := range photos {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, photos
}

// BenchmarkJPEGDecode is the scaled decoder alone, at the scale the default
// variants choose (jpegScales): the part of BenchmarkProcess that sharp's
// libjpeg-turbo does with SIMD.
func BenchmarkJPEGDecode(b *testing.B) {
	benchScaledJPEG(b, func(b *testing.B, _ *Engine, _ SourceInfo, data []byte, n []int) {
		b.ReportAllocs()
		loopCPU(b, func() {
			d, err := newJPEGDecoder(data)
			if err == nil {
				_, err = d.decode(context.Background(), n)
			}
			if err != nil {
				b.Fatal(err)
			}
		})
	})
}

// BenchmarkAlternates is each default variant's encodes alone, in every
// format (the JPEG primary, WebP, AVIF), on the pixels the engine encodes for
// it: cpu-ms/op per variant and format, the rows imagepipe bench -formats
// prints per photo. The WASM encoders are compiled before any timing.
func BenchmarkAlternates(b *testing.B) {
	variants := DefaultVariants()
	for i := range variants {
		variants[i].Formats = []Format{FormatWebP, FormatAVIF}
	}
	e, err := NewEngine(DefaultLimits(), variants)
	if err != nil {
		b.Fatal(err)
	}
	names, photos := benchPhotoData()
	for _, name := range names {
		data := photos[name]
		e.Prepare(data)
		images, _, err := e.VariantImages(context.Background(), data)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			for _, vi := range images {
				for _, f := range append([]Format{vi.PrimaryFormat()}, vi.Variant.Formats...) {
					b.Run(vi.Variant.Name+"-"+string(f), func(b *testing.B) {
						var n int
						loopCPU(b, func() {
							out, err := vi.Encode(f)
							if err != nil {
								b.Fatal(err)
							}
							n = len(out)
						})
						b.ReportMetric(float64(n), "out-bytes")
					})
				}
			}
		})
	}
}
