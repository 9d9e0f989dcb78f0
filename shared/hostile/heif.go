package hostile

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A small HEIF writer and reader: enough to build the hostile HEIF/AVIF files
// below, and (through cmd gen's -heif mode) the grid and rotated HEIC samples
// heif-enc cannot make, from heif-enc's own single-image output.

// HEIFItem is one item of a HEIF file to build. Props are whole property boxes.
type HEIFItem struct {
	ID     uint32
	Type   string
	Hidden bool
	Data   []byte
	Props  [][]byte
}

// HEIFRef is an item reference (dimg, auxl, thmb, ...).
type HEIFRef struct {
	Type string
	From uint32
	To   []uint32
}

// HEIF is a whole file to build.
type HEIF struct {
	Brand   string
	Compat  []string
	Primary uint32
	Items   []HEIFItem
	Refs    []HEIFRef
}

// BoxOf makes a box: size, type, payload.
func BoxOf(typ string, payload ...[]byte) []byte {
	n := 8
	for _, p := range payload {
		n += len(p)
	}
	b := make([]byte, 8, n)
	binary.BigEndian.PutUint32(b, uint32(n))
	copy(b[4:], typ)
	for _, p := range payload {
		b = append(b, p...)
	}
	return b
}

// FullBoxOf makes a full box (version, 24-bit flags, payload).
func FullBoxOf(typ string, version uint8, flags uint32, payload ...[]byte) []byte {
	h := []byte{version, byte(flags >> 16), byte(flags >> 8), byte(flags)}
	return BoxOf(typ, append([][]byte{h}, payload...)...)
}

func u16(v int) []byte    { return binary.BigEndian.AppendUint16(nil, uint16(v)) }
func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// Ispe is an image spatial extents property.
func Ispe(w, h uint32) []byte { return FullBoxOf("ispe", 0, 0, u32(w), u32(h)) }

// Irot turns the image anticlockwise by angle quarter turns.
func Irot(angle int) []byte { return BoxOf("irot", []byte{byte(angle & 3)}) }

// Imir mirrors: 0 exchanges top and bottom, 1 left and right.
func Imir(axis int) []byte { return BoxOf("imir", []byte{byte(axis & 1)}) }

// GridData is an ImageGrid descriptor with 16-bit output sizes.
func GridData(rows, cols, w, h int) []byte {
	return []byte{0, 0, byte(rows - 1), byte(cols - 1), byte(w >> 8), byte(w), byte(h >> 8), byte(h)}
}

// Build writes ftyp, meta and mdat. Item data goes to mdat in item order,
// located by a version 0 iloc with 32-bit offsets.
func (f HEIF) Build() []byte {
	ftyp := BoxOf("ftyp", []byte(f.Brand), u32(0))
	for _, c := range f.Compat {
		ftyp = append(ftyp, c...)
	}
	binary.BigEndian.PutUint32(ftyp, uint32(len(ftyp)))
	meta := f.meta(0)
	base := uint32(len(ftyp) + len(meta) + 8)
	meta = f.meta(base) // same size: only the offsets change
	var mdat [][]byte
	for _, it := range f.Items {
		mdat = append(mdat, it.Data)
	}
	out := append(ftyp, meta...)
	return append(out, BoxOf("mdat", mdat...)...)
}

func (f HEIF) meta(dataStart uint32) []byte {
	hdlr := FullBoxOf("hdlr", 0, 0, u32(0), []byte("pict"), make([]byte, 12), []byte{0})
	pitm := FullBoxOf("pitm", 0, 0, u16(int(f.Primary)))
	var infes [][]byte
	for _, it := range f.Items {
		flags := uint32(0)
		if it.Hidden {
			flags = 1
		}
		infes = append(infes, FullBoxOf("infe", 2, flags, u16(int(it.ID)), u16(0), []byte(it.Type), []byte{0}))
	}
	iinf := FullBoxOf("iinf", 0, 0, append([][]byte{u16(len(f.Items))}, infes...)...)
	var refs [][]byte
	for _, r := range f.Refs {
		p := [][]byte{u16(int(r.From)), u16(len(r.To))}
		for _, t := range r.To {
			p = append(p, u16(int(t)))
		}
		refs = append(refs, BoxOf(r.Type, p...))
	}
	var ipco [][]byte
	ipma := [][]byte{u32(uint32(len(f.Items)))}
	for _, it := range f.Items {
		ipma = append(ipma, u16(int(it.ID)), []byte{byte(len(it.Props))})
		for _, p := range it.Props {
			ipco = append(ipco, p)
			ipma = append(ipma, u16(len(ipco))) // 15-bit indexes (flags 1)
		}
	}
	iprp := BoxOf("iprp", BoxOf("ipco", ipco...), FullBoxOf("ipma", 0, 1, ipma...))
	iloc := [][]byte{{0x44, 0x00}, u16(len(f.Items))}
	off := dataStart
	for _, it := range f.Items {
		iloc = append(iloc, u16(int(it.ID)), u16(0), u16(1), u32(off), u32(uint32(len(it.Data))))
		off += uint32(len(it.Data))
	}
	parts := [][]byte{hdlr, pitm, iinf}
	if len(refs) > 0 {
		parts = append(parts, FullBoxOf("iref", 0, 0, refs...))
	}
	parts = append(parts, iprp, FullBoxOf("iloc", 0, 0, iloc...))
	return FullBoxOf("meta", 0, 0, parts...)
}

