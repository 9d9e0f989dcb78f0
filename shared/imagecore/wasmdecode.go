package imagecore

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"sync"
	_ "unsafe" // go:linkname

	_ "github.com/gen2brain/avif" // the WASM below, and the AVIF encoder
	_ "github.com/gen2brain/heic" // the WASM below
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// The engine runs gen2brain's WASM builds of libheif+libde265 and
// libavif+dav1d through its own calls rather than their Decode functions,
// which (v0.4.5 and v0.4.4) return images whose pixels alias WASM memory
// already given back to malloc, so the allocator's free-list pointers
// overwrite the first pixels (visible in an alpha plane as a grey corner),
// and which run without a context or a memory bound. Here every decode runs
// in a fresh module instance with a memory limit derived from the engine's
// pixel limit, stops when ctx is done (wazero closes the module), and copies
// the pixels out before anything is freed. The exported C functions called
// are those of the libraries' lib/heif.c and lib/decode.c.

//go:linkname heifWasmGz github.com/gen2brain/heic.heifWasm
var heifWasmGz []byte

//go:linkname avifWasmGz github.com/gen2brain/avif.decodeWasm
var avifWasmGz []byte

// wasmDecoders compiles each decoder once, on first use, per engine.
type wasmDecoders struct {
	memPages uint32
	heif     wasmModule
	avif     wasmModule
}

type wasmModule struct {
	once sync.Once
	rt   wazero.Runtime
	mod  wazero.CompiledModule
	err  error
}

// wasmMemoryCap bounds one decoder instance's linear memory whatever the
// limits allow: with the Go copy of the picture beside it, it must fit in the
// function's memory (1769 MB). A 12 MP AVIF peaks near 900 MB of process RSS,
// a 12 MP HEIC near 450 MB (docs/performance.md).
const wasmMemoryCap = 1 << 30

func newWASMDecoders(l Limits) *wasmDecoders {
	// The decoders hold the input, the coded planes, the assembled picture
	// and the output buffer: about 12 bytes a pixel for 8-bit 4:2:0 HEIC and
	// 16 for AVIF's RGBA (twice that at 16 bits), plus their own working set.
	bytes := min(int64(96<<20)+40*l.MaxPixels+2*l.MaxBytes, wasmMemoryCap)
	return &wasmDecoders{memPages: uint32(bytes / 65536)}
}

func (w *wasmDecoders) module(m *wasmModule, gz []byte) (wazero.Runtime, wazero.CompiledModule, error) {
	m.once.Do(func() {
		ctx := context.Background()
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			m.err = fmt.Errorf("wasm decoder: %w", err)
			return
		}
		code, err := io.ReadAll(zr)
		if err != nil {
			m.err = fmt.Errorf("wasm decoder: %w", err)
			return
		}
		m.rt = wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
			WithCloseOnContextDone(true).WithMemoryLimitPages(w.memPages))
		if _, err := wasi_snapshot_preview1.Instantiate(ctx, m.rt); err != nil {
			m.err = fmt.Errorf("wasm decoder: %w", err)
			return
		}
		if m.mod, m.err = m.rt.CompileModule(ctx, code); m.err != nil {
			m.err = fmt.Errorf("wasm decoder: %w", m.err)
		}
	})
	return m.rt, m.mod, m.err
}

// wasmCall is one decode in a fresh instance.
type wasmCall struct {
	ctx context.Context
	mod api.Module
	err error
}

func (c *wasmCall) call(name string, args ...uint64) uint64 {
	if c.err != nil {
		return 0
	}
	res, err := c.mod.ExportedFunction(name).Call(c.ctx, args...)
	if err != nil {
		c.err = fmt.Errorf("%s: %w", name, err)
		return 0
	}
	if len(res) == 0 {
		return 0
	}
	return res[0]
}

func (c *wasmCall) alloc(n int) uint32 {
	p := uint32(c.call("malloc", uint64(n)))
	if c.err == nil && p == 0 {
		c.err = fmt.Errorf("malloc(%d): out of WASM memory", n)
	}
	return p
}

