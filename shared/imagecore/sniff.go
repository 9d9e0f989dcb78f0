package imagecore

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// Source formats reported in SourceInfo.Format.
const (
	SourceJPEG = "jpeg"
	SourcePNG  = "png"
	SourceGIF  = "gif"
	SourceWebP = "webp"
	SourceHEIC = "heic" // HEIF with HEVC-coded images
	SourceAVIF = "avif" // HEIF with AV1-coded images
)

// sniffLen is how many leading bytes Sniff needs to decide: an ftyp box's
// compatible brands may come after a dozen others.
const sniffLen = 64

// Sniff names the format of an image from its first bytes only; the file name and
// Content-Type are never trusted. It refuses anything but JPEG, PNG, GIF, WebP,
// HEIC and AVIF with an *Error whose message says what the bytes look like.
// A file with only generic HEIF brands (mif1) is reported as HEIC; the engine
// decides by the primary image's codec once it has read the item boxes.
func Sniff(head []byte) (string, error) {
	switch {
	case len(head) == 0:
		return "", &Error{Code: CodeEmpty, Message: "the file is empty"}
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return SourceJPEG, nil
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return SourcePNG, nil
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return SourceGIF, nil
	case len(head) >= 12 && bytes.HasPrefix(head, []byte("RIFF")) && bytes.Equal(head[8:12], []byte("WEBP")):
		return SourceWebP, nil
	}
	switch ftypFormat(head) {
	case SourceAVIF:
		return SourceAVIF, nil
	case SourceHEIC, "heif":
		return SourceHEIC, nil
	}
	return "", &Error{Code: CodeUnsupportedFormat, Message: fmt.Sprintf("%s; send JPEG, PNG, GIF, WebP, HEIC or AVIF", describe(head))}
}

// describe says what unsupported bytes look like, so a refusal is actionable.
func describe(head []byte) string {
	has := func(p string) bool { return bytes.HasPrefix(head, []byte(p)) }
	switch {
	case has("II*\x00"), has("MM\x00*"):
		return "TIFF images are not supported"
	case has("BM"):
		return "BMP images are not supported"
	case len(head) >= 12 && bytes.Equal(head[4:8], []byte("ftyp")):
		return "video and ISO media files are not supported"
	case has("%PDF"):
		return "PDF documents are not supported"
	case has("\x00\x00\x01\x00"):
		return "ICO icons are not supported"
	case has("RIFF"):
		return "this RIFF file is not a WebP image"
	}
	t := bytes.TrimLeft(head, " \t\r\n\xef\xbb\xbf")
	if len(t) > 0 && t[0] == '<' {
		return "this is markup (HTML, XML or SVG), not a raster image"
	}
	if isText(head) {
		return "this is text, not an image"
	}
	return "the bytes are not a recognised image format"
}

// isText reports whether b is UTF-8 without control characters, allowing a
// rune cut off at the end of the sniffed prefix.
func isText(b []byte) bool {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			return !utf8.FullRune(b)
		}
		if r < 0x09 || (r > 0x0D && r < 0x20) || r == 0x7F {
			return false
		}
		b = b[n:]
	}
	return true
}
