package hostile

import (
	"bytes"
	"encoding/binary"
)

// heifFiles are hostile HEIF/AVIF containers. The coded data in them is junk:
// all but the last two must be refused from the boxes alone, before any
// decoder runs.
func heifFiles() []File {
	junk := bytes.Repeat([]byte{0xA5, 0x5A}, 64)
	hvcC := BoxOf("hvcC", junk[:23])
	av1C := BoxOf("av1C", []byte{0x81, 0x00, 0x0C, 0x00})
	single := func(brand, typ string, w, h uint32, codecProp []byte) HEIF {
		compat := []string{"mif1", brand}
		return HEIF{Brand: brand, Compat: compat, Primary: 1,
			Items: []HEIFItem{{ID: 1, Type: typ, Data: junk, Props: [][]byte{codecProp, Ispe(w, h)}}}}
	}
	ftyp := BoxOf("ftyp", []byte("heic"), u32(0), []byte("mif1heic"))

	hugeMeta := append(append([]byte(nil), ftyp...), 0xFF, 0xFF, 0xFF, 0xF0, 'm', 'e', 't', 'a', 0, 0, 0, 0)
	largesize := append(append([]byte(nil), ftyp...), 0, 0, 0, 1, 'm', 'e', 't', 'a')
	largesize = binary.BigEndian.AppendUint64(largesize, 1<<62)
	largesize = append(largesize, 0, 0, 0, 0)
	// A box of 4 bytes (less than its own header) inside meta: a parser
	// that advances by the declared size would never move.
	loop := append(append([]byte(nil), ftyp...), FullBoxOf("meta", 0, 0, []byte{0, 0, 0, 4, 'f', 'r', 'e', 'e'}, make([]byte, 8))...)

	// iinf claiming 100,000 items, with two present.
	manyItems := single("heic", "hvc1", 64, 64, hvcC).Build()
	manyItems = patchCount(manyItems, "iinf", 100000)

	// A grid of 100,000 tiles: two dimg boxes of 50,000 references each,
	// their IDs not present (the counts alone must refuse it).
	grid := HEIF{Brand: "heic", Compat: []string{"mif1", "heic"}, Primary: 1,
		Items: []HEIFItem{{ID: 1, Type: "grid", Data: GridData(256, 256, 65535, 65535), Props: [][]byte{Ispe(65535, 65535)}},
			{ID: 2, Type: "hvc1", Hidden: true, Data: junk, Props: [][]byte{hvcC, Ispe(256, 256)}}},
		Refs: []HEIFRef{{Type: "dimg", From: 1, To: []uint32{2}}, {Type: "dimg", From: 1, To: []uint32{2}}}}
	tiles := grid.Build()
	tiles = patchDimg(tiles, 50000)

	// A grid whose descriptor says 4x4 tiles over 4 references.
	mismatch := HEIF{Brand: "heic", Compat: []string{"mif1", "heic"}, Primary: 1,
		Items: []HEIFItem{{ID: 1, Type: "grid", Data: GridData(4, 4, 256, 256), Props: [][]byte{Ispe(256, 256)}}},
		Refs:  []HEIFRef{{Type: "dimg", From: 1, To: []uint32{2, 3, 4, 5}}}}
	for id := uint32(2); id <= 5; id++ {
		mismatch.Items = append(mismatch.Items, HEIFItem{ID: id, Type: "hvc1", Hidden: true, Data: junk, Props: [][]byte{hvcC, Ispe(64, 64)}})
	}

	// Four 4096x4096 tiles cropped to a 100x100 output: a cheap-looking
	// picture whose decode would cost 67 megapixels.
	hugeTiles := HEIF{Brand: "heic", Compat: []string{"mif1", "heic"}, Primary: 1,
		Items: []HEIFItem{{ID: 1, Type: "grid", Data: GridData(2, 2, 100, 100), Props: [][]byte{Ispe(100, 100)}}},
		Refs:  []HEIFRef{{Type: "dimg", From: 1, To: []uint32{2, 3, 4, 5}}}}
	for id := uint32(2); id <= 5; id++ {
		hugeTiles.Items = append(hugeTiles.Items, HEIFItem{ID: id, Type: "hvc1", Hidden: true, Data: junk, Props: [][]byte{hvcC, Ispe(4096, 4096)}})
	}

	// The grid descriptor's extent points past the end of the file.
	pastEnd := HEIF{Brand: "heic", Compat: []string{"mif1", "heic"}, Primary: 1,
		Items: []HEIFItem{{ID: 1, Type: "grid", Data: GridData(1, 1, 64, 64), Props: [][]byte{Ispe(64, 64)}},
			{ID: 2, Type: "hvc1", Data: junk, Props: [][]byte{hvcC, Ispe(64, 64)}}},
		Refs: []HEIFRef{{Type: "dimg", From: 1, To: []uint32{2}}}}.Build()
	pastEnd = pastEnd[:len(pastEnd)-len(junk)-8] // mdat's grid descriptor and tile gone

	missingProp := single("heic", "hvc1", 64, 64, hvcC).Build()
	missingProp = patchFirstAssoc(missingProp, 200)

	noMeta := append(append([]byte(nil), ftyp...), BoxOf("mdat", junk)...)
	truncated := single("avif", "av01", 64, 64, av1C).Build()
	truncated = truncated[:len(truncated)/2]

	return []File{
		{"heif-meta-4gb.heic", "an ftyp and a meta box claiming 4 GB, 4 bytes of it present", hugeMeta},
		{"heif-largesize-2e62.heic", "a meta box with a 64-bit size of 2^62", largesize},
		{"heif-box-size-4.heic", "a box inside meta declaring 4 bytes, less than its header (a parser loop)", loop},
		{"heif-iinf-100000-items.heic", "iinf declaring 100,000 items", manyItems},
		{"heif-grid-100000-tiles.heic", "a 65535x65535 grid of 256x256 tiles referencing 100,000 tiles in two dimg boxes", tiles},
		{"heif-grid-count-mismatch.heic", "a grid descriptor of 4x4 tiles over 4 tile references", mismatch.Build()},
		{"heif-grid-huge-tiles.heic", "a 2x2 grid of 4096x4096 tiles cropped to a 100x100 output", hugeTiles.Build()},
		{"heif-extent-past-end.heic", "a grid whose descriptor's iloc extent lies past the end of the file", pastEnd},
		{"heif-missing-property.heic", "the primary item associated with property 200 of 2", missingProp},
		{"heif-no-meta.heic", "an ftyp and an mdat, no meta box", noMeta},
		{"avif-truncated.avif", "the first half of an AVIF", truncated},
		{"avif-ispe-60000x60000.avif", "an AVIF whose ispe declares 60000x60000 (3.6 Gpx), junk AV1 data", single("avif", "av01", 60000, 60000, av1C).Build()},
		{"avif-ispe-4294967295x1.avif", "an AVIF whose ispe declares 4294967295x1", single("avif", "av01", 0xFFFFFFFF, 1, av1C).Build()},
		{"heic-ispe-0x0.heic", "a HEIC whose ispe declares 0x0", single("heic", "hvc1", 0, 0, hvcC).Build()},
		{"heic-junk-hevc-64x64.heic", "a well-formed 64x64 HEIC container around junk HEVC data: the decoder must refuse it", single("heic", "hvc1", 64, 64, hvcC).Build()},
		{"avif-junk-av1-64x64.avif", "a well-formed 64x64 AVIF container around junk AV1 data: the decoder must refuse it", single("avif", "av01", 64, 64, av1C).Build()},
	}
}