func (c *wasmCall) write(p uint32, b []byte) {
	if c.err == nil && !c.mod.Memory().Write(p, b) {
		c.err = errors.New("write past WASM memory")
	}
}

func (c *wasmCall) u32(p uint32) uint32 {
	v, ok := c.mod.Memory().ReadUint32Le(p)
	if c.err == nil && !ok {
		c.err = errors.New("read past WASM memory")
	}
	return v
}

// read copies n bytes out of WASM memory: nothing returned aliases it.
func (c *wasmCall) read(p uint32, n int) []byte {
	if c.err != nil {
		return nil
	}
	b, ok := c.mod.Memory().Read(p, uint32(n))
	if !ok {
		c.err = errors.New("read past WASM memory")
		return nil
	}
	return append([]byte(nil), b...)
}

func (w *wasmDecoders) instance(ctx context.Context, m *wasmModule, gz []byte) (*wasmCall, error) {
	rt, cm, err := w.module(m, gz)
	if err != nil {
		return nil, err
	}
	mod, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		return nil, fmt.Errorf("wasm decoder: %w", err)
	}
	return &wasmCall{ctx: ctx, mod: mod}, nil
}

// finish turns a failed call into the right error: the caller's context
// ending is not the file's fault, and a decoder that ran out of its memory
// bound was refused for the picture's size, not for damage.
func (c *wasmCall) finish(decodeErr error, limitPages uint32) error {
	full := c.mod.Memory().Size() >= uint32(uint64(limitPages)*65536*9/10)
	c.mod.Close(context.Background())
	if err := c.ctx.Err(); err != nil {
		return fmt.Errorf("image engine: %w", err)
	}
	if (c.err != nil || decodeErr != nil) && full {
		return &Error{Code: CodeTooManyPixels, Message: fmt.Sprintf("decoding this image needs more than the decoder's %d MiB of memory", uint64(limitPages)*65536>>20)}
	}
	if c.err != nil {
		return c.err
	}
	return decodeErr
}

var errDecode = errors.New("the decoder refused the data")

// libheif colour spaces and chroma formats (heif.h) as heif.c reports them.
const (
	heifColorspaceYCbCr      = 0
	heifColorspaceRGB        = 1
	heifColorspaceMonochrome = 2
	heifChroma420            = 1
	heifChroma422            = 2
	heifChroma444            = 3
)

func alignTo(n, a int) int { return (n + a - 1) &^ (a - 1) }
func align128(n int) int   { return alignTo(n, 128) }

// sentinel marks the bytes of the output buffer the decoder did not write.
var sentinel = [8]byte{0x5A, 0xC3, 0x96, 0x3C, 0xA5, 0x69, 0x0F, 0xF1}

// untouched reports whether the decoder left a sentinel-filled buffer as it
// was: both ends still hold the pattern (a real picture matching 16 bytes of
// it by chance is not a concern).
func (c *wasmCall) untouched(p uint32, n int) bool {
	head, ok1 := c.mod.Memory().Read(p, 8)
	if !ok1 || n < 16 {
		return false
	}
	return bytes.Equal(head, sentinel[:]) && c.tailIsSentinel(p, n)
}

func (c *wasmCall) tailIsSentinel(p uint32, n int) bool {
	tail, ok := c.mod.Memory().Read(p+uint32(n-8), 8)
	if !ok {
		return false
	}
	for i, b := range tail {
		if b != sentinel[(n-8+i)%len(sentinel)] {
			return false
		}
	}
	return true
}

// planeStrides finds the luma (or only) and chroma strides, each the row
// width aligned to a power of two up to 128, that account for the written
// bytes: exactly, or up to a sentinel's length more (the last pixels may
// happen to equal the pattern).
func planeStrides(written, rowBytes, h, cw, ch, planes int) (int, int, error) {
	best, bys, bcs := -1, 0, 0
	for a := 1; a <= 128; a *= 2 {
		ys := alignTo(rowBytes, a)
		for b := 1; b <= 128; b *= 2 {
			cs := 0
			if planes == 3 {
				cs = alignTo(cw, b)
			}
			total := ys*h + 2*cs*ch
			if total >= written && total <= written+len(sentinel) && (best < 0 || total < best) {
				best, bys, bcs = total, ys, cs
			}
			if planes == 1 {
				break
			}
		}
	}
	if best < 0 {
		return 0, 0, fmt.Errorf("the decoder wrote %d bytes, which fit no plane layout of %d-byte rows", written, rowBytes)
	}
	return bys, bcs, nil
}