// ReadSimpleHEIF reads a single-image file as heif-enc or avifenc writes it:
// the primary item's type, its property boxes (in ipma order) and its data
// (construction method 0 extents). It is for making samples, not for hostile
// input: the image core has its own bounded parser.
func ReadSimpleHEIF(file []byte) (typ string, props [][]byte, data []byte, err error) {
	boxes := func(b []byte) (map[string][][]byte, error) {
		m := map[string][][]byte{}
		for len(b) > 0 {
			if len(b) < 8 {
				return nil, errors.New("cut-off box")
			}
			n := int(binary.BigEndian.Uint32(b))
			if n < 8 || n > len(b) {
				return nil, fmt.Errorf("box %q size %d", b[4:8], n)
			}
			m[string(b[4:8])] = append(m[string(b[4:8])], b[:n])
			b = b[n:]
		}
		return m, nil
	}
	top, err := boxes(file)
	if err != nil || len(top["meta"]) != 1 {
		return "", nil, nil, fmt.Errorf("top level: %v", err)
	}
	meta, err := boxes(top["meta"][0][12:])
	if err != nil {
		return "", nil, nil, err
	}
	primary := binary.BigEndian.Uint16(meta["pitm"][0][12:])
	iinf := meta["iinf"][0][14:]
	infes, err := boxes(iinf)
	if err != nil {
		return "", nil, nil, err
	}
	for _, e := range infes["infe"] {
		if binary.BigEndian.Uint16(e[12:]) == primary {
			typ = string(e[16:20])
		}
	}
	iprp, err := boxes(meta["iprp"][0][8:])
	if err != nil {
		return "", nil, nil, err
	}
	ipco, err := boxListOf(iprp["ipco"][0][8:])
	if err != nil {
		return "", nil, nil, err
	}
	ipma := iprp["ipma"][0]
	flags := ipma[11]
	p := ipma[16:]
	for range binary.BigEndian.Uint32(ipma[12:]) {
		id := binary.BigEndian.Uint16(p)
		k := int(p[2])
		p = p[3:]
		for range k {
			var idx int
			if flags&1 != 0 {
				idx = int(binary.BigEndian.Uint16(p) & 0x7FFF)
				p = p[2:]
			} else {
				idx = int(p[0] & 0x7F)
				p = p[1:]
			}
			if id == primary && idx > 0 {
				props = append(props, ipco[idx-1])
			}
		}
	}
	iloc := meta["iloc"][0]
	if iloc[8] > 1 {
		return "", nil, nil, fmt.Errorf("iloc version %d", iloc[8])
	}
	v := iloc[8]
	s := binary.BigEndian.Uint16(iloc[12:])
	offSize, lenSize, baseSize := int(s>>12), int(s>>8&15), int(s>>4&15)
	q := iloc[16:]
	rd := func(n int) uint64 {
		var x uint64
		for i := range n {
			x = x<<8 | uint64(q[i])
		}
		q = q[n:]
		return x
	}
	for range binary.BigEndian.Uint16(iloc[14:]) {
		id := uint16(rd(2))
		if v == 1 {
			rd(2)
		}
		rd(2)
		base := rd(baseSize)
		ne := int(rd(2))
		for range ne {
			o, n := rd(offSize), rd(lenSize)
			if id == primary {
				data = append(data, file[base+o:base+o+n]...)
			}
		}
	}
	if typ == "" || data == nil {
		return "", nil, nil, errors.New("no primary item data")
	}
	return typ, props, data, nil
}

func boxListOf(b []byte) ([][]byte, error) {
	var l [][]byte
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, errors.New("cut-off box")
		}
		n := int(binary.BigEndian.Uint32(b))
		if n < 8 || n > len(b) {
			return nil, fmt.Errorf("box size %d", n)
		}
		l = append(l, b[:n])
		b = b[n:]
	}
	return l, nil
}
