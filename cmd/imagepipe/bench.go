package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/imagepipe/imagepipe/shared/imagecore"
	"github.com/imagepipe/imagepipe/shared/resize"
)

// Lambda arm64 prices (us-east-1, first tier) used for the cost estimate.
const (
	lambdaArmPerGBSecond = 0.0000133334
	lambdaPerRequest     = 0.20 / 1e6
	// Lambda gives a function one full vCPU at 1769 MB and a proportional
	// share below that.
	lambdaMBPerVCPU = 1769
)

// runBench runs, in one process tree and interleaved, this binary's resize
// (the engine), its -naive reference pipeline and vipsthumbnail once per
// variant, on every photo, at each GOMAXPROCS; and optionally measures the
// resize function binary's cold start. It prints Markdown tables.
func runBench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	runs := fs.Int("runs", 3, "runs per photo and pipeline; the median is reported")
	procs := fs.String("procs", "1,2", "GOMAXPROCS (and VIPS_CONCURRENCY) values to run at")
	vips := fs.String("vips", "vipsthumbnail", "vipsthumbnail binary; empty skips the per-variant vipsthumbnail comparison")
	scratch := fs.String("scratch", filepath.Join(os.TempDir(), "imagepipe-bench"), "directory for the outputs")
	memory := fs.String("memory", "512,1024,1769,3008", "Lambda memory sizes (MB) to estimate the cost at")
	initBin := fs.String("init", "", "resize function binary (built for this machine) whose cold start to measure")
	batch := fs.Int("batch", 5, "images per invocation, for the request share of the cost")
	sharpDir := fs.String("sharp", "", "folder whose node_modules holds sharp: adds the warm comparison against sharp (make bench installs it)")
	warm := fs.Int("warm", 5, "warm runs per process in the sharp comparison and the formats section")
	formats := fs.Bool("formats", false, "adds the formats section: CPU of the JPEG primary, WebP and AVIF per variant and per photo at GOMAXPROCS=1, warm, with bytes and SSIM")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: imagepipe bench [flags] PHOTO...\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("no photos")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	limits, variants, err := resize.EngineSettingsFromEnv(os.Getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	configured := slices.Clone(variants) // with their alternates, for -formats
	// The comparisons are of JPEG variants: sharp and vipsthumbnail make no
	// alternates here, so neither does the engine (the children read VARIANTS).
	for i := range variants {
		variants[i].Formats = nil
	}
	primaries, err := json.Marshal(variants)
	if err != nil {
		return err
	}
	if err := os.Setenv("VARIANTS", string(primaries)); err != nil {
		return err
	}
	procList, err := ints(*procs)
	if err != nil {
		return fmt.Errorf("-procs: %w", err)
	}
	memList, err := ints(*memory)
	if err != nil {
		return fmt.Errorf("-memory: %w", err)
	}
	if *vips != "" {
		if _, err := exec.LookPath(*vips); err != nil {
			return fmt.Errorf("vipsthumbnail not found (make bench installs libvips-tools): %w", err)
		}
	}
	if err := os.MkdirAll(*scratch, 0o755); err != nil {
		return err
	}
	out := os.Stdout
	fmt.Fprintf(out, "Variants: %s.\n\n", describeVariants(variants))
	if *vips != "" {
		fmt.Fprintf(out, "## Per process, against the naive pipeline and vipsthumbnail\n\nMedian of %d interleaved runs, a fresh process per photo. Ratios are CPU time (user+sys) of the other pipeline over the engine's: above 1 means the engine is faster.\n\n", *runs)
	}

	for _, p := range procList {
		if *vips == "" {
			break
		}
		env := append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(p), "VIPS_CONCURRENCY="+strconv.Itoa(p))
		fmt.Fprintf(out, "### GOMAXPROCS=%d (VIPS_CONCURRENCY=%d)\n\n", p, p)
		fmt.Fprintln(out, "| photo | MP | engine wall | engine CPU | engine peak RSS | naive CPU | vips CPU (all variants) | vips peak RSS | x naive | x vips | engine bytes | vips bytes |")
		fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|---|---|")
		var tot struct{ wall, cpu, naive, vips time.Duration }
		var maxRSS, maxVipsRSS int64
		var engBytes, vipsBytes int64
		for _, photo := range fs.Args() {
			mp, err := megapixels(photo)
			if err != nil {
				return fmt.Errorf("%s: %w", photo, err)
			}
			var eng, nai, vip []usage
			for r := 0; r < *runs; r++ {
				if err := ctx.Err(); err != nil {
					return err
				}
				dir := filepath.Join(*scratch, "engine")
				u, err := measure(ctx, env, self, "resize", "-q", "-o", dir, photo)
				if err != nil {
					return fmt.Errorf("engine on %s: %w", photo, err)
				}
				u.bytes = outputBytes(dir, photo, variants)
				eng = append(eng, u)
				if u, err = measure(ctx, env, self, "resize", "-q", "-naive", "-o", filepath.Join(*scratch, "naive"), photo); err != nil {
					return fmt.Errorf("naive on %s: %w", photo, err)
				}
				nai = append(nai, u)
				if u, err = vipsAll(ctx, env, *vips, variants, photo, filepath.Join(*scratch, "vips")); err != nil {
					return fmt.Errorf("vipsthumbnail on %s: %w", photo, err)
				}
				vip = append(vip, u)
			}
			e, n, v := median(eng), median(nai), median(vip)
			tot.wall += e.wall
			tot.cpu += e.cpu
			tot.naive += n.cpu
			tot.vips += v.cpu
			maxRSS = max(maxRSS, e.rssKB)
			maxVipsRSS = max(maxVipsRSS, v.rssKB)
			engBytes += e.bytes
			vipsBytes += v.bytes
			fmt.Fprintf(out, "| %s | %.1f | %s | %s | %d MB | %s | %s | %d MB | %.2f | %.2f | %d KB | %d KB |\n",
				filepath.Base(photo), mp, ms(e.wall), ms(e.cpu), e.rssKB/1024, ms(n.cpu), ms(v.cpu), v.rssKB/1024,
				ratio(n.cpu, e.cpu), ratio(v.cpu, e.cpu), e.bytes/1024, v.bytes/1024)
		}
		fmt.Fprintf(out, "| **total** | | %s | %s | %d MB (max) | %s | %s | %d MB (max) | **%.2f** | **%.2f** | %d KB | %d KB |\n\n",
			ms(tot.wall), ms(tot.cpu), maxRSS/1024, ms(tot.naive), ms(tot.vips), maxVipsRSS/1024,
			ratio(tot.naive, tot.cpu), ratio(tot.vips, tot.cpu), engBytes/1024, vipsBytes/1024)

		if p == 1 {
			perImage := tot.cpu / time.Duration(fs.NArg())
			fmt.Fprintf(out, "Cost estimate on arm64 Lambda from the engine's mean CPU time per photo here (%s), assuming a Graviton core is as fast as this machine's, with %d images per invocation:\n\n", ms(perImage), *batch)
			fmt.Fprintln(out, "| memory | vCPU share | est. duration per image | $ per million images |")
			fmt.Fprintln(out, "|---|---|---|---|")
			for _, mb := range memList {
				share := min(1, float64(mb)/lambdaMBPerVCPU)
				dur := time.Duration(float64(perImage) / share)
				cost := 1e6 * (dur.Seconds()*float64(mb)/1024*lambdaArmPerGBSecond + lambdaPerRequest/float64(*batch))
				fmt.Fprintf(out, "| %d MB | %.2f | %s | $%.2f |\n", mb, share, ms(dur), cost)
			}
			fmt.Fprintln(out)
		}
	}
	if *sharpDir != "" {
		if err := benchSharp(ctx, out, self, *sharpDir, *scratch, fs.Args(), variants, limits, procList, *runs, *warm); err != nil {
			return fmt.Errorf("sharp comparison: %w", err)
		}
	}
	if *formats {
		if err := runBenchFormats(ctx, out, self, *scratch, fs.Args(), configured, limits, *runs, *warm); err != nil {
			return fmt.Errorf("formats: %w", err)
		}
	}
	if *initBin != "" {
		d, err := coldStart(ctx, *initBin, 15)
		if err != nil {
			return fmt.Errorf("cold start: %w", err)
		}
		st, err := os.Stat(*initBin)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "Cold start of %s (%.1f MB): process start to its first request for an event, median of 15: %s\n",
			*initBin, float64(st.Size())/(1<<20), d.Round(100*time.Microsecond))
	}
	return nil
}