// decodeHEIC decodes the primary image of data with libheif: *image.YCbCr,
// *image.Gray or *image.NRGBA/RGBA. want is the size the header promised;
// any other is refused before the pixel buffer is made.
func (w *wasmDecoders) decodeHEIC(ctx context.Context, data []byte, want image.Point) (image.Image, error) {
	return w.decodeIn(ctx, &w.heif, heifWasmGz, func(c *wasmCall) (image.Image, error) { return c.heic(data, want) })
}

// decodeIn runs decode in a fresh instance of module m and settles its errors.
func (w *wasmDecoders) decodeIn(ctx context.Context, m *wasmModule, gz []byte, decode func(*wasmCall) (image.Image, error)) (image.Image, error) {
	c, err := w.instance(ctx, m, gz)
	if err != nil {
		return nil, err
	}
	img, err := decode(c)
	if err := c.finish(err, w.memPages); err != nil {
		return nil, err
	}
	return img, nil
}

// decoded checks a decode call's outcome: the call itself (c.err), the
// codec's verdict (ok), and that it made the size the header promised.
func (c *wasmCall) decoded(ok uint64, width, height int, want image.Point) error {
	switch {
	case c.err != nil:
		return c.err
	case ok == 0:
		return errDecode
	case width != want.X || height != want.Y:
		return fmt.Errorf("the decoder reports %dx%d, the header %dx%d", width, height, want.X, want.Y)
	}
	return nil
}

func (c *wasmCall) heic(data []byte, want image.Point) (image.Image, error) {
	in := c.alloc(len(data))
	c.write(in, data)
	vals := c.alloc(20)
	wp, hp, csp, chp, pmp := vals, vals+4, vals+8, vals+12, vals+16
	ok := c.call("decode", uint64(in), uint64(len(data)), 1, uint64(wp), uint64(hp), uint64(csp), uint64(chp), uint64(pmp), 0)
	width, height, cs, chroma, prem := int(c.u32(wp)), int(c.u32(hp)), c.u32(csp), c.u32(chp), c.u32(pmp)
	if err := c.decoded(ok, width, height, want); err != nil {
		return nil, err
	}
	rect := image.Rect(0, 0, width, height)
	var rowBytes, cw, ch, planes int
	ratio := image.YCbCrSubsampleRatio420
	switch cs {
	case heifColorspaceYCbCr:
		switch chroma {
		case heifChroma420:
			cw, ch = (width+1)/2, (height+1)/2
		case heifChroma422:
			cw, ch, ratio = (width+1)/2, height, image.YCbCrSubsampleRatio422
		case heifChroma444:
			cw, ch, ratio = width, height, image.YCbCrSubsampleRatio444
		default:
			return nil, fmt.Errorf("chroma format %d", chroma)
		}
		rowBytes, planes = width, 3
	case heifColorspaceMonochrome:
		rowBytes, planes = width, 1
	case heifColorspaceRGB:
		rowBytes, planes = 4*width, 1
	default:
		return nil, fmt.Errorf("colour space %d", cs)
	}
	// heif.c copies the planes back to back with libheif's own strides,
	// which it does not report and which are not always the 16-byte
	// alignment the wrapper assumes (4:2:0 chroma 48 wide comes with a
	// stride of 64). So the buffer is filled with a pattern first, the
	// length written is found where the pattern resumes, and the strides
	// are the aligned widths that add up to it.
	max := 2*(align128(rowBytes)*height+2*align128(cw)*ch) + 4096
	out := c.alloc(max)
	fill := bytes.Repeat(sentinel[:], max/len(sentinel)+1)[:max]
	c.write(out, fill)
	ok = c.call("decode", uint64(in), uint64(len(data)), 0, uint64(wp), uint64(hp), uint64(csp), uint64(chp), uint64(pmp), uint64(out))
	if c.err != nil {
		return nil, c.err
	}
	if ok == 0 {
		return nil, errDecode
	}
	if c.untouched(out, max) {
		return nil, errDecode
	}
	raw, _ := c.mod.Memory().Read(out, uint32(max))
	written := max
	for written > 0 && raw[written-1] == sentinel[(written-1)%len(sentinel)] {
		written--
	}
	ys, cstride, err := planeStrides(written, rowBytes, height, cw, ch, planes)
	if err != nil {
		return nil, err
	}
	size := ys*height + 2*cstride*ch
	pix := c.read(out, size)
	if c.err != nil {
		return nil, c.err
	}
	switch cs {
	case heifColorspaceYCbCr:
		i0, i1 := ys*height, ys*height+cstride*ch
		return &image.YCbCr{Y: pix[:i0:i0], Cb: pix[i0:i1:i1], Cr: pix[i1:], YStride: ys, CStride: cstride, SubsampleRatio: ratio, Rect: rect}, nil
	case heifColorspaceMonochrome:
		return &image.Gray{Pix: pix, Stride: ys, Rect: rect}, nil
	}
	if prem == 1 {
		return &image.RGBA{Pix: pix, Stride: ys, Rect: rect}, nil
	}
	return &image.NRGBA{Pix: pix, Stride: ys, Rect: rect}, nil
}

