package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/resize"
)

// runResize runs the resize function's engine, with the configuration the
// function reads from its environment (VARIANTS, MAX_UPLOAD_BYTES, MAX_PIXELS,
// MAX_SIDE), on local files.
func runResize(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("resize", flag.ContinueOnError)
	out := fs.String("o", "", "directory to write the variants to (required)")
	naive := fs.Bool("naive", false, "use the reference pipeline (full-size imaging Lanczos per variant) instead of the engine, for comparison")
	quiet := fs.Bool("q", false, "print only errors")
	repeat := fs.Int("repeat", 1, "process each file this many times in this process and print its warm CPU time per run (for imagepipe bench)")
	encodes := fs.Bool("encodes", false, "with -repeat, also time each variant's encodes alone (primary and alternates), -repeat times each, on the engine's own pixels")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: imagepipe resize [-naive] [-q] -o DIR FILE...\n\n"+
			"Makes every variant of each FILE with the resize function's engine and writes\n"+
			"DIR/<file name>_<variant>.<ext>. The variant set and limits come from the same\n"+
			"environment variables the function reads (VARIANTS, MAX_UPLOAD_BYTES, MAX_PIXELS, MAX_SIDE).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *repeat < 1 {
		return fmt.Errorf("-repeat must be at least 1, got %d", *repeat)
	}
	if *encodes && (*repeat < 2 || *naive) {
		return errors.New("-encodes needs -repeat 2 or more and the engine (not -naive)")
	}
	if *out == "" || fs.NArg() == 0 {
		fs.Usage()
		return errors.New("need -o DIR and at least one FILE")
	}
	limits, variants, err := resize.EngineSettingsFromEnv(os.Getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	engine, err := imagecore.NewEngine(limits, variants)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	process := func(data []byte) (*imagecore.Result, error) { return engine.Process(ctx, data) }
	if *naive {
		process = engine.ProcessReference
	}
	stdout := io.Writer(os.Stdout)
	if *quiet {
		stdout = io.Discard
	}
	var failed int
	for _, file := range fs.Args() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if *repeat > 1 && !*naive {
			// Before the first run, as the function does before an image's
			// budget: the one-off WASM compile is reported on its own.
			if err := compileRun(engine, file, os.Stdout); err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", file, err)
				failed++
				continue
			}
		}
		if err := resizeFile(file, *out, process, stdout); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", file, err)
			failed++
			continue
		}
		if *repeat > 1 {
			if err := warmRuns(ctx, file, *repeat, process, os.Stdout); err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", file, err)
				failed++
				continue
			}
		}
		if *encodes {
			if err := encodeRuns(ctx, engine, file, *repeat, os.Stdout); err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", file, err)
				failed++
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d files failed", failed, fs.NArg())
	}
	return nil
}

func resizeFile(file, dir string, process func([]byte) (*imagecore.Result, error), w io.Writer) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := process(data)
	elapsed := time.Since(start)
	if err != nil {
		return err
	}
	s := res.Source
	fmt.Fprintf(w, "%s: %s %dx%d (orientation %d), %d bytes, %d variants in %s\n",
		file, s.Format, s.Width, s.Height, s.Orientation, len(data), len(res.Outputs), elapsed.Round(time.Millisecond))
	base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	for _, o := range res.Outputs {
		name := filepath.Join(dir, fmt.Sprintf("%s_%s.%s", base, o.Name, o.Format.Ext()))
		if err := os.WriteFile(name, o.Data, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(w, "  %-8s %4dx%-4d %-4s %8d bytes  %s\n", o.Name, o.Width, o.Height, o.Format, len(o.Data), name)
		for _, a := range o.Alternates {
			name := filepath.Join(dir, fmt.Sprintf("%s_%s.%s", base, o.Name, a.Format.Ext()))
			if err := os.WriteFile(name, a.Data, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(w, "  %-8s %4dx%-4d %-4s %8d bytes  %s\n", o.Name, o.Width, o.Height, a.Format, len(a.Data), name)
		}
	}
	return nil
}
