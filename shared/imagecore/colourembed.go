package imagecore

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
)

// Reading embedded colour profiles. Each reader walks only the container's
// metadata, bounded by the data it has and by maxICCBytes, and reports what
// it found: a profile, or notes when one was there but unusable.

// embeddedColour returns the colour description in data of the given format.
func embeddedColour(format string, data []byte) (colourSource, []string) {
	switch format {
	case SourceJPEG:
		return jpegICC(data)
	case SourcePNG:
		return pngICC(data)
	case SourceWebP:
		return webpICC(data)
	}
	return colourSource{}, nil
}

const maxJPEGICCChunks = 255

// jpegICC reassembles an ICC profile from APP2 "ICC_PROFILE" segments (ICC.1
// Annex B.4): each carries its sequence number (from 1) and the chunk count;
// they may come in any order. A missing, repeated or inconsistent chunk
// makes the profile unusable.
func jpegICC(data []byte) (colourSource, []string) {
	type chunk struct {
		seq  int
		data []byte
	}
	var chunks []chunk
	count, total := 0, 0
	bad := ""
	for pos := 2; pos+4 <= len(data); {
		if data[pos] != 0xFF {
			break
		}
		m := data[pos+1]
		if m == 0xFF { // fill byte
			pos++
			continue
		}
		if m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01 {
			pos += 2
			continue
		}
		if m == 0xDA || m == 0xD9 { // the profile comes before the first scan
			break
		}
		n := int(binary.BigEndian.Uint16(data[pos+2:]))
		if n < 2 || pos+2+n > len(data) {
			break
		}
		seg := data[pos+4 : pos+2+n]
		pos += 2 + n
		if m != 0xE2 || len(seg) < 14 || !bytes.Equal(seg[:12], []byte("ICC_PROFILE\x00")) {
			continue
		}
		seq, cnt := int(seg[12]), int(seg[13])
		switch {
		case bad != "":
		case cnt == 0 || seq == 0 || seq > cnt:
			bad = fmt.Sprintf("chunk %d of %d is numbered out of range", seq, cnt)
		case count != 0 && cnt != count:
			bad = fmt.Sprintf("chunks disagree on their count (%d and %d)", count, cnt)
		case len(chunks) >= maxJPEGICCChunks:
			bad = "too many chunks"
		case total+len(seg)-14 > maxICCBytes:
			bad = fmt.Sprintf("over %d bytes", maxICCBytes)
		default:
			count = cnt
			chunks = append(chunks, chunk{seq, seg[14:]})
			total += len(seg) - 14
		}
	}
	if bad == "" && len(chunks) == 0 {
		return colourSource{}, nil
	}
	if bad == "" {
		sort.SliceStable(chunks, func(i, j int) bool { return chunks[i].seq < chunks[j].seq })
		for i, c := range chunks {
			if c.seq != i+1 {
				if i > 0 && chunks[i-1].seq == c.seq {
					bad = fmt.Sprintf("chunk %d appears twice", c.seq)
				} else {
					bad = fmt.Sprintf("chunk %d of %d is missing", i+1, count)
				}
				break
			}
		}
		if bad == "" && len(chunks) != count {
			bad = fmt.Sprintf("chunk %d of %d is missing", len(chunks)+1, count)
		}
	}
	if bad != "" {
		return colourSource{}, []string{fmt.Sprintf("the embedded colour profile could not be read and was ignored: its JPEG segments are damaged (%s)", bad)}
	}
	p := make([]byte, 0, total)
	for _, c := range chunks {
		p = append(p, c.data...)
	}
	return colourSource{ICC: p}, nil
}

// pngICC reads the iCCP chunk (a zlib-compressed profile) that must come
// before the image data. An sRGB chunk means sRGB whatever else is there.
// Without either, gAMA (and cHRM) describe the colour space, as browsers
// read them.
func pngICC(data []byte) (colourSource, []string) {
	var src colourSource
	var notes []string
	var pc pngColour
	for pos := 8; pos+12 <= len(data); {
		n := int(binary.BigEndian.Uint32(data[pos:]))
		typ := string(data[pos+4 : pos+8])
		if n < 0 || n > len(data)-pos-12 {
			break
		}
		body := data[pos+8 : pos+8+n]
		pos += 12 + n
		switch typ {
		case "IDAT", "IEND":
			if src.ICC == nil && len(notes) == 0 && pc.gamma > 0 {
				src.png = &pc
			}
			return src, notes
		case "sRGB":
			return colourSource{}, nil
		case "gAMA":
			if len(body) == 4 {
				pc.gamma = float64(binary.BigEndian.Uint32(body)) / 100000
			}
		case "cHRM":
			if len(body) == 32 {
				v := func(i int) float64 { return float64(binary.BigEndian.Uint32(body[4*i:])) / 100000 }
				pc.prim = chromaticities{v(2), v(3), v(4), v(5), v(6), v(7), v(0), v(1)}
				pc.chrm = true
			}
		case "iCCP":
			i := bytes.IndexByte(body, 0)
			if i < 1 || i > 79 || i+2 > len(body) || body[i+1] != 0 {
				notes = []string{"the embedded colour profile could not be read and was ignored: its PNG iCCP chunk is malformed"}
				continue
			}
			p, err := inflateBounded(body[i+2:], maxICCBytes)
			if err != nil {
				notes = []string{fmt.Sprintf("the embedded colour profile could not be read and was ignored: %v", err)}
				continue
			}
			src.ICC = p
		}
	}
	return src, notes
}

// inflateBounded decompresses zlib data, refusing more than limit bytes out.
// A first pass only counts, so a bomb costs CPU for at most limit bytes and
// no memory; the second fills a buffer of exactly the size found.
func inflateBounded(z []byte, limit int) ([]byte, error) {
	open := func() (io.ReadCloser, error) {
		r, err := zlib.NewReader(bytes.NewReader(z))
		if err != nil {
			return nil, fmt.Errorf("its compressed data is damaged: %w", err)
		}
		return r, nil
	}
	r, err := open()
	if err != nil {
		return nil, err
	}
	n, err := io.Copy(io.Discard, io.LimitReader(r, int64(limit)+1))
	r.Close()
	if err != nil {
		return nil, fmt.Errorf("its compressed data is damaged: %w", err)
	}
	if n > int64(limit) {
		return nil, fmt.Errorf("it inflates to over %d bytes", limit)
	}
	if r, err = open(); err != nil {
		return nil, err
	}
	defer r.Close()
	out := make([]byte, n)
	if _, err := io.ReadFull(r, out); err != nil {
		return nil, fmt.Errorf("its compressed data is damaged: %w", err)
	}
	return out, nil
}

// webpICC reads the ICCP chunk of an extended (VP8X) WebP file.
func webpICC(data []byte) (colourSource, []string) {
	if len(data) < 30 || string(data[12:16]) != "VP8X" || data[20]&0x20 == 0 {
		return colourSource{}, nil
	}
	for pos := 12; pos+8 <= len(data); {
		n := int(binary.LittleEndian.Uint32(data[pos+4:]))
		if n < 0 || n > len(data)-pos-8 {
			break
		}
		if string(data[pos:pos+4]) == "ICCP" {
			if n > maxICCBytes {
				return colourSource{}, []string{fmt.Sprintf("the embedded colour profile could not be read and was ignored: it is over %d bytes", maxICCBytes)}
			}
			return colourSource{ICC: data[pos+8 : pos+8+n]}, nil
		}
		pos += 8 + n + n&1
	}
	return colourSource{}, nil
}
