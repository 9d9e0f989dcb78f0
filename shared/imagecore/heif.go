package imagecore

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// HEIF (HEIC) and AVIF are ISO base media files (ISO/IEC 14496-12) holding
// still images as items (ISO/IEC 23008-12). This parser reads only the
// boxes that say what the primary image is and how big it will be, from
// untrusted bytes: every box size is checked against the bytes that remain,
// nesting is bounded, and so are the counts of items, properties,
// associations and references, so a hostile file costs little before it is
// refused. The codecs themselves (libheif, libavif in WASM) only ever see a
// file whose declared size has passed the limits.

// Bounds on what a file may declare. Real files are far below them: an
// iPhone HEIC has about 50 items (48 tiles of 512x512), a 48 MP one about 200.
const (
	heifMaxBoxes      = 20000
	heifMaxItems      = 4096
	heifMaxProperties = 4096
	heifMaxAssocs     = 32 // properties associated with one item
	heifMaxRefs       = 4096
	// heifMaxTiles bounds a grid; 1024 tiles of 512x512 is 268 MP, far over
	// any pixel limit, so a grid refused here would be refused anyway.
	heifMaxTiles = 1024
	// heifMaxTileSide bounds one tile: libheif decodes each whole, so a grid
	// of huge tiles cropped to a small output would be a work bomb.
	heifMaxTileSide = 4096
)

// tileError is a grid whose tiles would cost more than its output: refused
// as too_complex rather than corrupt.
type tileError struct{ msg string }

func (e *tileError) Error() string { return "heif: " + e.msg }

// CICP is the colour description of an nclx colr box (ITU-T H.273 code points).
type CICP struct {
	Primaries, Transfer, Matrix uint16
	FullRange                   bool
}

// heifFile is what the parser learnt about a HEIF or AVIF file.
type heifFile struct {
	codec         string // "hvc1" (HEIC) or "av01" (AVIF): the coded items' type
	primary       uint32
	width, height int    // ispe of the primary item (for a grid, its output size)
	grid          bool   // the primary item is a grid of tiles
	tiles         int    // tiles of the grid
	orientation   int    // irot and imir of the primary, in ipma order, as an EXIF orientation
	alpha         uint32 // the item holding the primary's alpha plane, 0 if none
	premultiplied bool   // the alpha item says the colour is premultiplied (prem)
	icc           []byte // colr prof/rICC of the primary
	cicp          *CICP  // colr nclx of the primary
	depth         int    // bits per channel (pixi), 0 if not said
	// alphaPatches turn a copy of the file into one whose primary item is
	// the alpha plane (see alphaAsPrimary).
	alphaPatches []heifPatch
	// transformPatches hide the primary's irot, imir and clap from libheif
	// (see untransformed).
	transformPatches []heifPatch
}

// neutralize renames a property so decoders skip it, and clears its
// association's essential bit so they may.
func neutralize(p heifProp, assoc []byte) []heifPatch {
	name := []byte("x" + p.typ[1:])
	v := append([]byte(nil), assoc...)
	v[0] &^= 0x80
	return []heifPatch{{p.typField, name}, {assoc, v}}
}

// untransformed returns a copy of data in which libheif will not apply the
// primary's irot, imir or clap, optionally with the alpha item as primary.
// The packaged wrapper reads libheif's planes with strides computed for the
// coded size, which a rotated or cropped result does not have, so the
// engine turns the decoded picture itself (as it does for AVIF, where
// libavif never applies them). A clean aperture is not applied.
func (f *heifFile) untransformed(data []byte, alpha bool) []byte {
	patches := f.transformPatches
	if alpha {
		patches = append(append([]heifPatch(nil), patches...), f.alphaPatches...)
	}
	if len(patches) == 0 {
		return data
	}
	out := append([]byte(nil), data...)
	for _, p := range patches {
		off := cap(data) - cap(p.field)
		copy(out[off:off+len(p.field)], p.value)
	}
	return out
}

// heifPatch overwrites field, which aliases bytes of the parsed file, in a
// copy. Its offset is cap(file) - cap(field): fields are plain subslices of
// the file (never capped), and nothing appends to them.
type heifPatch struct {
	field, value []byte
}