// decodeAVIF decodes the primary image with libavif: premultiplied RGBA,
// 16-bit samples (for 10 and 12-bit sources) rounded to 8.
func (w *wasmDecoders) decodeAVIF(ctx context.Context, data []byte, want image.Point) (image.Image, error) {
	return w.decodeIn(ctx, &w.avif, avifWasmGz, func(c *wasmCall) (image.Image, error) { return c.avif(data, want) })
}

func (c *wasmCall) avif(data []byte, want image.Point) (image.Image, error) {
	in := c.alloc(len(data))
	c.write(in, data)
	vals := c.alloc(16)
	wp, hp, dp, np := vals, vals+4, vals+8, vals+12
	ok := c.call("decode", uint64(in), uint64(len(data)), 1, 0, uint64(wp), uint64(hp), uint64(dp), uint64(np), 0, 0)
	width, height, depth := int(c.u32(wp)), int(c.u32(hp)), c.u32(dp)
	if err := c.decoded(ok, width, height, want); err != nil {
		return nil, err
	}
	bpp := 4
	if depth > 8 {
		bpp = 8
	}
	size := width * height * bpp
	out := c.alloc(size)
	// decode.c reports success when the first frame fails to decode (its
	// loop just ends), leaving the buffer as it was: the pattern tells.
	c.write(out, bytes.Repeat(sentinel[:], size/len(sentinel)+1)[:size])
	delay := c.alloc(8)
	ok = c.call("decode", uint64(in), uint64(len(data)), 0, 0, uint64(wp), uint64(hp), uint64(dp), uint64(np), uint64(delay), uint64(out))
	if c.err != nil {
		return nil, c.err
	}
	if ok == 0 || c.untouched(out, size) {
		return nil, errDecode
	}
	rect := image.Rect(0, 0, width, height)
	if bpp == 4 {
		pix := c.read(out, size)
		if c.err != nil {
			return nil, c.err
		}
		return &image.RGBA{Pix: pix, Stride: 4 * width, Rect: rect}, nil
	}
	// Row by row: the 16-bit copy is never held whole outside WASM.
	m := image.NewRGBA(rect)
	for y := range height {
		row, ok := c.mod.Memory().Read(out+uint32(y*width*8), uint32(width*8))
		if !ok {
			return nil, errors.New("read past WASM memory")
		}
		dst := m.Pix[y*m.Stride : y*m.Stride+4*width]
		for i := range dst {
			v := uint32(binary.LittleEndian.Uint16(row[2*i:]))
			dst[i] = uint8((v*255 + 32767) / 65535)
		}
	}
	return m, nil
}
