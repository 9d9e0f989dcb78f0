package chaos

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/imagepipe/imagepipe/localcloud"
	"github.com/imagepipe/imagepipe/localcloud/eventsource"
	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/resize"
	"github.com/imagepipe/imagepipe/shared/settings"
)

var (
	loadN    = flag.Int("load.n", 500, "BenchmarkLoad: uploads per run")
	loadC    = flag.Int("load.c", 16, "BenchmarkLoad: browsers uploading at once")
	loadRate = flag.Float64("load.rate", 0, "BenchmarkLoad: uploads started per second (0: as fast as the browsers can)")
	// The scaling table (issue 16): one run per arrival rate and function concurrency.
	loadRates  = flag.String("load.rates", "", "BenchmarkLoad: comma-separated arrival rates, one run each (overrides -load.rate)")
	loadFC     = flag.String("load.fc", "", "BenchmarkLoad: comma-separated function concurrencies (resizeMaxConcurrency), one run each (default: the setting's)")
	loadPhotos = flag.String("load.photos", "", "BenchmarkLoad: a JPEG file or a directory of them to upload (default: testdata/images)")
	loadBatch  = flag.Int("load.batch", 0, "BenchmarkLoad: resizeBatchSize for the run (0: the setting's)")
	loadWindow = flag.Duration("load.window", -1, "BenchmarkLoad: resizeBatchWindow for the run (-1: the setting's)")
)

// loadCase is one run of the scaling table.
type loadCase struct {
	rate        float64
	concurrency int // the function's, resizeMaxConcurrency
}

// loadCases is every combination of -load.rates (or -load.rate) and -load.fc.
func loadCases(tb testing.TB) []loadCase {
	tb.Helper()
	parse := func(list string, def float64) []float64 {
		if list == "" {
			return []float64{def}
		}
		var out []float64
		for _, f := range strings.Split(list, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || v < 0 {
				tb.Fatalf("%q in %q is not a non-negative number", f, list)
			}
			out = append(out, v)
		}
		return out
	}
	var cases []loadCase
	for _, fc := range parse(*loadFC, float64(loadSettings().Resize.MaxConcurrency)) {
		for _, r := range parse(*loadRates, *loadRate) {
			cases = append(cases, loadCase{rate: r, concurrency: int(fc)})
		}
	}
	return cases
}

// loadSettings are the deployment's defaults with the -load.batch and
// -load.window overrides.
func loadSettings() settings.Settings {
	s := settings.Default()
	if *loadBatch > 0 {
		s.Resize.BatchSize = *loadBatch
	}
	if *loadWindow >= 0 {
		s.Resize.BatchWindow = *loadWindow
	}
	return s
}

// loadRun is what one load run measured.
type loadRun struct {
	uploads, uploadFailures   int
	ready, failed, lost, dups int
	// late are uploads without a manifest at the deadline whose messages are still
	// in the queue, in flight or in the DLQ: delayed (an invocation that ran into
	// the function timeout waits out the visibility timeout), not lost.
	late              int
	elapsed           time.Duration
	latencies         []time.Duration // upload finished -> manifest written
	queueAges         []time.Duration // sent -> handed to an invocation, per delivery
	peakRSS, peakHeap uint64
}

// BenchmarkLoad pushes load.n uploads through the local cloud at load.c at a
// time, as browsers do (presign through the API, PUT to S3), with the deployment's
// default settings, and waits for every image. It reports throughput,
// upload-to-ready latency percentiles, queue age, failures, lost images (must be
// 0) and the process's peak memory. With -load.rates and -load.fc it runs once per
// arrival rate and function concurrency and prints the scaling table. Run it with
// `make loadtest` (LOAD_N, LOAD_C, LOAD_RATES, LOAD_FC).
func BenchmarkLoad(b *testing.B) {
	cases := loadCases(b)
	for range b.N {
		var rows []string
		for _, lc := range cases {
			r := runLoad(b, *loadN, *loadC, lc)
			if len(cases) == 1 {
				b.ReportMetric(float64(r.ready)/r.elapsed.Seconds(), "images/s")
				b.ReportMetric(ms(percentile(r.latencies, 50)), "p50-ms")
				b.ReportMetric(ms(percentile(r.latencies, 95)), "p95-ms")
				b.ReportMetric(ms(percentile(r.latencies, 99)), "p99-ms")
				b.ReportMetric(ms(percentile(r.queueAges, 100)), "max-queue-age-ms")
				b.ReportMetric(float64(r.uploadFailures+r.failed), "failures")
				b.ReportMetric(float64(r.lost), "lost")
				b.ReportMetric(float64(r.peakRSS)/(1<<20), "peak-rss-MB")
				b.ReportMetric(float64(r.peakHeap)/(1<<20), "peak-heap-MB")
			}
			rows = append(rows, r.row(*loadN, *loadC, lc))
			if r.late > 0 {
				b.Logf("rate %v, concurrency %d: %d images late (their messages are still queued or in flight at the deadline)", lc.rate, lc.concurrency, r.late)
			}
			if r.lost != 0 || r.dups != 0 {
				b.Errorf("rate %v, concurrency %d: %d images lost and %d processed twice; want none", lc.rate, lc.concurrency, r.lost, r.dups)
			}
		}
		s := loadSettings()
		// To stdout, not b.Logf: the testing package cuts a benchmark's log to a
		// few lines, and the table is the report.
		fmt.Printf("\nbatch size %d, batching window %s, %d photos from %s, GOMAXPROCS %d, load average %s\n%s%s\n", s.Resize.BatchSize, s.Resize.BatchWindow,
			len(photosForLoad(b)), photoSource(), runtime.GOMAXPROCS(0), loadAverage(), loadHeader, strings.Join(rows, ""))
	}
}

