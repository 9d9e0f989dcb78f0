package imagecore

import (
	"bytes"
	"encoding/binary"
)

// Orientation parsing reads only what it needs from untrusted bytes: every offset
// is bounds-checked and anything odd means "no orientation" (1), never a panic.

const tagOrientation = 0x0112

// orientationOf returns the EXIF orientation (1-8) of an image, 1 when absent.
func orientationOf(format string, data []byte) int {
	var tiff []byte
	switch format {
	case SourceJPEG:
		tiff = jpegExif(data)
	case SourceWebP:
		tiff = webpExif(data)
	case SourcePNG:
		tiff = pngExif(data)
	}
	return tiffOrientation(tiff)
}

// jpegExif returns the TIFF block of the first APP1 "Exif" segment, scanning
// markers only up to the start of scan.
func jpegExif(b []byte) []byte {
	i := 2 // after SOI
	for i+4 <= len(b) {
		if b[i] != 0xFF {
			return nil
		}
		marker := b[i+1]
		switch {
		case marker == 0xFF: // fill byte
			i++
			continue
		case marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01:
			i += 2 // markers without a length
			continue
		case marker == 0xDA || marker == 0xD9: // start of scan, end of image
			return nil
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return nil
		}
		seg := b[i+4 : i+2+n]
		if marker == 0xE1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return seg[6:]
		}
		i += 2 + n
	}
	return nil
}

// webpExif returns the payload of the EXIF chunk of an extended WebP.
func webpExif(b []byte) []byte {
	i := 12
	for i+8 <= len(b) {
		id := string(b[i : i+4])
		n := int(binary.LittleEndian.Uint32(b[i+4:]))
		if n < 0 || n > len(b)-i-8 {
			return nil
		}
		if id == "EXIF" {
			p := b[i+8 : i+8+n]
			// Some writers keep the JPEG-style prefix.
			return bytes.TrimPrefix(p, []byte("Exif\x00\x00"))
		}
		i += 8 + n + n&1 // chunks are padded to even sizes
	}
	return nil
}

// pngExif returns the payload of a PNG eXIf chunk, which must precede IDAT.
func pngExif(b []byte) []byte {
	i := 8
	for i+8 <= len(b) {
		n := int(binary.BigEndian.Uint32(b[i:]))
		typ := string(b[i+4 : i+8])
		if n < 0 || n > len(b)-i-12 {
			return nil
		}
		switch typ {
		case "eXIf":
			return b[i+8 : i+8+n]
		case "IDAT", "IEND":
			return nil
		}
		i += 12 + n
	}
	return nil
}

// tiffOrientation reads tag 0x0112 from IFD0 of a TIFF-structured EXIF block.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return 1
	}
	ifd := int64(bo.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > int64(len(t)) {
		return 1
	}
	count := int(bo.Uint16(t[ifd:]))
	p := int(ifd) + 2
	for k := 0; k < count && p+12 <= len(t); k, p = k+1, p+12 {
		if bo.Uint16(t[p:]) != tagOrientation {
			continue
		}
		typ := bo.Uint16(t[p+2:])
		var v int
		switch typ {
		case 3: // SHORT, stored in the first two bytes of the value field
			v = int(bo.Uint16(t[p+8:]))
		case 4: // LONG, seen from sloppy writers
			v = int(bo.Uint32(t[p+8:]))
		default:
			return 1
		}
		if v < 1 || v > 8 {
			return 1
		}
		return v
	}
	return 1
}
