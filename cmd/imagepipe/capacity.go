package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/imagepipe/imagepipe/shared/capacity"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// runCapacity answers "what would this traffic do on AWS" with shared/capacity.
func runCapacity(_ context.Context, args []string) error { return capacityTo(args, os.Stdout) }

func capacityTo(args []string, out io.Writer) error {
	s := settings.Default()
	fs := flag.NewFlagSet("capacity", flag.ContinueOnError)
	profile := fs.String("profile", "100000 in 10m", `arrivals: comma-separated "RATE/s for DURATION" or "N in DURATION" phases`)
	mix := fs.String("mix", "600ms", `resize time per image: one duration, or "NAME=DURATION:SHARE,..." (docs/performance.md has the engine's figures; add S3 transfer time)`)
	batch := fs.Int("batch", s.Resize.BatchSize, "resizeBatchSize")
	window := fs.Duration("window", s.Resize.BatchWindow, "resizeBatchWindow")
	maxConc := fs.Int("max-concurrency", s.Resize.MaxConcurrency, "resizeMaxConcurrency (the event source's MaximumConcurrency; 0 for none)")
	reserved := fs.Int("reserved", 0, "the resize function's reserved concurrency (0: none, it shares the account's pool)")
	account := fs.Int("account", capacity.AWSLimits().AccountConcurrency, "the account's concurrent executions quota in the region")
	other := fs.Int("other", 0, "concurrency other functions of the account use meanwhile")
	memory := fs.Int("memory", s.Resize.MemoryMB, "resizeMemoryMb")
	poll := fs.Duration("poll", 2*time.Second, "how often a browser asks for its image's status while it is pending (the page backs off from 0.4 s to 5 s)")
	retention := fs.Duration("retention", s.Queue.Retention, "queueRetention: older messages are deleted by SQS")
	target := fs.Duration("target-p99", s.SLO.UploadToReadyP99, "upload-to-ready p99 objective (sloUploadToReadyP99)")
	local := fs.Bool("local", false, "model the local cloud's event source instead of Lambda's: a fixed pool of -max-concurrency pollers from the start, no scaling")
	every := fs.Duration("every", 0, "time between rows of the table (0: about 20 rows)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := capacity.ParseProfile(*profile)
	if err != nil {
		return fmt.Errorf("-profile: %w", err)
	}
	m, err := capacity.ParseMix(*mix)
	if err != nil {
		return fmt.Errorf("-mix: %w", err)
	}
	lim := capacity.AWSLimits()
	lim.AccountConcurrency = *account
	lim.QueueRetention = *retention
	if *local {
		lim.StartConcurrency, lim.ScaleUpPerMinute = max(*maxConc, 1), 0
	}
	cfg := capacity.Config{
		Profile: p, Mix: m, BatchSize: *batch, BatchWindow: *window, MaxConcurrency: *maxConc,
		ReservedConcurrency: *reserved, OtherConcurrency: *other, MemoryMB: *memory,
		// PollGiveUp is the page's POLL_GIVE_UP.
		Variants: len(s.Variants), StatusPollInterval: *poll, PollGiveUp: 3 * time.Minute, OldestMessageAlarm: s.OldestMessageAlarm,
		TargetP99: *target, Limits: lim, Prices: capacity.AWSPrices(),
	}
	r, err := capacity.Run(cfg)
	if err != nil {
		return err
	}
	printCapacity(out, cfg, r, *profile, *mix, *every, *local)
	return nil
}

func printCapacity(w io.Writer, c capacity.Config, r capacity.Result, profile, mix string, every time.Duration, local bool) {
	model := "Lambda's SQS event source (5 concurrent at first, up to 300 more a minute, at most 1,250 per mapping)"
	if local {
		model = "the local cloud's event source (a fixed pool of pollers)"
	}
	reserved := "none"
	if c.ReservedConcurrency > 0 {
		reserved = fmt.Sprint(c.ReservedConcurrency)
	}
	fmt.Fprintf(w, "imagepipe capacity: %.0f uploads over %s (%q), resize time %s, modelling %s\n",
		r.Uploads, c.Profile.Duration(), profile, mix, model)
	fmt.Fprintf(w, "settings: batch size %d, batching window %s, resizeMaxConcurrency %d, reserved concurrency %s, account concurrency %d (%d used by others), memory %d MB\n",
		c.BatchSize, c.BatchWindow, c.MaxConcurrency, reserved, c.Limits.AccountConcurrency, c.OtherConcurrency, c.MemoryMB)
	fmt.Fprintf(w, "ceiling: %d concurrent invocations (%s), %.1f images/s\n\n", r.Ceiling, r.CeilingReason, r.ThroughputCeiling)

	if every <= 0 {
		every = max(time.Duration(len(r.Samples))*time.Second/20, time.Second).Round(time.Second)
	}
	fmt.Fprintln(w, "| time | arrivals/s | concurrency | busy | queue depth | oldest message | processed/s |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	var last time.Duration = -every
	for i, sm := range r.Samples {
		if sm.At-last < every && i != len(r.Samples)-1 {
			continue
		}
		last = sm.At
		fmt.Fprintf(w, "| %s | %.1f | %d | %.0f | %.0f | %s | %.1f |\n", clock(sm.At), sm.ArrivalRate, sm.Concurrency, sm.Busy,
			sm.Depth, sm.OldestAge.Round(time.Second), sm.ProcessedRate)
	}
	fmt.Fprintf(w, "\nupload to ready: p50 %s, p95 %s, p99 %s\n", short(r.P50), short(r.P95), short(r.P99))
	fmt.Fprintf(w, "queue: at most %.0f messages, the oldest %s old; all ready after %s; lost %.0f\n",
		r.MaxDepth, r.MaxAge.Round(time.Second), clock(r.Drained), r.Lost)
	fmt.Fprintf(w, "peaks: %d concurrent invocations, %.0f S3 PUT/s, %.0f API requests/s\n", r.PeakConcurrency, r.PeakS3PutPerSecond, r.PeakAPIPerSecond)
	if len(r.Breaks) == 0 {
		fmt.Fprintln(w, "where it breaks first: nowhere; every limit holds")
	} else {
		fmt.Fprintln(w, "where it breaks, first first:")
		for _, b := range r.Breaks {
			fmt.Fprintf(w, "  %s  %s\n", clock(b.At), b.What)
		}
	}
	cost := r.Cost
	fmt.Fprintf(w, "cost: $%.2f (Lambda $%.2f for %.0f invocations, SQS $%.2f, S3 requests $%.2f, API $%.2f, EventBridge $%.2f): $%.3f per 1,000 images\n",
		cost.Total(), cost.Lambda, r.Invocations, cost.SQS, cost.S3, cost.API, cost.EventBridge, 1000*cost.Total()/math.Max(r.Processed, 1))
	for _, a := range advice(c, r) {
		fmt.Fprintln(w, "change: "+a)
	}
}

// advice says which setting to change for what the run ran into.
func advice(c capacity.Config, r capacity.Result) []string {
	var out []string
	mean := 0.0
	for _, p := range c.Mix {
		mean += p.Share * p.Processing.Seconds()
	}
	peak := 0.0
	for _, ph := range c.Profile {
		peak = math.Max(peak, ph.Rate)
	}
	// A quarter more than the arrivals need, so the backlog of the ramp drains.
	need := int(math.Ceil(peak * mean * 1.25))
	for _, b := range r.Breaks {
		switch {
		case strings.Contains(b.What, "ceiling") && strings.Contains(r.CeilingReason, "resizeMaxConcurrency"):
			out = append(out, fmt.Sprintf("to keep up with %.0f uploads/s set resizeMaxConcurrency to at least %d (peak rate x resize time + 25%%), within the account's concurrency; or accept the queue: it drains at %.1f images/s",
				peak, min(need, 1000), r.ThroughputCeiling))
		case strings.Contains(b.What, "ceiling") && strings.Contains(r.CeilingReason, "account"):
			out = append(out, fmt.Sprintf("the account's concurrency binds: ask AWS for at least %d concurrent executions (Service Quotas), or give the function reserved concurrency", need+c.OtherConcurrency))
		case strings.Contains(b.What, "ceiling") && strings.Contains(r.CeilingReason, "reserved"):
			out = append(out, fmt.Sprintf("raise the function's reserved concurrency to at least %d", need))
		case strings.Contains(b.What, "ceiling"):
			out = append(out, "one event source mapping stops at 1,250 concurrent: shard uploads over several queues and mappings, or make each image cheaper (resizeMemoryMb, fewer variants)")
		case strings.Contains(b.What, "lost"):
			out = append(out, "raise queueRetention (at most 14 days) and the concurrency: messages are expiring before they are processed")
		case strings.Contains(b.What, "S3 PUTs"):
			out = append(out, "S3 partitions busy prefixes by itself over minutes; until then expect 503 SlowDown retries (ramp the traffic up, or spread keys over more prefixes)")
		case strings.Contains(b.What, "HTTP API"):
			out = append(out, "ask AWS to raise the HTTP API throttle, or poll the status less often (the page backs off to 5 s; an ImageReady event or webhook avoids polling)")
		case strings.Contains(b.What, "objective"):
			if c.BatchWindow > 0 {
				out = append(out, fmt.Sprintf("set resizeBatchWindow to 0: it adds up to %s to every upload at low traffic", c.BatchWindow))
			}
			if c.BatchSize > 1 {
				out = append(out, "set resizeBatchSize to 1: images of one batch are resized one after another")
			}
			if !strings.Contains(r.CeilingReason, "resizeMaxConcurrency") || r.PeakConcurrency < r.Ceiling {
				out = append(out, "the wait is the event source's ramp (5 concurrent, then 300 more a minute): a burst faster than that queues in its first minutes; spread it, or keep some traffic flowing so the pollers are already up")
			}
		}
	}
	return out
}

// clock formats a time from the start as h:mm:ss.
func clock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}

func short(d time.Duration) string {
	if d < time.Minute {
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
