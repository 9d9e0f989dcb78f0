package imagecore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"runtime"

	"golang.org/x/image/webp"
)

// SourceInfo describes the decoded input. Width and Height are after the EXIF
// orientation has been applied, i.e. as a person sees the picture.
type SourceInfo struct {
	Format      string `json:"format"` // "jpeg", "png", "gif", "webp", "heic" or "avif"
	Width       int    `json:"width"`
	Height      int    `json:"height"`
	Orientation int    `json:"orientation"` // EXIF orientation 1-8 that was applied
}

// Output is one encoded variant. It carries no metadata.
type Output struct {
	Name   string
	Format Format
	Width  int
	Height int
	Data   []byte
	// Alternates are the variant's extra encodings (Variant.Formats), same pixels.
	Alternates []Alternate
}

// Alternate is one extra encoding of a variant.
type Alternate struct {
	Format Format
	Data   []byte
}

// Result is everything made from one input, Outputs in variant order.
type Result struct {
	Source  SourceInfo
	Outputs []Output
	// Notes are things a person should know that did not stop processing (an
	// embedded colour profile that could not be used, say).
	Notes []string
}

// EngineVersion names the engine's output: bump it whenever the bytes it makes for
// the same input and settings change (a decoder fix, an encoder change), so
// manifests and cached URLs made by an older engine are known to be stale.
const EngineVersion = "8"

// Engine turns image bytes into the configured variants. It is safe for
// concurrent use; it holds only immutable configuration.
type Engine struct {
	limits   Limits
	variants []Variant
	// stdJPEG turns the scaled JPEG decoder off (benchmarks compare the two).
	stdJPEG bool
	wasm    *wasmDecoders // HEIC and AVIF, compiled on first use
}

// NewEngine validates the limits and the variant set and reports every mistake
// at once, so a bad configuration fails at start-up.
func NewEngine(limits Limits, variants []Variant) (*Engine, error) {
	if err := errors.Join(limits.Validate(), ValidateVariants(variants)); err != nil {
		return nil, fmt.Errorf("image engine configuration: %w", err)
	}
	return &Engine{limits: limits, variants: append([]Variant(nil), variants...), wasm: newWASMDecoders(limits)}, nil
}

// Limits returns the limits the engine enforces.
func (e *Engine) Limits() Limits { return e.limits }

// Variants returns a copy of the engine's variant set.
func (e *Engine) Variants() []Variant { return append([]Variant(nil), e.variants...) }

// Process checks data against the limits, decodes it once, applies its EXIF
// orientation and renders every variant from that one decode. Refusals of the
// input are *Error values; any other error is a bug or an encoder failure. Work
// stops soon after ctx is done (the engine looks at it between stages, before
// each JPEG scan and every few dozen rows of its loops; a standard decoder
// runs to its end, which the limits bound), and the error then wraps ctx.Err(),
// so errors.Is(err, context.DeadlineExceeded) tells a deadline that ran out.
func (e *Engine) Process(ctx context.Context, data []byte) (*Result, error) {
	return e.processObserved(ctx, data, nil)
}

// processObserved is Process that also shows observe (when not nil) the
// pixels of each variant just before they are encoded.
func (e *Engine) processObserved(ctx context.Context, data []byte, observe func(VariantImage)) (*Result, error) {
	alts := newAltEncoder(runtime.GOMAXPROCS(0))
	res, err := e.process(ctx, data, encodeHooks{alts: alts, observe: observe})
	// Every alternate's bytes are in place once its encode has ended; none
	// outlives the call, even when it failed.
	if aerr := alts.wait(); err == nil && aerr != nil {
		if cerr := ctxErr(ctx); cerr != nil {
			return nil, cerr // not "variant x: context deadline exceeded"
		}
		return nil, aerr
	}
	return res, err
}

func (e *Engine) process(ctx context.Context, data []byte, hk encodeHooks) (*Result, error) {
	info, cfg, hf, err := e.header(data)
	if err != nil {
		return nil, err
	}
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	src, notes := embeddedColour(info.Format, data)
	if info.Format == SourceJPEG && !e.stdJPEG {
		var jn []string
		if outs, ok, err := renderJPEG(ctx, hk, info, data, cfg.Width, cfg.Height, e.variants, src, &jn); ok {
			if err != nil {
				return nil, err
			}
			return &Result{Source: info, Outputs: outs, Notes: append(notes, jn...)}, nil
		}
	}
	var m image.Image
	if hf != nil {
		var hn []string
		m, hn, err = e.wasm.decodeHEIF(ctx, info.Format, data, hf) // converts to sRGB itself
		if err != nil {
			return nil, err
		}
		notes = append(notes, hn...)
	} else {
		if m, err = decodeImage(info.Format, data); err != nil {
			return nil, err
		}
		if err := ctxErr(ctx); err != nil {
			return nil, err
		}
		// Every output is sRGB: convert before any resampling.
		var cn []string
		m, cn = toSRGB(m, src)
		notes = append(notes, cn...)
	}
	outs, err := render(ctx, hk, info, m, cfg.Width, cfg.Height, e.variants)
	if err != nil {
		return nil, err
	}
	return &Result{Source: info, Outputs: outs, Notes: notes}, nil
}

