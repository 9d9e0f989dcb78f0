package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
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
	fmt.Fprintf(w, "warm cpu_us=%d wall_us=%d runs=%d\n", medianDuration(cpus).Microseconds(), medianDuration(walls).Microseconds(), n)
	return nil
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
