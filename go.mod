module github.com/imagepipe/imagepipe

go 1.26.0