// The alpha patches make the alpha item the primary image, visible, and no
// longer an auxiliary image: libheif as packaged decodes only the primary
// item's colour planes, so the alpha plane is decoded as an image of its own.
// Every patch keeps the file's layout (same sizes, same offsets): the fields
// alias the bytes parseHEIF read.

type heifItem struct {
	id     uint32
	typ    string
	hidden bool
	flags  []byte   // aliases the infe flags' last byte in the file
	props  []uint16 // ipco indexes, 1-based, in ipma order
	assocs [][]byte // aliases each association's bytes in ipma, as props
}

// heifProp is an item property: an ipco child box.
type heifProp = box

type heifRef struct {
	typ      string
	typField []byte // aliases the reference box's type in the file
	from     uint32
	to       []uint32
}

// heifError is a structural problem; the engine reports it as a corrupt file.
func heifError(format string, args ...any) error {
	return fmt.Errorf("heif: "+format, args...)
}

// box is one ISO BMFF box: its type and payload. typField aliases the type's
// four bytes in the file, so a copy can be patched (see alphaAsPrimary).
type box struct {
	typ      string
	typField []byte
	body     []byte
}

// boxReader walks sibling boxes in a byte range; each box's size is checked
// against what remains, so no size can point past the data.
type boxReader struct {
	b     []byte
	count *int
}

func (r *boxReader) next() (box, bool, error) {
	if len(r.b) == 0 {
		return box{}, false, nil
	}
	if *r.count++; *r.count > heifMaxBoxes {
		return box{}, false, heifError("more than %d boxes", heifMaxBoxes)
	}
	if len(r.b) < 8 {
		return box{}, false, heifError("a box header is cut off (%d bytes left)", len(r.b))
	}
	size := uint64(binary.BigEndian.Uint32(r.b))
	typ := string(r.b[4:8])
	hdr := uint64(8)
	switch size {
	case 0: // to the end of the enclosing range
		size = uint64(len(r.b))
	case 1:
		if len(r.b) < 16 {
			return box{}, false, heifError("box %q: the 64-bit size is cut off", printable(typ))
		}
		size = binary.BigEndian.Uint64(r.b[8:])
		hdr = 16
	}
	if size < hdr {
		return box{}, false, heifError("box %q declares %d bytes, less than its header", printable(typ), size)
	}
	if size > uint64(len(r.b)) {
		return box{}, false, heifError("box %q declares %d bytes but only %d remain", printable(typ), size, len(r.b))
	}
	bx := box{typ: typ, typField: r.b[4:8], body: r.b[hdr:size]}
	r.b = r.b[size:]
	return bx, true, nil
}

// printable keeps a hostile box type from putting control bytes in a message.
func printable(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7E {
			b[i] = '?'
		}
	}
	return string(b)
}

// cursor reads big-endian fields from a payload, remembering the first shortfall.
type cursor struct {
	b   []byte
	err error
}

func (c *cursor) take(n int) []byte {
	if c.err != nil {
		return nil
	}
	if n < 0 || n > len(c.b) {
		c.err = errors.New("field cut off")
		return nil
	}
	p := c.b[:n]
	c.b = c.b[n:]
	return p
}

func (c *cursor) u8() uint8 {
	p := c.take(1)
	if p == nil {
		return 0
	}
	return p[0]
}

func (c *cursor) u16() uint16 {
	p := c.take(2)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint16(p)
}

func (c *cursor) u32() uint32 {
	p := c.take(4)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint32(p)
}

// uN reads an unsigned field of n bytes (0, 4 or 8, as iloc sizes are).
func (c *cursor) uN(n int) uint64 {
	switch n {
	case 0:
		return 0
	case 4:
		return uint64(c.u32())
	case 8:
		p := c.take(8)
		if p == nil {
			return 0
		}
		return binary.BigEndian.Uint64(p)
	}
	c.err = fmt.Errorf("field size %d", n)
	return 0
}

// fullBox splits a full box's version and flags from its payload.
func fullBox(b []byte) (version uint8, flags uint32, rest []byte, err error) {
	if len(b) < 4 {
		return 0, 0, nil, errors.New("full box header cut off")
	}
	return b[0], binary.BigEndian.Uint32(b) & 0xFFFFFF, b[4:], nil
}

