package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/imagepipe/imagepipe/shared/imagecore"
)

// warmRuns processes file n more times in this process, after the run that wrote
// its outputs, and prints one line the bench parses: the median CPU time
// (user+system, this process) and wall time per run. A warm process is how a Lambda
// instance works after its first image, and how sharp is measured beside it.
func warmRuns(ctx context.Context, file string, n int, process func([]byte) (*imagecore.Result, error), w io.Writer) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	cpus := make([]time.Duration, 0, n)
	walls := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		cpu, wall, err := timed(func() error { _, err := process(data); return err })
		if err != nil {
			return err
		}
		walls = append(walls, wall)
		cpus = append(cpus, cpu)
	}
	fmt.Fprintf(w, "warm cpu_us=%d wall_us=%d runs=%d rss_kb=%d\n", medianDuration(cpus).Microseconds(), medianDuration(walls).Microseconds(), n, peakRSSKB())
	return nil
}

// compileRun makes the engine's WASM codecs for file ready (Engine.Prepare)
// and prints that one-off cost of a process: "compile cpu_us=N wall_us=N".
func compileRun(e *imagecore.Engine, file string, w io.Writer) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	cpu, wall, _ := timed(func() error { e.Prepare(data); return nil })
	fmt.Fprintf(w, "compile cpu_us=%d wall_us=%d\n", cpu.Microseconds(), wall.Microseconds())
	return nil
}

// encodeRuns times each variant's encodes alone, n times each, on the pixels
// the engine encodes (Engine.VariantImages): the primary and every
// alternate of the variant. One line each, in variant order:
// "encode variant=NAME format=F width=W height=H cpu_us=N bytes=N runs=N".
// At GOMAXPROCS=1 the process's CPU time around one encode is that encode's.
func encodeRuns(ctx context.Context, e *imagecore.Engine, file string, n int, w io.Writer) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	images, _, err := e.VariantImages(ctx, data)
	if err != nil {
		return err
	}
	for _, vi := range images {
		v := vi.Variant
		b := vi.Image.Bounds()
		for _, f := range append([]imagecore.Format{vi.PrimaryFormat()}, v.Formats...) {
			cpus := make([]time.Duration, 0, n)
			var size int
			for range n {
				if err := ctx.Err(); err != nil {
					return err
				}
				cpu, _, err := timed(func() error {
					out, err := vi.Encode(f)
					size = len(out)
					return err
				})
				if err != nil {
					return fmt.Errorf("variant %s: %w", v.Name, err)
				}
				cpus = append(cpus, cpu)
			}
			fmt.Fprintf(w, "encode variant=%s format=%s width=%d height=%d cpu_us=%d bytes=%d runs=%d\n",
				v.Name, f, b.Dx(), b.Dy(), medianDuration(cpus).Microseconds(), size, n)
		}
	}
	return nil
}

// timed runs f and returns the process CPU time (user+system) and wall time it took.
func timed(f func() error) (cpu, wall time.Duration, err error) {
	c0, t0 := processCPU(), time.Now()
	err = f()
	return processCPU() - c0, time.Since(t0), err
}

// peakRSSKB is this process's own peak resident set (VmHWM). getrusage's
// maxrss is no good for a child here: Linux carries the parent's RSS at fork
// over into it.
func peakRSSKB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func medianDuration(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
