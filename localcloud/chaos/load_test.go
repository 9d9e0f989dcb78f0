package chaos

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/localcloud"
	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/settings"
)

var (
	loadN    = flag.Int("load.n", 500, "BenchmarkLoad: uploads per run")
	loadC    = flag.Int("load.c", 16, "BenchmarkLoad: browsers uploading at once")
	loadRate = flag.Float64("load.rate", 0, "BenchmarkLoad: uploads started per second (0: as fast as the browsers can)")
)

// loadRun is what one load run measured.
type loadRun struct {
	uploads, uploadFailures   int
	ready, failed, lost, dups int
	elapsed                   time.Duration
	latencies                 []time.Duration // upload finished -> manifest written
	peakRSS, peakHeap         uint64
}

// BenchmarkLoad pushes load.n uploads through the local cloud at load.c at a
// time, as browsers do (presign through the API, PUT to S3), with the deployment's
// default settings, and waits for every image. It reports throughput,
// upload-to-ready latency percentiles, failures, lost images (must be 0) and the
// process's peak memory. Run it with `make loadtest` (LOAD_N, LOAD_C).
func BenchmarkLoad(b *testing.B) {
	for range b.N {
		r := runLoad(b, *loadN, *loadC, *loadRate)
		b.ReportMetric(float64(r.ready)/r.elapsed.Seconds(), "images/s")
		b.ReportMetric(ms(percentile(r.latencies, 50)), "p50-ms")
		b.ReportMetric(ms(percentile(r.latencies, 95)), "p95-ms")
		b.ReportMetric(ms(percentile(r.latencies, 99)), "p99-ms")
		b.ReportMetric(float64(r.uploadFailures+r.failed), "failures")
		b.ReportMetric(float64(r.lost), "lost")
		b.ReportMetric(float64(r.peakRSS)/(1<<20), "peak-rss-MB")
		b.ReportMetric(float64(r.peakHeap)/(1<<20), "peak-heap-MB")
		b.Logf("\n%s", r.summary(*loadN, *loadC, *loadRate))
		if r.lost != 0 || r.dups != 0 {
			b.Errorf("%d images lost and %d processed twice; want none", r.lost, r.dups)
		}
	}
}

func runLoad(b *testing.B, n, concurrency int, rate float64) loadRun {
	b.Helper()
	var mu sync.Mutex
	uploaded := map[string]time.Time{}
	done := map[string]manifest.Manifest{}
	seen := map[string]int{}
	c := startCloud(b, func(cfg *localcloud.Config) {
		cfg.Settings = settings.Default()
		cfg.VisibilityTimeout = 0 // the deployment's: six times the function timeout
		cfg.OnImage = func(r localcloud.ImageResult) {
			mu.Lock()
			defer mu.Unlock()
			seen[r.ID]++
			if _, ok := done[r.ID]; !ok {
				done[r.ID] = r.Manifest
			}
		}
	})
	pics := photos(b)
	br := newBrowser(c)

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
	slices.Sort(run.latencies)
	return run
}

func (r loadRun) summary(n, c int, rate float64) string {
	var s strings.Builder
	arrivals := "burst"
	if rate > 0 {
		arrivals = fmt.Sprintf("%.1f/s", rate)
	}
	fmt.Fprintf(&s, "| uploads | browsers | arrivals | GOMAXPROCS | elapsed | throughput | p50 | p95 | p99 | failures | lost | processed twice | peak RSS | peak heap |\n")
	fmt.Fprintf(&s, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(&s, "| %d | %d | %s | %d | %.1fs | %.2f images/s | %.0f ms | %.0f ms | %.0f ms | %d | %d | %d | %d MB | %d MB |\n",
		n, c, arrivals, runtime.GOMAXPROCS(0), r.elapsed.Seconds(), float64(r.ready)/r.elapsed.Seconds(),
		ms(percentile(r.latencies, 50)), ms(percentile(r.latencies, 95)), ms(percentile(r.latencies, 99)),
		r.uploadFailures+r.failed, r.lost, r.dups, r.peakRSS>>20, r.peakHeap>>20)
	return s.String()
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