// Brands: an AVIF brand makes the file AVIF; a HEIF/HEVC brand makes it
// HEIC; mif1/msf1 alone are decided by the primary item's codec.
var (
	avifBrands = map[string]bool{"avif": true, "avis": true}
	heicBrands = map[string]bool{"heic": true, "heix": true, "heim": true, "heis": true, "hevc": true, "hevx": true, "hevm": true, "hevs": true}
	heifBrands = map[string]bool{"mif1": true, "msf1": true, "mif2": true, "miaf": true}
)

// ftypFormat names the format an ftyp box's brands claim: SourceAVIF,
// SourceHEIC, "heif" (a generic HEIF brand only) or "" (other ISO media).
// head may be a prefix of the file; brands past its end are not seen.
func ftypFormat(head []byte) string {
	if len(head) < 12 || string(head[4:8]) != "ftyp" {
		return ""
	}
	size := int(binary.BigEndian.Uint32(head))
	if size < 16 {
		size = 16
	}
	end := min(size, len(head))
	brands := []string{string(head[8:12])}
	for i := 16; i+4 <= end; i += 4 {
		brands = append(brands, string(head[i:i+4]))
	}
	generic := false
	for _, b := range brands {
		if avifBrands[b] {
			return SourceAVIF
		}
	}
	for _, b := range brands {
		if heicBrands[b] {
			return SourceHEIC
		}
		generic = generic || heifBrands[b]
	}
	if generic {
		return "heif"
	}
	return ""
}

// parseHEIF reads the structure of a HEIF or AVIF file. It decodes no pixels.
func parseHEIF(data []byte) (*heifFile, error) {
	count := 0
	top := boxReader{b: data, count: &count}
	first := true
	var meta []byte
	for {
		bx, ok, err := top.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if first && bx.typ != "ftyp" {
			return nil, heifError("the file does not start with an ftyp box")
		}
		first = false
		if bx.typ == "meta" {
			if meta != nil {
				return nil, heifError("more than one top-level meta box")
			}
			meta = bx.body
		}
	}
	if meta == nil {
		return nil, heifError("no meta box: an image sequence without a still image, or not an image")
	}
	return parseMeta(data, meta, &count)
}

