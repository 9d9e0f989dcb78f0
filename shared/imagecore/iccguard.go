package imagecore

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The ICC library parses a tag as its header says, and some of its
// allocations come straight from header fields (a tag count, a curve's point
// count). checkICC walks the structure first, with every size checked against
// the bytes that are really there, so a hostile profile is refused before any
// of that runs: what the library can then allocate is bounded by the
// profile's length, which is bounded by maxICCBytes.

const (
	// maxICCBytes bounds an embedded profile. Real ones are a few hundred
	// bytes (matrix/TRC) to about 4 MB (the largest press CMYK LUT profiles).
	maxICCBytes = 8 << 20
	// maxICCTags bounds the tag table; real profiles have 10 to 40 tags.
	maxICCTags = 200
	// maxICCCurvePoints bounds a sampled curve; real ones have up to 4096.
	maxICCCurvePoints = 1 << 16
)

var errICCMalformed = errors.New("icc: malformed profile")

func iccErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errICCMalformed}, args...)...)
}

// Profile classes, colour spaces and tag types the engine reads.
const (
	iccSigAcsp = 0x61637370 // 'acsp'
	iccSigRGB  = 0x52474220 // 'RGB '
	iccSigGray = 0x47524159 // 'GRAY'
	iccSigCMYK = 0x434D594B // 'CMYK'
	iccSigXYZ  = 0x58595A20 // 'XYZ '
	iccSigLab  = 0x4C616220 // 'Lab '
	iccSigLink = 0x6C696E6B // 'link'
	iccSigAbst = 0x61627374 // 'abst'

	iccTypeCurv = 0x63757276 // 'curv'
	iccTypePara = 0x70617261 // 'para'
	iccTypeMft1 = 0x6D667431 // 'mft1'
	iccTypeMft2 = 0x6D667432 // 'mft2'
	iccTypeMAB  = 0x6D414220 // 'mAB '
	iccTypeMBA  = 0x6D424120 // 'mBA '
	iccTypeXYZ  = 0x58595A20 // 'XYZ '
	iccTypeSf32 = 0x73663332 // 'sf32'
)

// iccHeader is what the engine needs from a checked profile's header.
type iccHeader struct {
	colourSpace uint32 // iccSigRGB, iccSigGray or iccSigCMYK
	pcs         uint32
	major       int
}

func (h iccHeader) channels() int {
	switch h.colourSpace {
	case iccSigGray:
		return 1
	case iccSigCMYK:
		return 4
	}
	return 3
}

// checkICC validates the structure of an ICC profile and returns its header.
// It reads no more than the profile's own bytes and allocates nothing.
func checkICC(b []byte) (iccHeader, error) {
	var h iccHeader
	if len(b) < 132 {
		return h, iccErr("%d bytes, shorter than a header and tag count", len(b))
	}
	if len(b) > maxICCBytes {
		return h, iccErr("%d bytes, over the limit of %d", len(b), maxICCBytes)
	}
	be := binary.BigEndian
	if size := be.Uint32(b); uint64(size) > uint64(len(b)) || size < 132 {
		return h, iccErr("header says %d bytes, the profile has %d", size, len(b))
	}
	if be.Uint32(b[36:]) != iccSigAcsp {
		return h, iccErr("no 'acsp' signature")
	}
	h.major = int(b[8])
	h.colourSpace, h.pcs = be.Uint32(b[16:]), be.Uint32(b[20:])
	switch h.colourSpace {
	case iccSigRGB, iccSigGray, iccSigCMYK:
	default:
		return h, iccErr("colour space %q is not RGB, gray or CMYK", sig4(h.colourSpace))
	}
	if h.pcs != iccSigXYZ && h.pcs != iccSigLab {
		return h, iccErr("connection space %q is not XYZ or Lab", sig4(h.pcs))
	}
	if c := be.Uint32(b[12:]); c == iccSigLink || c == iccSigAbst {
		return h, iccErr("a %q profile cannot describe an image", sig4(c))
	}
	n := be.Uint32(b[128:])
	if n > maxICCTags {
		return h, iccErr("%d tags, over the limit of %d", n, maxICCTags)
	}
	tableEnd := 132 + 12*int(n)
	if tableEnd > len(b) {
		return h, iccErr("the tag table runs past the end")
	}
	for i := range int(n) {
		e := b[132+12*i:]
		sig, off, size := be.Uint32(e), uint64(be.Uint32(e[4:])), uint64(be.Uint32(e[8:]))
		if off < uint64(tableEnd) || size < 8 || off+size > uint64(len(b)) {
			return h, iccErr("tag %q at %d+%d lies outside the profile's %d bytes", sig4(sig), off, size, len(b))
		}
		if err := checkICCTag(b[off : off+size]); err != nil {
			return h, fmt.Errorf("tag %q: %w", sig4(sig), err)
		}
	}
	return h, nil
}

// checkICCTag checks the tag types the library turns into transforms.
func checkICCTag(t []byte) error {
	be := binary.BigEndian
	switch be.Uint32(t) {
	case iccTypeCurv, iccTypePara:
		_, err := checkICCCurve(t)
		return err
	case iccTypeXYZ:
		if len(t) < 20 {
			return iccErr("XYZ tag of %d bytes", len(t))
		}
	case iccTypeSf32:
		if len(t) < 8+36 {
			return iccErr("sf32 tag of %d bytes", len(t))
		}
	case iccTypeMft1, iccTypeMft2:
		return checkICCMft(t)
	case iccTypeMAB, iccTypeMBA:
		return checkICCModular(t)
	}
	return nil
}