func runLoad(b *testing.B, n, concurrency int, lc loadCase) loadRun {
	b.Helper()
	rate := lc.rate
	var mu sync.Mutex
	uploaded := map[string]time.Time{}
	done := map[string]manifest.Manifest{}
	seen := map[string]int{}
	var ages []time.Duration
	c := startCloud(b, func(cfg *localcloud.Config) {
		cfg.Settings = loadSettings()
		// MaximumConcurrency is at least 2 on AWS; a concurrency of 1 is what a
		// reserved concurrency of 1 gives, set on the event source below.
		cfg.Settings.Resize.MaxConcurrency = max(lc.concurrency, 2)
		cfg.VisibilityTimeout = 0 // the deployment's: six times the function timeout
		// The event source runs below, measuring queue age on the way.
		cfg.NoEventSource = true
		cfg.OnImage = func(r localcloud.ImageResult) {
			mu.Lock()
			defer mu.Unlock()
			seen[r.ID]++
			if _, ok := done[r.ID]; !ok {
				done[r.ID] = r.Manifest
			}
		}
	})
	pics := photosForLoad(b)
	br := newBrowser(c)
	es := c.EventSource
	es.Concurrency = lc.concurrency
	// An idle make dev has long finished its function's start when a photo arrives.
	c.WarmResize()
	poller, err := eventsource.New(es, c.SQS, measureQueueAge(c.Handler(), &mu, &ages))
	if err != nil {
		b.Fatal(err)
	}
	pctx, stopPoller := context.WithCancel(context.Background())
	pollerDone := make(chan struct{})
	go func() { defer close(pollerDone); _ = poller.Run(pctx) }()
	// Registered after startCloud's, so it runs first: the poller stops before the cloud.
	b.Cleanup(func() { stopPoller(); <-pollerDone })

	resetPeakRSS()
	stopSampling, peakHeap := sampleHeap()
	start := time.Now()
	var run loadRun
	var wg sync.WaitGroup
	next := make(chan int)
	go func() {
		// Paced arrivals, when asked for: upload i starts no earlier than i/rate.
		for i := range n {
			if rate > 0 {
				time.Sleep(time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))))
			}
			next <- i
		}
		close(next)
	}()
	for range concurrency {
		wg.Go(func() {
			for i := range next {
				data := pics[i%len(pics)]
				id, err := br.upload(context.Background(), fmt.Sprintf("load %d.jpg", i), "image/jpeg", data)
				mu.Lock()
				if err != nil {
					run.uploadFailures++
					b.Logf("upload %d: %v", i, err)
				} else {
					uploaded[id] = time.Now()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	run.uploads = n - run.uploadFailures
	// Wait for every upload's image, up to a generous deadline (what is missing
	// then counts as lost).
	deadline := time.Now().Add(time.Duration(n)*2*time.Second + time.Minute)
	for time.Now().Before(deadline) {
		mu.Lock()
		finished := 0
		for id := range uploaded {
			if _, ok := done[id]; ok {
				finished++
			}
		}
		mu.Unlock()
		if finished == run.uploads {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	run.elapsed = time.Since(start)
	stopSampling()
	run.peakHeap = *peakHeap
	run.peakRSS = peakRSS()
	// Late duplicates, if any, would show up now.
	time.Sleep(2 * time.Second)
	stats, statsErr := c.QueueStats(context.Background())

	mu.Lock()
	defer mu.Unlock()
	for id, at := range uploaded {
		m, ok := done[id]
		if !ok {
			// Not seen by the handler: ask the API as a browser would.
			if st, err := br.status(context.Background(), id); err == nil && st.Status == string(manifest.StatusFailed) {
				run.failed++
			} else {
				run.lost++
			}
			continue
		}
		if m.Status != manifest.StatusReady {
			run.failed++
			continue
		}
		run.ready++
		run.latencies = append(run.latencies, m.CompletedAt.Sub(at))
		if seen[id] > 1 {
			run.dups++
		}
	}
	// An unfinished upload is lost only if no message for it is left anywhere.
	if pending := stats.Visible + stats.InFlight + stats.DLQ; statsErr == nil && run.lost > 0 && pending > 0 {
		run.late = min(run.lost, pending)
		run.lost -= run.late
	}
	slices.Sort(run.latencies)
	run.queueAges = slices.Clone(ages)
	slices.Sort(run.queueAges)
	return run
}

// measureQueueAge wraps h to record, for every record it is given, how long the
// message waited in the queue (now minus SentTimestamp, as SQS's
// ApproximateAgeOfOldestMessage counts it).
func measureQueueAge(h eventsource.Handler, mu *sync.Mutex, ages *[]time.Duration) eventsource.Handler {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		now := time.Now()
		mu.Lock()
		for _, r := range ev.Records {
			if _, err := resize.ParseBody(r.Body); errors.Is(err, resize.ErrTestEvent) {
				continue // sent when the cloud started, before the function's warm-up: no upload waited
			}
			if ms, err := strconv.ParseInt(r.Attributes["SentTimestamp"], 10, 64); err == nil {
				*ages = append(*ages, now.Sub(time.UnixMilli(ms)))
			}
		}
		mu.Unlock()
		return h(ctx, ev)
	}
}

// loadAverage is the machine's 1-minute load average (Linux), which says how
// much the figures were shared with other work.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Fields(string(b))[0]
}

// photoSource is where the uploaded photos come from.
func photoSource() string {
	if *loadPhotos != "" {
		return *loadPhotos
	}
	return "testdata/images"
}

// photosForLoad are the JPEGs of -load.photos (a file or a directory), or the
// three of testdata/images.
func photosForLoad(tb testing.TB) [][]byte {
	tb.Helper()
	if *loadPhotos == "" {
		return photos(tb)
	}
	files := []string{*loadPhotos}
	if st, err := os.Stat(*loadPhotos); err == nil && st.IsDir() {
		files, _ = filepath.Glob(filepath.Join(*loadPhotos, "*.jpg"))
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		tb.Fatalf("no JPEG photos in %s", *loadPhotos)
	}
	return out
}

const loadHeader = "| arrivals | function concurrency | uploads | browsers | elapsed | throughput | upload-to-ready p50 | p95 | p99 | queue age p99 | max | failures | late | lost | processed twice | peak RSS |\n" +
	"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"

// row is the run's line of the scaling table.
func (r loadRun) row(n, c int, lc loadCase) string {
	arrivals := "burst"
	if lc.rate > 0 {
		arrivals = fmt.Sprintf("%g/s", lc.rate)
	}
	return fmt.Sprintf("| %s | %d | %d | %d | %.1f s | %.2f images/s | %.0f ms | %.0f ms | %.0f ms | %.0f ms | %.0f ms | %d | %d | %d | %d | %d MB |\n",
		arrivals, lc.concurrency, n, c, r.elapsed.Seconds(), float64(r.ready)/r.elapsed.Seconds(),
		ms(percentile(r.latencies, 50)), ms(percentile(r.latencies, 95)), ms(percentile(r.latencies, 99)),
		ms(percentile(r.queueAges, 99)), ms(percentile(r.queueAges, 100)),
		r.uploadFailures+r.failed, r.late, r.lost, r.dups, r.peakRSS>>20)
}

// percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (p*len(sorted) + 99) / 100
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// resetPeakRSS starts the kernel's peak-RSS count afresh (Linux), so the peak is
// the load run's and not the setup's.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS is the process's peak resident set (VmHWM), 0 where unknown.
func peakRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// sampleHeap records the largest live heap every 50 ms until stopped.
func sampleHeap() (stop func(), peak *uint64) {
	peak = new(uint64)
	quit := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			*peak = max(*peak, m.HeapInuse)
			select {
			case <-quit:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(quit); <-stopped }, peak
}