func parseMeta(file, meta []byte, count *int) (*heifFile, error) {
	_, _, body, err := fullBox(meta)
	if err != nil {
		return nil, heifError("meta: %v", err)
	}
	var (
		handler  string
		primary  uint32
		pitmSeen bool
		pitmID   []byte
		items    = map[uint32]*heifItem{}
		props    []heifProp
		refs     []heifRef
		locs     map[uint32]heifLoc
		idat     []byte
	)
	r := boxReader{b: body, count: count}
	for {
		bx, ok, err := r.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		switch bx.typ {
		case "hdlr":
			_, _, b, err := fullBox(bx.body)
			if err != nil || len(b) < 8 {
				return nil, heifError("hdlr is cut off")
			}
			handler = string(b[4:8])
		case "pitm":
			v, _, b, err := fullBox(bx.body)
			if err != nil {
				return nil, heifError("pitm: %v", err)
			}
			c := cursor{b: b}
			n := 4
			if v == 0 {
				n = 2
			}
			pitmID = c.take(n)
			if c.err != nil {
				return nil, heifError("pitm is cut off")
			}
			if n == 2 {
				primary = uint32(binary.BigEndian.Uint16(pitmID))
			} else {
				primary = binary.BigEndian.Uint32(pitmID)
			}
			pitmSeen = true
		case "iinf":
			if err := parseIinf(bx.body, items, count); err != nil {
				return nil, err
			}
		case "iprp":
			if props, err = parseIprp(bx.body, items, count); err != nil {
				return nil, err
			}
		case "iref":
			if refs, err = parseIref(bx.body, count); err != nil {
				return nil, err
			}
		case "iloc":
			if locs, err = parseIloc(bx.body); err != nil {
				return nil, err
			}
		case "idat":
			idat = bx.body
		}
	}
	if handler != "pict" {
		return nil, heifError("the meta handler is %q, not pict (not an image file)", printable(handler))
	}
	if !pitmSeen {
		return nil, heifError("no primary item (pitm)")
	}
	item := items[primary]
	if item == nil {
		return nil, heifError("the primary item %d is not in iinf", primary)
	}
	// ipma may name items iinf does not have: they are ignored, but the
	// primary's associations must point at real properties.
	prop := func(it *heifItem, typ string) (heifProp, bool) {
		for _, i := range it.props {
			if int(i) <= len(props) && props[i-1].typ == typ {
				return props[i-1], true
			}
		}
		return heifProp{}, false
	}
	for _, i := range item.props {
		if int(i) > len(props) {
			return nil, heifError("the primary item's property %d is not in ipco (%d properties)", i, len(props))
		}
	}

	f := &heifFile{primary: primary, orientation: 1}
	ispe, ok := prop(item, "ispe")
	if !ok {
		return nil, heifError("the primary item has no ispe (image size)")
	}
	c := cursor{b: ispe.body}
	c.take(4)
	w, h := c.u32(), c.u32()
	if c.err != nil {
		return nil, heifError("ispe is cut off")
	}
	f.width, f.height = int(w), int(h) // int is 64 bits on every target: no overflow in w*h

	switch item.typ {
	case "hvc1", "av01":
		f.codec = item.typ
	case "grid":
		f.grid = true
		var tiles []uint32
		for _, rf := range refs {
			if rf.typ == "dimg" && rf.from == primary {
				tiles = append(tiles, rf.to...)
			}
		}
		if len(tiles) == 0 {
			return nil, heifError("the grid has no tiles (dimg)")
		}
		if len(tiles) > heifMaxTiles {
			return nil, heifError("the grid has %d tiles, over the limit of %d", len(tiles), heifMaxTiles)
		}
		rows, cols, ow, oh, err := gridDescriptor(file, idat, locs[primary])
		if err != nil {
			return nil, err
		}
		if rows*cols != len(tiles) {
			return nil, heifError("the grid is %dx%d but references %d tiles", cols, rows, len(tiles))
		}
		if ow != f.width || oh != f.height {
			return nil, heifError("the grid's output is %dx%d but its ispe says %dx%d", ow, oh, f.width, f.height)
		}
		f.tiles = len(tiles)
		var tw, th int
		for _, id := range tiles {
			t := items[id]
			if t == nil {
				return nil, heifError("grid tile %d is not in iinf", id)
			}
			// Every tile's size is declared and the same (HEIF 6.6.2.3.1), at
			// most 4096 a side, and the tiles cover the output with no spare
			// row or column: the decode then costs what the output's pixels do.
			tp, ok := prop(t, "ispe")
			if !ok || len(tp.body) < 12 {
				return nil, heifError("grid tile %d has no ispe", id)
			}
			w, h := int(binary.BigEndian.Uint32(tp.body[4:])), int(binary.BigEndian.Uint32(tp.body[8:]))
			if tw == 0 {
				tw, th = w, h
			}
			if w != tw || h != th || w < 1 || h < 1 || w > heifMaxTileSide || h > heifMaxTileSide {
				return nil, &tileError{fmt.Sprintf("grid tile %d is %dx%d (tiles must be equal, at most %d a side)", id, w, h, heifMaxTileSide)}
			}
			if t.typ != "hvc1" && t.typ != "av01" {
				return nil, heifError("grid tile %d is of type %q", id, printable(t.typ))
			}
			if f.codec == "" {
				f.codec = t.typ
			} else if f.codec != t.typ {
				return nil, heifError("grid tiles mix %s and %s", f.codec, t.typ)
			}
		}
		if cols*tw < f.width || rows*th < f.height || (cols-1)*tw >= f.width || (rows-1)*th >= f.height {
			return nil, &tileError{fmt.Sprintf("%dx%d tiles of %dx%d do not fit a %dx%d grid output", cols, rows, tw, th, f.width, f.height)}
		}
	default:
		return nil, heifError("the primary item is of type %q, not an HEVC or AV1 image or a grid", printable(item.typ))
	}

	// Transformative properties apply in ipma order (HEIF 6.5.10-12).
	o := orient{}
	for k, i := range item.props {
		p := props[i-1]
		switch p.typ {
		case "irot", "imir", "clap":
			f.transformPatches = append(f.transformPatches, neutralize(p, item.assocs[k])...)
		}
		switch p.typ {
		case "irot":
			if len(p.body) < 1 {
				return nil, heifError("irot is cut off")
			}
			o = o.rotateCW(4 - int(p.body[0]&3)) // irot turns anticlockwise
		case "imir":
			if len(p.body) < 1 {
				return nil, heifError("imir is cut off")
			}
			// 0: top and bottom exchanged, 1: left and right (HEIF 2nd
			// edition; libheif and libavif read it so).
			if p.body[0]&1 == 0 {
				o = o.flipV()
			} else {
				o = o.flipH()
			}
		case "colr":
			if err := f.readColr(p.body); err != nil {
				return nil, err
			}
		case "pixi":
			if len(p.body) >= 6 {
				f.depth = int(p.body[5])
			}
		}
	}
	f.orientation = o.exif()

	for _, rf := range refs {
		if rf.typ != "auxl" || !contains(rf.to, primary) {
			continue
		}
		a := items[rf.from]
		if a == nil {
			continue
		}
		if aux, ok := prop(a, "auxC"); ok && isAlphaAux(aux.body) {
			f.alpha = a.id
			id := make([]byte, 4)
			binary.BigEndian.PutUint32(id, a.id)
			f.alphaPatches = append(f.alphaPatches,
				heifPatch{pitmID, id[4-len(pitmID):]},
				heifPatch{a.flags, []byte{a.flags[0] &^ 1}})
			for _, ar := range refs {
				if ar.typ == "auxl" {
					f.alphaPatches = append(f.alphaPatches, heifPatch{ar.typField, []byte("xaux")})
				}
			}
			for _, pr := range refs {
				if pr.typ == "prem" && pr.from == primary && contains(pr.to, a.id) {
					f.premultiplied = true
				}
			}
			break
		}
	}
	return f, nil
}