type usage struct {
	wall, cpu time.Duration
	rssKB     int64
	bytes     int64
}

// measure runs one child process and reads its wall time, CPU time and peak
// RSS from the kernel's accounting.
func measure(ctx context.Context, env []string, name string, args ...string) (usage, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return usage{}, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return usage{
		wall:  wall,
		cpu:   time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		rssKB: ru.Maxrss, // kilobytes on Linux
	}, nil
}

// vipsAll makes the same variants with one vipsthumbnail process each, the
// way libvips is used when every size is its own shrink-on-load.
func vipsAll(ctx context.Context, env []string, vips string, vs []imagecore.Variant, photo, dir string) (usage, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return usage{}, err
	}
	var total usage
	start := time.Now()
	for _, v := range vs {
		q := v.Quality
		if q == 0 {
			q = imagecore.DefaultQuality
		}
		size := fmt.Sprintf("%sx%s>", dim(v.Width), dim(v.Height))
		outFile := filepath.Join(dir, fmt.Sprintf("%s_%s.jpg", strings.TrimSuffix(filepath.Base(photo), filepath.Ext(photo)), v.Name))
		args := []string{photo, "--size", size, "-o", fmt.Sprintf("%s[Q=%d,strip]", outFile, q)}
		if v.Fit == imagecore.FitCover {
			args = append(args, "--smartcrop", "centre")
			args[2] = strings.TrimSuffix(size, ">")
		}
		u, err := measure(ctx, env, vips, args...)
		if err != nil {
			return usage{}, err
		}
		total.cpu += u.cpu
		total.rssKB = max(total.rssKB, u.rssKB)
		if st, err := os.Stat(outFile); err == nil {
			total.bytes += st.Size()
		}
	}
	total.wall = time.Since(start)
	return total, nil
}

