package hostile

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"hash/crc32"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// pngOfZeros writes a w x h PNG of the given color type and bit depth whose
// pixels are all zero, streaming the rows through zlib so that making a
// 50-megapixel file costs no image buffer.
func pngOfZeros(t *testing.T, w, h int, colorType, depth byte) []byte {
	t.Helper()
	var out bytes.Buffer
	chunk := func(kind string, data []byte) {
		_ = binary.Write(&out, binary.BigEndian, uint32(len(data)))
		crc := crc32.NewIEEE()
		crc.Write([]byte(kind))
		crc.Write(data)
		out.WriteString(kind)
		out.Write(data)
		_ = binary.Write(&out, binary.BigEndian, crc.Sum32())
	}
	out.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = depth, colorType
	chunk("IHDR", ihdr)
	channels := map[byte]int{0: 1, 2: 3, 4: 2, 6: 4}[colorType]
	row := make([]byte, 1+w*channels*int(depth)/8) // filter type 0, then zeros
	var idat bytes.Buffer
	z, err := zlib.NewWriterLevel(&idat, zlib.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	for range h {
		if _, err := z.Write(row); err != nil {
			t.Fatal(err)
		}
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	chunk("IDAT", idat.Bytes())
	chunk("IEND", nil)
	return out.Bytes()
}

// TestWorstCaseWithinLimitsFitsTheFunction: the largest image the default
// limits accept, in the format that costs most to decode (16-bit RGBA PNG, 8
// bytes a pixel), must be processed within the resize function's default
// memory, with room for the runtime. An input that passes every limit and then
// kills the function with out-of-memory would not be recorded as failed: its
// whole batch would be retried until it reached the DLQ. The file is a few
// hundred kilobytes: a decompression bomb the limits must defuse.
func TestWorstCaseWithinLimitsFitsTheFunction(t *testing.T) {
	s := settings.Default()
	side := int(math.Sqrt(float64(s.Limits.MaxPixels)))
	data := pngOfZeros(t, side, side, 6, 16)
	t.Logf("%dx%d 16-bit RGBA PNG, %d bytes (%.0f MB decoded)", side, side, len(data), float64(side*side*8)/(1<<20))
	engine, err := imagecore.NewEngine(s.Limits, s.Variants)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	peak := base.HeapInuse
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	res, err := engine.Process(context.Background(), data)
	close(stop)
	<-done
	if err != nil {
		t.Fatalf("the largest image the limits allow was refused: %v", err)
	}
	if res.Source.Width != side || len(res.Outputs) != len(s.Variants) {
		t.Fatalf("result %+v", res.Source)
	}
	budget := uint64(s.Resize.MemoryMB) << 20 * 85 / 100 // the rest for the runtime, stacks and the binary
	t.Logf("peak heap in use %d MB (budget %d MB of the function's %d MB)", peak>>20, budget>>20, s.Resize.MemoryMB)
	if peak > budget {
		t.Errorf("processing the worst case within the limits peaked at %d MB of heap, over %d MB (85%% of the function's %d MB): lower Limits.MaxPixels or raise Resize.MemoryMB",
			peak>>20, budget>>20, s.Resize.MemoryMB)
	}
}