func contains(ids []uint32, id uint32) bool {
	for _, v := range ids {
		if v == id {
			return true
		}
	}
	return false
}

func isAlphaAux(b []byte) bool {
	_, _, rest, err := fullBox(b)
	if err != nil {
		return false
	}
	for i, c := range rest {
		if c == 0 {
			rest = rest[:i]
			break
		}
	}
	s := string(rest)
	return s == "urn:mpeg:hevc:2015:auxid:1" || s == "urn:mpeg:mpegB:cicp:systems:auxiliary:alpha"
}

func (f *heifFile) readColr(b []byte) error {
	if len(b) < 4 {
		return heifError("colr is cut off")
	}
	switch string(b[:4]) {
	case "nclx":
		if len(b) < 11 {
			return heifError("colr nclx is cut off")
		}
		if f.cicp == nil {
			f.cicp = &CICP{
				Primaries: binary.BigEndian.Uint16(b[4:]),
				Transfer:  binary.BigEndian.Uint16(b[6:]),
				Matrix:    binary.BigEndian.Uint16(b[8:]),
				FullRange: b[10]&0x80 != 0,
			}
		}
	case "prof", "rICC":
		if f.icc == nil {
			f.icc = b[4:]
		}
	}
	return nil
}

func parseIinf(b []byte, items map[uint32]*heifItem, count *int) error {
	v, _, rest, err := fullBox(b)
	if err != nil {
		return heifError("iinf: %v", err)
	}
	c := cursor{b: rest}
	var n uint32
	if v == 0 {
		n = uint32(c.u16())
	} else {
		n = c.u32()
	}
	if c.err != nil {
		return heifError("iinf is cut off")
	}
	if n > heifMaxItems {
		return heifError("iinf declares %d items, over the limit of %d", n, heifMaxItems)
	}
	r := boxReader{b: c.b, count: count}
	for {
		bx, ok, err := r.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if bx.typ != "infe" {
			continue
		}
		if len(items) >= heifMaxItems {
			return heifError("more than %d items", heifMaxItems)
		}
		v, flags, rest, err := fullBox(bx.body)
		if err != nil {
			return heifError("infe: %v", err)
		}
		if v < 2 {
			continue // versions 0 and 1 describe files, not image items
		}
		c := cursor{b: rest}
		var id uint32
		if v == 2 {
			id = uint32(c.u16())
		} else {
			id = c.u32()
		}
		c.u16() // protection index
		typ := c.take(4)
		if c.err != nil {
			return heifError("infe is cut off")
		}
		if _, dup := items[id]; dup {
			return heifError("item %d is declared twice", id)
		}
		items[id] = &heifItem{id: id, typ: string(typ), hidden: flags&1 != 0, flags: bx.body[3:4]}
	}
	return nil
}

