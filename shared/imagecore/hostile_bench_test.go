package imagecore

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// BenchmarkProcessHostile is the CPU every hostile file costs the whole
// engine (refused or not), and the worst case per input byte of each format
// within the default limits (docs/hostile.md has the figures): what no timed
// test may check, `make bench` measures (its -bench 'Process' takes it in).
func BenchmarkProcessHostile(b *testing.B) {
	inputs := map[string][]byte{}
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "hostile", "*"))
	for _, f := range files {
		if filepath.Ext(f) == ".md" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		inputs[filepath.Base(f)] = data
	}
	const side = 7000 // 49 megapixels, under the default 50
	inputs["gen-png-rgba16-zeros-7000"] = pngZeros(b, side, side, 6, 16, false)
	inputs["gen-png-rgba8-interlaced-zeros-7000"] = pngZeros(b, side, side, 6, 8, true)
	inputs["gen-png-idat-flood-1000"] = pngIDATFlood(b, 1000, 1000)
	inputs["gen-gif-zeros-7000"] = gifZeros(b, side, side)
	inputs["gen-gif-extension-flood"] = gifExtensionFlood(b, 1<<20)
	inputs["gen-webp-lossless-flat-7000"] = vp8lResized(b, inputs["webp-lossless-flat-512x512.webp"], side, side)
	names := make([]string, 0, len(inputs))
	for n := range inputs {
		names = append(names, n)
	}
	sort.Strings(names)
	e, err := NewEngine(DefaultLimits(), DefaultVariants())
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range names {
		data := inputs[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			loopCPU(b, func() {
				if _, err := e.Process(context.Background(), data); err != nil {
					var refusal *Error
					if !errors.As(err, &refusal) {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// vp8lResized is a simple-format lossless WebP with the size in its VP8L
// header rewritten: the hostile flat file's pixels cost no bits, so any size
// decodes.
func vp8lResized(tb testing.TB, webp []byte, w, h int) []byte {
	tb.Helper()
	const at = 21 // RIFF, size, WEBP, VP8L, size (20 bytes), then the 0x2f signature
	if len(webp) < at+4 || string(webp[12:16]) != "VP8L" || webp[20] != 0x2f {
		tb.Fatal("not a simple-format lossless WebP")
	}
	out := bytes.Clone(webp)
	v := binary.LittleEndian.Uint32(out[at:])
	v = v&^(1<<28-1) | uint32(w-1) | uint32(h-1)<<14
	binary.LittleEndian.PutUint32(out[at:], v)
	return out
}

// pngZeros writes a w x h PNG of zero pixels, streaming the rows (or, if
// interlaced, the seven Adam7 passes) through zlib at its best compression,
// the most pixels per byte deflate allows (about 1032 bytes out per byte in).
func pngZeros(tb testing.TB, w, h int, colorType, depth byte, interlaced bool) []byte {
	tb.Helper()
	channels := map[byte]int{0: 1, 2: 3, 4: 2, 6: 4}[colorType]
	var idat bytes.Buffer
	z, err := zlib.NewWriterLevel(&idat, zlib.BestCompression)
	if err != nil {
		tb.Fatal(err)
	}
	passes := [][4]int{{0, 0, 1, 1}} // x0, y0, dx, dy
	if interlaced {
		passes = [][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}
	}
	for _, p := range passes {
		pw, ph := (w-p[0]+p[2]-1)/p[2], (h-p[1]+p[3]-1)/p[3]
		if pw <= 0 || ph <= 0 {
			continue
		}
		row := make([]byte, 1+(pw*channels*int(depth)+7)/8)
		for range ph {
			if _, err := z.Write(row); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := z.Close(); err != nil {
		tb.Fatal(err)
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = depth, colorType
	if interlaced {
		ihdr[12] = 1
	}
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	pngChunk(&out, "IHDR", ihdr)
	pngChunk(&out, "IDAT", idat.Bytes())
	pngChunk(&out, "IEND", nil)
	return out.Bytes()
}

// pngIDATFlood is a gray PNG whose compressed data comes one byte per IDAT
// chunk: 13 bytes of chunk framing and a CRC for every byte of data.
func pngIDATFlood(tb testing.TB, w, h int) []byte {
	tb.Helper()
	m := image.NewGray(image.Rect(0, 0, w, h))
	for i := range m.Pix {
		m.Pix[i] = uint8(i * 13 % 251)
	}
	whole := encodePNGTB(tb, m)
	// Re-chunk: the encoder's IDAT bodies, concatenated, are the zlib stream.
	var stream []byte
	var ihdr []byte
	for pos := 8; pos+8 <= len(whole); {
		n := int(binary.BigEndian.Uint32(whole[pos:]))
		kind, body := string(whole[pos+4:pos+8]), whole[pos+8:pos+8+n]
		switch kind {
		case "IHDR":
			ihdr = body
		case "IDAT":
			stream = append(stream, body...)
		}
		pos += 12 + n
	}
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	pngChunk(&out, "IHDR", ihdr)
	for i := range stream {
		pngChunk(&out, "IDAT", stream[i:i+1])
	}
	pngChunk(&out, "IEND", nil)
	return out.Bytes()
}

func encodePNGTB(tb testing.TB, m image.Image) []byte {
	tb.Helper()
	t, ok := tb.(*testing.T)
	if !ok {
		t = &testing.T{}
	}
	return encodePNG(t, m)
}

func pngChunk(out *bytes.Buffer, kind string, data []byte) {
	_ = binary.Write(out, binary.BigEndian, uint32(len(data)))
	crc := crc32.NewIEEE()
	crc.Write([]byte(kind))
	crc.Write(data)
	out.WriteString(kind)
	out.Write(data)
	_ = binary.Write(out, binary.BigEndian, crc.Sum32())
}

// gifZeros is a w x h single-frame GIF of colour 0 as Go's encoder writes it.
func gifZeros(tb testing.TB, w, h int) []byte {
	tb.Helper()
	m := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.Gray{0}, color.Gray{255}})
	var buf bytes.Buffer
	if err := gif.Encode(&buf, m, nil); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// gifExtensionFlood is a 1x1 GIF whose frame comes after a comment extension
// of n one-byte sub-blocks: all the decoder's work before the first frame.
func gifExtensionFlood(tb testing.TB, n int) []byte {
	tb.Helper()
	small := gifZeros(tb, 1, 1)
	// Header (6), logical screen descriptor (7) and a 2-entry colour table (6).
	const head = 6 + 7 + 6
	var out bytes.Buffer
	out.Write(small[:head])
	out.Write([]byte{0x21, 0xFE}) // comment extension
	for range n {
		out.Write([]byte{1, 'x'})
	}
	out.WriteByte(0)
	out.Write(small[head:])
	return out.Bytes()
}
