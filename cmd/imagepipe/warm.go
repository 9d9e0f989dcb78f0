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
		c0, t0 := processCPU(), time.Now()
		if _, err := process(data); err != nil {
			return err
		}
		walls = append(walls, time.Since(t0))
		cpus = append(cpus, processCPU()-c0)
	}
	fmt.Fprintf(w, "warm cpu_us=%d wall_us=%d runs=%d rss_kb=%d\n", medianDuration(cpus).Microseconds(), medianDuration(walls).Microseconds(), n, peakRSSKB())
	return nil
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