func parseIprp(b []byte, items map[uint32]*heifItem, count *int) ([]heifProp, error) {
	var props []heifProp
	r := boxReader{b: b, count: count}
	for {
		bx, ok, err := r.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		switch bx.typ {
		case "ipco":
			pr := boxReader{b: bx.body, count: count}
			for {
				p, ok, err := pr.next()
				if err != nil {
					return nil, err
				}
				if !ok {
					break
				}
				if len(props) >= heifMaxProperties {
					return nil, heifError("more than %d properties", heifMaxProperties)
				}
				props = append(props, p)
			}
		case "ipma":
			if err := parseIpma(bx.body, items); err != nil {
				return nil, err
			}
		}
	}
	return props, nil
}

func parseIpma(b []byte, items map[uint32]*heifItem) error {
	v, flags, rest, err := fullBox(b)
	if err != nil {
		return heifError("ipma: %v", err)
	}
	c := cursor{b: rest}
	n := c.u32()
	if n > heifMaxItems {
		return heifError("ipma declares %d items, over the limit of %d", n, heifMaxItems)
	}
	for range n {
		var id uint32
		if v < 1 {
			id = uint32(c.u16())
		} else {
			id = c.u32()
		}
		k := int(c.u8())
		if k > heifMaxAssocs {
			return heifError("item %d has %d properties, over the limit of %d", id, k, heifMaxAssocs)
		}
		if c.err != nil {
			return heifError("ipma is cut off")
		}
		var idx []uint16
		var fields [][]byte
		for range k {
			var i uint16
			var field []byte
			if flags&1 != 0 {
				field = c.take(2)
				if field != nil {
					i = binary.BigEndian.Uint16(field) & 0x7FFF
				}
			} else {
				field = c.take(1)
				if field != nil {
					i = uint16(field[0] & 0x7F)
				}
			}
			if i != 0 { // 0 means "no property"
				idx = append(idx, i)
				fields = append(fields, field)
			}
		}
		if c.err != nil {
			return heifError("ipma is cut off")
		}
		if it := items[id]; it != nil {
			it.props = append(it.props, idx...)
			it.assocs = append(it.assocs, fields...)
			if len(it.props) > heifMaxAssocs {
				return heifError("item %d has over %d properties", id, heifMaxAssocs)
			}
		}
	}
	return nil
}

func parseIref(b []byte, count *int) ([]heifRef, error) {
	v, _, rest, err := fullBox(b)
	if err != nil {
		return nil, heifError("iref: %v", err)
	}
	var refs []heifRef
	total := 0
	r := boxReader{b: rest, count: count}
	for {
		bx, ok, err := r.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		c := cursor{b: bx.body}
		id := func() uint32 {
			if v == 0 {
				return uint32(c.u16())
			}
			return c.u32()
		}
		rf := heifRef{typ: bx.typ, typField: bx.typField, from: id()}
		n := int(c.u16())
		if total += n; total > heifMaxRefs {
			return nil, heifError("more than %d item references", heifMaxRefs)
		}
		if n > len(c.b)/2 {
			return nil, heifError("iref %q declares %d references in %d bytes", printable(bx.typ), n, len(c.b))
		}
		for range n {
			rf.to = append(rf.to, id())
		}
		if c.err != nil {
			return nil, heifError("iref %q is cut off", printable(bx.typ))
		}
		refs = append(refs, rf)
	}
	return refs, nil
}

// heifLoc is where an item's bytes are: extents in the file or in idat.
type heifLoc struct {
	method  int // 0 file offsets, 1 idat
	extents [][2]uint64
}