// checkICCCurve checks one curv or para element and returns its length
// padded to 4 bytes, as elements of lutAtoB/lutBtoA tags are laid out.
func checkICCCurve(t []byte) (int, error) {
	be := binary.BigEndian
	if len(t) < 12 {
		return 0, iccErr("curve of %d bytes", len(t))
	}
	var n int
	switch be.Uint32(t) {
	case iccTypeCurv:
		count := uint64(be.Uint32(t[8:]))
		if count > maxICCCurvePoints {
			return 0, iccErr("curve of %d points, over the limit of %d", count, maxICCCurvePoints)
		}
		n = 12 + 2*int(count)
	case iccTypePara:
		params := [...]int{1, 3, 4, 5, 7}
		ft := int(be.Uint16(t[8:]))
		if ft >= len(params) {
			return 0, iccErr("parametric curve of unknown function type %d", ft)
		}
		n = 12 + 4*params[ft]
	default:
		return 0, iccErr("element %q is not a curve", sig4(be.Uint32(t)))
	}
	if n > len(t) {
		return 0, iccErr("curve needs %d bytes, has %d", n, len(t))
	}
	return (n + 3) &^ 3, nil
}

// checkICCMft checks an lut8Type or lut16Type tag.
func checkICCMft(t []byte) error {
	be := binary.BigEndian
	if len(t) < 48 {
		return iccErr("lut tag of %d bytes", len(t))
	}
	in, out, grid := int(t[8]), int(t[9]), int(t[10])
	if in < 1 || in > 4 || out < 1 || out > 4 {
		return iccErr("lut tag with %d inputs and %d outputs", in, out)
	}
	if grid < 2 {
		return iccErr("lut tag with a %d-point grid", grid)
	}
	inEntries, outEntries, width := 256, 256, 1
	body := 48
	if be.Uint32(t) == iccTypeMft2 {
		if len(t) < 52 {
			return iccErr("lut16 tag of %d bytes", len(t))
		}
		inEntries, outEntries, width = int(be.Uint16(t[48:])), int(be.Uint16(t[50:])), 2
		if inEntries < 2 || inEntries > 4096 || outEntries < 2 || outEntries > 4096 {
			return iccErr("lut16 tag with %d input and %d output table entries", inEntries, outEntries)
		}
		body = 52
	}
	need := uint64(body) + uint64(width)*(uint64(in*inEntries)+gridPoints(grid, in)*uint64(out)+uint64(out*outEntries))
	if need > uint64(len(t)) {
		return iccErr("lut tag needs %d bytes, has %d", need, len(t))
	}
	return nil
}

func gridPoints(g, dims int) uint64 {
	n := uint64(1)
	for range dims {
		n *= uint64(g)
	}
	return n
}

// checkICCModular checks a lutAtoBType or lutBtoAType tag: every element
// offset inside the tag, every curve and the CLUT's size against its bytes.
func checkICCModular(t []byte) error {
	be := binary.BigEndian
	if len(t) < 32 {
		return iccErr("lutAtoB tag of %d bytes", len(t))
	}
	in, out := int(t[8]), int(t[9])
	if in < 1 || in > 4 || out < 1 || out > 4 {
		return iccErr("lutAtoB tag with %d inputs and %d outputs", in, out)
	}
	// Offsets of the B curves, the matrix, the M curves, the CLUT and the A curves.
	offB, offMatrix, offM, offCLUT, offA := be.Uint32(t[12:]), be.Uint32(t[16:]), be.Uint32(t[20:]), be.Uint32(t[24:]), be.Uint32(t[28:])
	// Per element: where it is and how many curves it holds. For A to B the
	// A curves face the inputs and B and M the outputs; B to A is reversed.
	aCurves, bCurves := in, out
	if be.Uint32(t) == iccTypeMBA {
		aCurves, bCurves = out, in
	}
	curves := func(off uint32, n int) error {
		if off == 0 {
			return nil
		}
		p := uint64(off)
		for range n {
			if p >= uint64(len(t)) {
				return iccErr("curves at %d run past the tag's %d bytes", off, len(t))
			}
			l, err := checkICCCurve(t[p:])
			if err != nil {
				return err
			}
			p += uint64(l)
		}
		return nil
	}
	if err := curves(offB, bCurves); err != nil {
		return err
	}
	if err := curves(offM, bCurves); err != nil {
		return err
	}
	if err := curves(offA, aCurves); err != nil {
		return err
	}
	if offMatrix != 0 && uint64(offMatrix)+48 > uint64(len(t)) { // the matrix element: 12 s15Fixed16
		return iccErr("matrix at %d runs past the tag's %d bytes", offMatrix, len(t))
	}
	if offCLUT != 0 {
		if uint64(offCLUT)+20 > uint64(len(t)) {
			return iccErr("CLUT at %d runs past the tag's %d bytes", offCLUT, len(t))
		}
		c := t[offCLUT:]
		dims, outs := in, out // in both directions the CLUT maps the tag's inputs to its outputs
		n := uint64(1)
		for i := range dims {
			g := uint64(c[i])
			if g < 2 {
				return iccErr("CLUT with %d points on input %d", g, i)
			}
			n *= g
		}
		width := uint64(c[16])
		if width != 1 && width != 2 {
			return iccErr("CLUT with %d-byte samples", width)
		}
		if need := 20 + n*uint64(outs)*width; need > uint64(len(c)) {
			return iccErr("CLUT needs %d bytes, has %d", need, len(c))
		}
	}
	return nil
}

func sig4(s uint32) string {
	b := []byte{byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)}
	for i, c := range b {
		if c < 0x20 || c > 0x7E {
			b[i] = '?'
		}
	}
	return string(b)
}