// coldStart starts the function binary against a local stand-in for the
// Lambda runtime API and times process start to its first "next event" poll.
func coldStart(ctx context.Context, bin string, n int) (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	polled := make(chan time.Time, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/runtime/invocation/next") {
			select {
			case polled <- time.Now():
			default:
			}
			<-r.Context().Done() // hold the poll, as Lambda does between events
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	var times []time.Duration
	for i := 0; i < n; i++ {
		cmd := exec.CommandContext(ctx, bin)
		cmd.Env = append(os.Environ(),
			"AWS_LAMBDA_RUNTIME_API="+ln.Addr().String(),
			"OUTPUT_BUCKET=bench-output", "AWS_REGION=us-east-1",
			"AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench",
			"AWS_LAMBDA_FUNCTION_NAME=resize", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1024")
		var stderr strings.Builder
		cmd.Stdout, cmd.Stderr = io.Discard, &stderr
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		select {
		case t := <-polled:
			times = append(times, t.Sub(start))
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return 0, fmt.Errorf("%s never asked for an event: %s", bin, stderr.String())
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}

func median(us []usage) usage {
	pick := func(f func(usage) int64) int64 {
		v := make([]int64, len(us))
		for i, u := range us {
			v[i] = f(u)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return usage{
		wall:  time.Duration(pick(func(u usage) int64 { return int64(u.wall) })),
		cpu:   time.Duration(pick(func(u usage) int64 { return int64(u.cpu) })),
		rssKB: pick(func(u usage) int64 { return u.rssKB }),
		bytes: pick(func(u usage) int64 { return u.bytes }),
	}
}

func megapixels(photo string) (float64, error) {
	f, err := os.Open(photo)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	c, err := jpeg.DecodeConfig(f)
	if err != nil {
		return 0, err
	}
	return float64(c.Width*c.Height) / 1e6, nil
}

// outputBytes sums the variants resize wrote for photo.
func outputBytes(dir, photo string, vs []imagecore.Variant) int64 {
	base := strings.TrimSuffix(filepath.Base(photo), filepath.Ext(photo))
	var n int64
	for _, v := range vs {
		files, _ := filepath.Glob(filepath.Join(dir, base+"_"+v.Name+".*"))
		for _, f := range files {
			if st, err := os.Stat(f); err == nil {
				n += st.Size()
			}
		}
	}
	return n
}

func describeVariants(vs []imagecore.Variant) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprintf("%s %sx%s %s", v.Name, dim(v.Width), dim(v.Height), fitName(v.Fit))
	}
	return strings.Join(parts, ", ")
}

func fitName(f imagecore.Fit) string {
	if f == "" {
		return string(imagecore.FitInside)
	}
	return string(f)
}

func dim(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("want positive numbers separated by commas, got %q", s)
		}
		out = append(out, n)
	}
	return out, nil
}