func parseIloc(b []byte) (map[uint32]heifLoc, error) {
	v, _, rest, err := fullBox(b)
	if err != nil {
		return nil, heifError("iloc: %v", err)
	}
	if v > 2 {
		return nil, heifError("iloc version %d", v)
	}
	c := cursor{b: rest}
	s := c.u16()
	offSize, lenSize, baseSize := int(s>>12), int(s>>8&15), int(s>>4&15)
	idxSize := 0
	if v >= 1 {
		idxSize = int(s & 15)
	}
	var n uint32
	if v < 2 {
		n = uint32(c.u16())
	} else {
		n = c.u32()
	}
	if n > heifMaxItems {
		return nil, heifError("iloc declares %d items, over the limit of %d", n, heifMaxItems)
	}
	locs := make(map[uint32]heifLoc, min(n, 64))
	extents := 0
	for range n {
		var id uint32
		if v < 2 {
			id = uint32(c.u16())
		} else {
			id = c.u32()
		}
		method := 0
		if v >= 1 {
			method = int(c.u16() & 15)
		}
		c.u16() // data reference index
		base := c.uN(baseSize)
		ne := int(c.u16())
		if extents += ne; extents > heifMaxRefs {
			return nil, heifError("iloc declares over %d extents", heifMaxRefs)
		}
		if c.err != nil {
			return nil, heifError("iloc is cut off: %v", c.err)
		}
		loc := heifLoc{method: method}
		for range ne {
			if idxSize > 0 {
				c.uN(idxSize)
			}
			off := c.uN(offSize)
			ln := c.uN(lenSize)
			loc.extents = append(loc.extents, [2]uint64{base + off, ln})
		}
		if c.err != nil {
			return nil, heifError("iloc is cut off: %v", c.err)
		}
		locs[id] = loc
	}
	return locs, nil
}

// itemBytes returns a small item's bytes (a grid descriptor), bounded by max.
func itemBytes(file, idat []byte, loc heifLoc, max int) ([]byte, error) {
	src := file
	switch loc.method {
	case 0:
	case 1:
		src = idat
	default:
		return nil, heifError("item construction method %d is not supported", loc.method)
	}
	var out []byte
	for _, e := range loc.extents {
		off, n := e[0], e[1]
		if n == 0 { // to the end of the source
			if off > uint64(len(src)) {
				return nil, heifError("an item extent starts past the end of the data")
			}
			n = uint64(len(src)) - off
		}
		if off > uint64(len(src)) || n > uint64(len(src))-off {
			return nil, heifError("an item extent (%d bytes at %d) lies past the end of the data (%d bytes)", n, off, len(src))
		}
		if uint64(len(out))+n > uint64(max) {
			return nil, heifError("an item is larger than %d bytes", max)
		}
		out = append(out, src[off:off+n]...)
	}
	return out, nil
}

// gridDescriptor reads an ImageGrid item (HEIF 6.6.2.3.2).
func gridDescriptor(file, idat []byte, loc heifLoc) (rows, cols, w, h int, err error) {
	if len(loc.extents) == 0 {
		return 0, 0, 0, 0, heifError("the grid item has no data (iloc)")
	}
	b, err := itemBytes(file, idat, loc, 64)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	c := cursor{b: b}
	if v := c.u8(); v != 0 {
		return 0, 0, 0, 0, heifError("grid version %d", v)
	}
	flags := c.u8()
	rows, cols = int(c.u8())+1, int(c.u8())+1
	if flags&1 != 0 {
		w, h = int(c.u32()), int(c.u32())
	} else {
		w, h = int(c.u16()), int(c.u16())
	}
	if c.err != nil {
		return 0, 0, 0, 0, heifError("the grid descriptor is cut off")
	}
	return rows, cols, w, h, nil
}

// orient is an element of the square's symmetry group, kept as "flip left
// and right if flip, then turn rot quarter turns clockwise", which is how
// each EXIF orientation reads.
type orient struct {
	flip bool
	rot  int
}

func (o orient) rotateCW(k int) orient { return orient{o.flip, (o.rot + k) % 4} }

// flipH after o: a reflection reverses the turn before it (F R = R^-1 F).
func (o orient) flipH() orient { return orient{!o.flip, (4 - o.rot) % 4} }

// flipV is a left-right flip followed by a half turn.
func (o orient) flipV() orient { return o.flipH().rotateCW(2) }

func (o orient) exif() int {
	if o.flip {
		return [4]int{2, 7, 4, 5}[o.rot]
	}
	return [4]int{1, 6, 3, 8}[o.rot]
}
