package imagecore

import (
	"fmt"
	"image"
)

// containerColour is the colour-management hook for HEIF and AVIF: icc is the
// primary item's colr ICC profile (prof or rICC), cicp its colr nclx, either
// or both nil; m is the decoded image (for AVIF already RGB by the nclx
// matrix; for HEIC RGB or JFIF YCbCr). It returns m in sRGB.
//
// The ICC engine (issue 11, colour management) implements the conversion. Until
// it lands, images that declare sRGB or nothing pass unchanged, and any other
// colour is kept as decoded with a note saying so, never silently.
func containerColour(m image.Image, icc []byte, cicp *CICP) (image.Image, []string) {
	switch {
	case icc != nil:
		return m, []string{fmt.Sprintf("the embedded %d-byte ICC profile was not applied; colours are as stored", len(icc))}
	case cicp != nil && !cicpIsSRGB(cicp):
		return m, []string{fmt.Sprintf("the colour space (CICP primaries %d, transfer %d) was not converted to sRGB; colours are as stored", cicp.Primaries, cicp.Transfer)}
	}
	return m, nil
}

// cicpIsSRGB: BT.709 primaries (or unspecified) with the sRGB, BT.709/601
// or unspecified transfer, which display as sRGB within rounding.
func cicpIsSRGB(c *CICP) bool {
	prim := c.Primaries == 1 || c.Primaries == 2
	tr := c.Transfer == 13 || c.Transfer == 1 || c.Transfer == 6 || c.Transfer == 2
	return prim && tr
}
