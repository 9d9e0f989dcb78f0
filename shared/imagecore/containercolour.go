package imagecore

import "image"

// containerColour is the colour-management hook for HEIF and AVIF: icc is the
// primary item's colr ICC profile (prof or rICC), cicp its colr nclx, either
// or both nil; m is the decoded image (for AVIF already RGB by the nclx
// matrix; for HEIC RGB or JFIF YCbCr). It returns m in sRGB.
//
// The conversion is the colour engine's (colour.go), the same as for JPEG,
// PNG and WebP profiles.
func containerColour(m image.Image, icc []byte, c *CICP) (image.Image, []string) {
	src := colourSource{ICC: icc}
	if c != nil {
		src.CICP = &cicp{Primaries: c.Primaries, Transfer: c.Transfer, Matrix: c.Matrix, FullRange: c.FullRange}
	}
	return toSRGB(m, src)
}
