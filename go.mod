module github.com/imagepipe/imagepipe

go 1.26.0

require (
	github.com/disintegration/imaging v1.6.2
	golang.org/x/image v0.47.0
)
