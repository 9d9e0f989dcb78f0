// Package hostile makes the small hostile and odd files under testdata/hostile:
// decompression-bomb headers, truncated and disguised files, unsupported formats
// and unusual but valid images. Every file is built by code here, deterministically,
// so a reader can see exactly what each one is and the committed copies are
// checked against this code by the package's tests.
package hostile

//go:generate go run ./gen -out ../../testdata/hostile

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
)

// File is one generated file and what it is.
type File struct {
	Name  string
	About string
	Data  []byte
}

// Files returns every file, in a stable order.
func Files() []File {
	photo := jpegOf(noise(64, 48, 1), 90)
	pngPhoto := pngOf(noise(32, 32, 2))
	fs := []File{
		{"bomb-png-60000x60000.png", "valid PNG signature and IHDR declaring 60000x60000 RGBA (14 GB decoded), a token IDAT", patchPNGSize(pngPhoto, 60000, 60000)},
		{"bomb-jpeg-sof-65000x65000.jpg", "a valid JPEG whose SOF0 claims 65000x65000", patchJPEGSize(photo, 65000, 65000)},
		{"bomb-gif-screen-65535x65535.gif", "a 1x1 GIF frame on a 65535x65535 logical screen", patchGIFScreen(gifOf(1, 1), 65535, 65535)},
		{"bomb-webp-vp8x-40000x40000.webp", "a WebP VP8X header declaring a 40000x40000 canvas, nothing else", webpVP8X(40000, 40000)},
		{"webp-vp8x-16777216x16777216.webp", "a WebP VP8X header declaring the largest canvas the format can, over 2^31 pixels", webpVP8X(1<<24, 1<<24)},
		{"png-chunk-2gb.png", "an 8x8 PNG whose first chunk after IHDR claims 2 GB and ends at once", pngHugeChunk()},
		{"wide-png-20000x10.png", "a real 20000x10 PNG: few pixels, but a side over the limit", pngOf(image.NewGray(image.Rect(0, 0, 20000, 10)))},
		{"zero-size.png", "PNG IHDR declaring 0x0", patchPNGSize(pngPhoto, 0, 0)},
		{"truncated.jpg", "the first 60% of a JPEG", photo[:len(photo)*6/10]},
		{"truncated.png", "the first 60% of a PNG", pngPhoto[:len(pngPhoto)*6/10]},
		{"empty.jpg", "zero bytes", []byte{}},
		{"text.jpg", "plain text named .jpg", []byte("This is not a JPEG, just text with a .jpg name.\n")},
		{"page.html", "an HTML page a client may declare as image/jpeg", []byte("<!DOCTYPE html>\n<html><body><img src=x onerror=\"alert(1)\"></body></html>\n")},
		{"junk.webp", "a RIFF/WEBP header followed by garbage", append([]byte("RIFF\x20\x00\x00\x00WEBPVP8 \x14\x00\x00\x00"), bytes.Repeat([]byte{0xA5}, 20)...)},
		{"gray-1x1.tif", "an uncompressed 1x1 grayscale TIFF", tiffGray1x1()},
		{"rgb-2x2.bmp", "a 24-bit 2x2 BMP", bmp2x2()},
		{"animated-40x30.gif", "a 3-frame animated GIF, 40x30", animatedGIF()},
		{"cmyk-16x16.jpg", "a 4-component Adobe CMYK JPEG, 16x16", cmykJPEG(16, 16, [4]byte{0, 200, 200, 0})},
		{"ycck-64x64.jpg", "a 4-component Adobe YCCK JPEG (transform 2), 64x64, the same ink as cmyk-16x16.jpg", ycckJPEG(64, 64, [4]byte{0, 200, 200, 0})},
		{"rgba16-24x20.png", "a 16-bit RGBA PNG with a transparent half", pngOf(rgba16(24, 20))},
		{"palette-trns-24x20.png", "a palette PNG with a tRNS transparent entry", pngOf(paletted(24, 20))},
		{"gray-40x30.png", "an 8-bit grayscale PNG", pngOf(grayRamp(40, 30))},
		{"gray-40x30.jpg", "a 1-component grayscale JPEG", jpegOf(grayRamp(40, 30), 90)},
		{"gps-64x48.jpg", "a JPEG whose EXIF carries GPS coordinates that outputs must not leak", withExif(photo, 1, true)},
		{"tiny-8x8.png", "an 8x8 PNG", pngOf(noise(8, 8, 3))},
	}
	fs = append(fs, scanFiles()...)
	fs = append(fs, iccFiles()...) // embedded colour profiles
	fs = append(fs, heifFiles()...)
	for o := 1; o <= 8; o++ {
		fs = append(fs, File{
			Name:  "orientation-" + string(rune('0'+o)) + ".jpg",
			About: "48x32 stored pixels with EXIF orientation " + string(rune('0'+o)) + "; shown upright, the red corner is top-left",
			Data:  withExif(jpegOf(oriented(o), 95), o, false),
		})
	}
	return fs
}

// noise is an opaque image of deterministic random pixels (so it does not compress away).
func noise(w, h int, seed uint64) *image.NRGBA {
	r := rand.New(rand.NewPCG(seed, seed))
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range m.Pix {
		m.Pix[i] = byte(r.Uint32())
		if i%4 == 3 {
			m.Pix[i] = 0xFF
		}
	}
	return m
}

func grayRamp(w, h int) *image.Gray {
	m := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.Pix[y*m.Stride+x] = byte((x + y) * 255 / (w + h))
		}
	}
	return m
}