// CheckHeader applies the byte and dimension limits, and for a JPEG the limits
// on its scans (a walk of its markers), and reports the source without
// decoding pixels. Callers use it to refuse early; Process does the same.
func (e *Engine) CheckHeader(data []byte) (SourceInfo, error) {
	info, _, _, err := e.header(data)
	return info, err
}

// header checks data up to its dimensions. For HEIC and AVIF it also returns
// the parsed item structure the decoder needs (nil for other formats).
func (e *Engine) header(data []byte) (info SourceInfo, cfg image.Config, hf *heifFile, err error) {
	if len(data) == 0 {
		return info, image.Config{}, nil, &Error{Code: CodeEmpty, Message: "the file is empty"}
	}
	if int64(len(data)) > e.limits.MaxBytes {
		return info, image.Config{}, nil, &Error{Code: CodeTooLarge, Message: fmt.Sprintf("the file is %s, over the limit of %s", byteSize(int64(len(data))), byteSize(e.limits.MaxBytes))}
	}
	format, err := Sniff(data[:min(len(data), sniffLen)])
	if err != nil {
		return info, image.Config{}, nil, err
	}
	info.Format = format
	orientation := 0
	if format == SourceHEIC || format == SourceAVIF {
		// HEIF's irot and imir are the orientation; EXIF's is not applied again.
		hf, info.Format, cfg, orientation, err = heifHeader(data)
		var te *tileError
		if errors.As(err, &te) {
			return info, cfg, nil, &Error{Code: CodeTooComplex, Message: fmt.Sprintf("the %s grid's tiles would cost far more than its picture: %s", format, te.msg), Err: err}
		}
		if err != nil {
			return info, cfg, nil, &Error{Code: CodeCorrupt, Message: fmt.Sprintf("the %s structure is damaged, truncated or over a bound", format), Err: err}
		}
		format = info.Format
	} else if cfg, err = decodeConfig(format, data); err != nil {
		return info, cfg, nil, &Error{Code: CodeCorrupt, Message: fmt.Sprintf("the %s header is damaged or truncated", format), Err: err}
	}
	w, h := cfg.Width, cfg.Height
	if w <= 0 || h <= 0 {
		return info, cfg, nil, &Error{Code: CodeCorrupt, Message: fmt.Sprintf("the %s header declares an empty %dx%d image", format, w, h)}
	}
	if px := int64(w) * int64(h); px > e.limits.MaxPixels {
		return info, cfg, nil, &Error{Code: CodeTooManyPixels, Message: fmt.Sprintf("the image is %dx%d (%.1f megapixels), over the limit of %.1f megapixels", w, h, float64(px)/1e6, float64(e.limits.MaxPixels)/1e6)}
	}
	if w > e.limits.MaxSide || h > e.limits.MaxSide {
		return info, cfg, nil, &Error{Code: CodeDimensionsTooLarge, Message: fmt.Sprintf("the image is %dx%d, a side is over the limit of %d pixels", w, h, e.limits.MaxSide)}
	}
	info.Orientation = orientation
	if hf == nil {
		info.Orientation = orientationOf(format, data)
	}
	if format == SourceJPEG {
		// Its scans, walked without decoding: a file whose scans would cost
		// more than its size and pixels justify is refused here.
		if err := checkJPEGScans(data); err != nil {
			return info, cfg, nil, err
		}
	}
	info.Width, info.Height = w, h
	if info.Orientation >= 5 {
		info.Width, info.Height = h, w
	}
	return info, cfg, hf, nil
}

func decodeConfig(format string, data []byte) (image.Config, error) {
	r := bytes.NewReader(data)
	switch format {
	case SourceJPEG:
		return jpeg.DecodeConfig(r)
	case SourcePNG:
		return png.DecodeConfig(r)
	case SourceGIF:
		return gif.DecodeConfig(r)
	case SourceWebP:
		return webp.DecodeConfig(r)
	}
	return image.Config{}, fmt.Errorf("no decoder for %q", format)
}

// decodeImage decodes pixels whose header has passed the limits; a failure is the
// input's fault (damaged or truncated data) and is refused as corrupt.
func decodeImage(format string, data []byte) (image.Image, error) {
	r := bytes.NewReader(data)
	var m image.Image
	var err error
	switch format {
	case SourceJPEG:
		m, err = jpeg.Decode(r)
	case SourcePNG:
		m, err = png.Decode(r)
	case SourceGIF:
		m, err = gif.Decode(r) // the first frame only
	case SourceWebP:
		m, err = webp.Decode(bytes.NewReader(padVP8L(data)))
		if err == nil {
			webpFullRange(m)
		}
	default:
		return nil, fmt.Errorf("no decoder for %q", format)
	}
	if err != nil {
		return nil, &Error{Code: CodeCorrupt, Message: fmt.Sprintf("the %s data is damaged or truncated", format), Err: err}
	}
	return m, nil
}

// ctxErr is ctx's error, wrapped, once ctx is done.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("image engine: %w", err)
	}
	return nil
}

// ctxRows is how many rows the engine's loops do between looks at the context.
const ctxRows = 64

func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