// patchCount rewrites the 16-bit entry count of the first full box typ.
func patchCount(b []byte, typ string, n int) []byte {
	i := bytes.Index(b, []byte(typ))
	out := append([]byte(nil), b...)
	// iinf version 0 has a 16-bit count; make it version 1 (32 bits) by
	// moving nothing: the count field grows into the first infe's size,
	// which the parser must never reach.
	out[i+4] = 1
	binary.BigEndian.PutUint32(out[i+8:], uint32(n))
	return out
}

// patchDimg makes every dimg reference box claim n references, without the
// IDs to back them.
func patchDimg(b []byte, n int) []byte {
	out := append([]byte(nil), b...)
	for off := 0; ; {
		i := bytes.Index(out[off:], []byte("dimg"))
		if i < 0 {
			return out
		}
		binary.BigEndian.PutUint16(out[off+i+6:], uint16(n))
		off += i + 4
	}
}

// patchFirstAssoc points the first ipma association at property idx.
func patchFirstAssoc(b []byte, idx int) []byte {
	i := bytes.Index(b, []byte("ipma"))
	out := append([]byte(nil), b...)
	// ipma: type, version+flags(4), entry count(4), item ID(2), count(1), index(2)
	binary.BigEndian.PutUint16(out[i+4+4+4+2+1:], uint16(idx))
	return out
}