func rgba16(w, h int) *image.NRGBA64 {
	m := image.NewNRGBA64(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			a := uint16(0xFFFF)
			if x >= w/2 {
				a = 0
			}
			m.SetNRGBA64(x, y, color.NRGBA64{R: uint16(x * 2700), G: uint16(y * 3200), B: 0x1234, A: a})
		}
	}
	return m
}

func paletted(w, h int) *image.Paletted {
	pal := color.Palette{color.NRGBA{0, 0, 0, 0}, color.NRGBA{255, 0, 0, 255}, color.NRGBA{0, 0, 255, 128}}
	m := image.NewPaletted(image.Rect(0, 0, w, h), pal)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetColorIndex(x, y, uint8((x/4+y/4)%3))
		}
	}
	return m
}

// oriented stores a picture so that, once EXIF orientation o is applied, it shows
// 48 wide and 32 high with a red top-left quadrant and blue elsewhere.
func oriented(o int) *image.NRGBA {
	const w, h = 48, 32
	upright := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA{0, 0, 255, 255}
			if x < w/2 && y < h/2 {
				c = color.NRGBA{255, 0, 0, 255}
			}
			upright.SetNRGBA(x, y, c)
		}
	}
	// stored(sx, sy) holds upright(ux, uy): invert what a viewer does for o.
	sw, sh := w, h
	if o >= 5 {
		sw, sh = h, w
	}
	stored := image.NewNRGBA(image.Rect(0, 0, sw, sh))
	for sy := 0; sy < sh; sy++ {
		for sx := 0; sx < sw; sx++ {
			ux, uy := Displayed(o, sx, sy, sw, sh)
			stored.SetNRGBA(sx, sy, upright.NRGBAAt(ux, uy))
		}
	}
	return stored
}

// Displayed maps a stored pixel to where a viewer applying EXIF orientation o
// shows it (the EXIF 2.3 definitions of the eight orientations).
// It is kept apart from the engine's own mapping on purpose: it is the oracle the
// engine's orientation is checked against, and a shared function would hide a
// mistake in both.
func Displayed(o, x, y, w, h int) (int, int) {
	switch o {
	case 2:
		return w - 1 - x, y
	case 3:
		return w - 1 - x, h - 1 - y
	case 4:
		return x, h - 1 - y
	case 5:
		return y, x
	case 6:
		return h - 1 - y, x
	case 7:
		return h - 1 - y, w - 1 - x
	case 8:
		return y, w - 1 - x
	}
	return x, y
}

func jpegOf(m image.Image, q int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: q}); err != nil {
		panic(err) // in-memory encoding of a valid image cannot fail
	}
	return b.Bytes()
}

func pngOf(m image.Image) []byte {
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&b, m); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func gifOf(w, h int) []byte {
	var b bytes.Buffer
	m := image.NewPaletted(image.Rect(0, 0, w, h), palette.Plan9[:16])
	if err := gif.Encode(&b, m, nil); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func animatedGIF() []byte {
	pal := color.Palette{color.Black, color.White, color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}}
	g := &gif.GIF{LoopCount: 0}
	for i := 0; i < 3; i++ {
		m := image.NewPaletted(image.Rect(0, 0, 40, 30), pal)
		for y := 0; y < 30; y++ {
			for x := 0; x < 40; x++ {
				m.SetColorIndex(x, y, uint8((x/10+i)%len(pal)))
			}
		}
		g.Image = append(g.Image, m)
		g.Delay = append(g.Delay, 10)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// patchPNGSize rewrites the IHDR width and height (and its CRC) of a PNG.
func patchPNGSize(p []byte, w, h uint32) []byte {
	out := bytes.Clone(p)
	// signature (8), IHDR length (4), "IHDR" (4), width, height, ...
	binary.BigEndian.PutUint32(out[16:], w)
	binary.BigEndian.PutUint32(out[20:], h)
	binary.BigEndian.PutUint32(out[29:], crc32.ChecksumIEEE(out[12:29]))
	return out
}

// patchJPEGSize rewrites the frame size in the first SOF0 marker.
func patchJPEGSize(j []byte, w, h uint16) []byte {
	out := bytes.Clone(j)
	i := bytes.Index(out, []byte{0xFF, 0xC0})
	// FFC0, length (2), precision (1), height (2), width (2)
	binary.BigEndian.PutUint16(out[i+5:], h)
	binary.BigEndian.PutUint16(out[i+7:], w)
	return out
}

func patchGIFScreen(g []byte, w, h uint16) []byte {
	out := bytes.Clone(g)
	binary.LittleEndian.PutUint16(out[6:], w)
	binary.LittleEndian.PutUint16(out[8:], h)
	return out
}

// webpVP8X is the extended WebP header alone: RIFF, WEBP, and a VP8X chunk with
// the canvas size (24 bits each, stored minus one).
func webpVP8X(w, h uint32) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("RIFF")
	_ = binary.Write(&b, le, uint32(4+8+10))
	b.WriteString("WEBPVP8X")
	_ = binary.Write(&b, le, uint32(10))
	b.Write([]byte{0, 0, 0, 0})
	for _, v := range []uint32{w - 1, h - 1} {
		b.Write([]byte{byte(v), byte(v >> 8), byte(v >> 16)})
	}
	return b.Bytes()
}

// pngHugeChunk is a valid 8x8 PNG header followed by a tEXt chunk that claims
// 2 GB: a decoder that allocates chunk lengths up front would try to.
func pngHugeChunk() []byte {
	p := pngOf(noise(8, 8, 4))
	ihdrEnd := 8 + 4 + 4 + 13 + 4
	out := bytes.Clone(p[:ihdrEnd])
	out = binary.BigEndian.AppendUint32(out, 0x7FFFFFF0)
	out = append(out, "tEXtComment\x00"...)
	return out
}
