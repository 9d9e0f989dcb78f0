package imagecore

import (
	"errors"
	"sync"

	"github.com/gen2brain/avif"
	"github.com/gen2brain/webp"
)

// Prepare makes ready, once per process, the WASM codecs that processing data
// will use: the HEIF or AVIF decoder its bytes call for, and the WebP and AVIF
// encoders of the engine's alternates. Compiling one takes a second or more on
// its first use in a process. A caller that gives each image a time budget
// calls Prepare before starting the clock, so that one-off cost of the process
// is never taken for the image's own work (too_complex). It reads no more than
// the bytes Sniff looks at and does nothing once everything is compiled.
func (e *Engine) Prepare(data []byte) {
	if format, err := Sniff(data[:min(len(data), sniffLen)]); err == nil {
		switch format {
		case SourceHEIC:
			_, _, _ = e.wasm.module(&e.wasm.heif, heifWasmGz) // an error is reported by the decode itself
		case SourceAVIF:
			_, _, _ = e.wasm.module(&e.wasm.avif, avifWasmGz)
		}
	}
	e.prepareEncoders()
}

// Warm compiles every WASM codec the engine can use: the HEIF and AVIF
// decoders and its alternates' encoders, side by side. A function calls it once
// when it starts (on Lambda, in the init phase), so that no upload waits the
// seconds a first compile takes; without it the first image of a process does.
// An error is a decoder that cannot be compiled; the images that need it are
// refused by the decode, as without Warm.
func (e *Engine) Warm() error {
	var wg sync.WaitGroup
	var herr, aerr error
	wg.Go(func() { _, _, herr = e.wasm.module(&e.wasm.heif, heifWasmGz) })
	wg.Go(func() { _, _, aerr = e.wasm.module(&e.wasm.avif, avifWasmGz) })
	wg.Go(e.prepareEncoders)
	wg.Wait()
	return errors.Join(herr, aerr)
}

// prepareEncoders compiles the alternates' encoders (gen2brain's, once per
// process whatever the engine).
func (e *Engine) prepareEncoders() {
	for _, v := range e.variants {
		for _, f := range v.Formats {
			switch f {
			case FormatWebP:
				webp.Init()
			case FormatAVIF:
				avif.InitEncoder()
			}
		}
	}
}
