// Package capacity models how the resize pipeline keeps up with an arrival
// profile on AWS: the SQS event source's scaling as the Lambda developer guide
// documents it, the concurrency limits that cap it, the request rates of S3 and
// the HTTP API, queue depth and age over time, upload-to-ready percentiles and
// the cost. It is a fluid model in fixed time steps, pure and deterministic; the
// AWS figures it uses are in Limits and cited in docs/scale.md.
package capacity

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Phase is a stretch of steady arrivals.
type Phase struct {
	Duration time.Duration
	Rate     float64 // uploads per second
}

// Profile is the arrival rate over time, phase after phase.
type Profile []Phase

// ParseProfile reads a profile: comma-separated phases, each "RATE/s for DURATION"
// (a steady stretch) or "N in DURATION" (a burst of N uploads spread evenly), for
// example "5/s for 1h" or "100000 in 10m, 2/s for 20m".
func ParseProfile(s string) (Profile, error) {
	var p Profile
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		var num, dur string
		var perSecond bool
		if a, b, ok := strings.Cut(part, " for "); ok {
			num, dur, perSecond = strings.TrimSuffix(strings.TrimSpace(a), "/s"), b, true
			if !strings.HasSuffix(strings.TrimSpace(a), "/s") {
				return nil, fmt.Errorf("phase %q: a rate is written like 5/s", part)
			}
		} else if a, b, ok := strings.Cut(part, " in "); ok {
			num, dur = a, b
		} else {
			return nil, fmt.Errorf("phase %q: want \"RATE/s for DURATION\" or \"N in DURATION\"", part)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || v < 0 || math.IsInf(v, 0) {
			return nil, fmt.Errorf("phase %q: %q is not a non-negative number", part, num)
		}
		d, err := time.ParseDuration(strings.TrimSpace(dur))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("phase %q: %q is not a positive duration like 10m", part, dur)
		}
		rate := v
		if !perSecond {
			rate = v / d.Seconds()
		}
		p = append(p, Phase{Duration: d, Rate: rate})
	}
	return p, nil
}

// Duration is the profile's length.
func (p Profile) Duration() time.Duration {
	var d time.Duration
	for _, ph := range p {
		d += ph.Duration
	}
	return d
}

// Uploads is how many uploads the profile brings.
func (p Profile) Uploads() float64 {
	var n float64
	for _, ph := range p {
		n += ph.Rate * ph.Duration.Seconds()
	}
	return n
}

func (p Profile) rateAt(t time.Duration) float64 {
	for _, ph := range p {
		if t < ph.Duration {
			return ph.Rate
		}
		t -= ph.Duration
	}
	return 0
}

// PhotoClass is one kind of photo in the mix.
type PhotoClass struct {
	Name string
	// Processing is the resize function's time per image of this kind (HEAD, GET,
	// decode, every variant, PUTs, manifest), at the configured memory.
	Processing time.Duration
	Share      float64 // fraction of uploads, summing to 1 over the mix
}

// ParseMix reads "NAME=DURATION:SHARE,..." (for example "12MP=600ms:0.7,20MP=1s:0.3")
// or a single duration ("600ms") for one kind of photo.
func ParseMix(s string) ([]PhotoClass, error) {
	if d, err := time.ParseDuration(strings.TrimSpace(s)); err == nil {
		if d <= 0 {
			return nil, fmt.Errorf("processing time %s is not positive", d)
		}
		return []PhotoClass{{Name: "photo", Processing: d, Share: 1}}, nil
	}
	var mix []PhotoClass
	var total float64
	for _, part := range strings.Split(s, ",") {
		name, rest, ok := strings.Cut(strings.TrimSpace(part), "=")
		dur, share, ok2 := strings.Cut(rest, ":")
		if !ok || !ok2 || name == "" {
			return nil, fmt.Errorf("photo class %q: want NAME=DURATION:SHARE, like 12MP=600ms:0.7", part)
		}
		d, err := time.ParseDuration(dur)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("photo class %q: %q is not a positive duration", part, dur)
		}
		f, err := strconv.ParseFloat(share, 64)
		if err != nil || f <= 0 || f > 1 {
			return nil, fmt.Errorf("photo class %q: share %q is not in (0, 1]", part, share)
		}
		mix = append(mix, PhotoClass{Name: name, Processing: d, Share: f})
		total += f
	}
	if math.Abs(total-1) > 0.001 {
		return nil, fmt.Errorf("photo mix shares add up to %.3f, want 1", total)
	}
	return mix, nil
}

// Limits are the AWS figures the model uses (docs/scale.md cites each).
type Limits struct {
	// StartConcurrency is how many concurrent invocations an SQS event source
	// begins with when messages are available (5).
	StartConcurrency int
	// ScaleUpPerMinute is how many it adds per minute while messages wait (300).
	ScaleUpPerMinute int
	// MappingMax is the most concurrent invocations one SQS event source mapping
	// reaches (1,250).
	MappingMax int
	// AccountConcurrency is the account's concurrent executions in the region
	// (1,000 by default), shared by every function.
	AccountConcurrency int
	// S3PutPerPrefix and S3GetPerPrefix are the request rates S3 supports per
	// partitioned prefix per second (3,500 PUT/COPY/POST/DELETE, 5,500 GET/HEAD).
	S3PutPerPrefix, S3GetPerPrefix float64
	// APIRequestsPerSecond is the HTTP API's account throttle in the region (10,000).
	APIRequestsPerSecond float64
	// QueueRetention is how long SQS keeps a message; older ones are deleted, lost.
	QueueRetention time.Duration
}

// AWSLimits are the documented defaults.
func AWSLimits() Limits {
	return Limits{
		StartConcurrency: 5, ScaleUpPerMinute: 300, MappingMax: 1250, AccountConcurrency: 1000,
		S3PutPerPrefix: 3500, S3GetPerPrefix: 5500, APIRequestsPerSecond: 10000,
		QueueRetention: 4 * 24 * time.Hour,
	}
}

// Prices are list prices in USD (us-east-1, arm64); docs/scale.md says when.
type Prices struct {
	LambdaGBSecond, LambdaRequest    float64
	SQSRequest                       float64
	S3Put, S3Get                     float64
	APIRequest, EventBridgePutEvents float64
}

// AWSPrices are the us-east-1 list prices the model uses.
func AWSPrices() Prices {
	return Prices{
		LambdaGBSecond: 0.0000133334, LambdaRequest: 0.20 / 1e6,
		SQSRequest: 0.40 / 1e6,
		S3Put:      0.005 / 1000, S3Get: 0.0004 / 1000,
		APIRequest: 1.00 / 1e6, EventBridgePutEvents: 1.00 / 1e6,
	}
}

// Config is one deployment under one arrival profile.
type Config struct {
	Profile Profile
	Mix     []PhotoClass
	// BatchSize and BatchWindow are the event source's (resizeBatchSize, resizeBatchWindow).
	BatchSize   int
	BatchWindow time.Duration
	// MaxConcurrency is the event source's MaximumConcurrency (resizeMaxConcurrency).
	MaxConcurrency int
	// ReservedConcurrency of the resize function; 0 means none (it shares the
	// account's unreserved pool).
	ReservedConcurrency int
	// OtherConcurrency is what other functions of the account use meanwhile.
	OtherConcurrency int
	MemoryMB         int
	// Variants is how many variants each image gets (one PUT each, plus alternates).
	Variants, AlternatesPerVariant int
	// StatusPollInterval is how often a browser polls GET /v1/images/{id} until
	// ready, and PollGiveUp when it stops (0: never).
	StatusPollInterval, PollGiveUp time.Duration
	// OldestMessageAlarm is the queue age the operators are paged at.
	OldestMessageAlarm time.Duration
	// TargetP99 is the upload-to-ready objective; 0 skips that check.
	TargetP99 time.Duration
	Limits    Limits
	Prices    Prices
	// Step is the simulation's time step (1s when zero); Drain how long it keeps
	// running after the profile ends for the queue to empty (at most 24h).
	Step, Drain time.Duration
}

// Validate reports every mistake, each naming what is wrong.
func (c Config) Validate() error {
	var errs []error
	if len(c.Profile) == 0 || c.Profile.Uploads() <= 0 {
		errs = append(errs, errors.New("the arrival profile brings no uploads"))
	}
	if len(c.Mix) == 0 {
		errs = append(errs, errors.New("the photo mix is empty"))
	}
	if c.BatchSize < 1 || c.BatchSize > 10000 {
		errs = append(errs, fmt.Errorf("batch size %d is not between 1 and 10000", c.BatchSize))
	}
	if c.BatchWindow < 0 {
		errs = append(errs, fmt.Errorf("batching window %s is negative", c.BatchWindow))
	}
	if c.MaxConcurrency != 0 && (c.MaxConcurrency < 2 || c.MaxConcurrency > 1000) {
		errs = append(errs, fmt.Errorf("maximum concurrency %d is not between 2 and 1000 (or 0 for none)", c.MaxConcurrency))
	}
	if c.ReservedConcurrency < 0 || c.OtherConcurrency < 0 {
		errs = append(errs, errors.New("reserved and other concurrency must not be negative"))
	}
	if c.MemoryMB < 128 {
		errs = append(errs, fmt.Errorf("memory %d MB is below Lambda's 128", c.MemoryMB))
	}
	if c.Limits.StartConcurrency < 1 || c.Limits.MappingMax < c.Limits.StartConcurrency || c.Limits.AccountConcurrency < 1 {
		errs = append(errs, errors.New("limits: start concurrency, mapping maximum and account concurrency must be positive and ordered"))
	}
	if c.Drain < 0 || c.Drain > 24*time.Hour || c.Step < 0 || c.Step > time.Minute {
		errs = append(errs, errors.New("drain must be within 24h and the step within a minute"))
	}
	return errors.Join(errs...)
}

// Sample is the state at one moment.
type Sample struct {
	At            time.Duration
	ArrivalRate   float64 // uploads per second
	Concurrency   int     // concurrent invocations the event source may run
	Busy          float64 // invocations actually running
	Depth         float64 // messages waiting (visible)
	OldestAge     time.Duration
	ProcessedRate float64 // images per second
}

// Limit is a limit the run reached, and when first.
type Limit struct {
	At   time.Duration
	What string
}

// Cost is the run's cost in USD, by service.
type Cost struct {
	Lambda, SQS, S3, API, EventBridge float64
}

// Total is the whole cost.
func (c Cost) Total() float64 { return c.Lambda + c.SQS + c.S3 + c.API + c.EventBridge }

// Result is what a run found.
type Result struct {
	Samples                  []Sample // one per Step
	Uploads, Processed, Lost float64
	// P50, P95 and P99 are upload-to-ready percentiles over every processed image.
	P50, P95, P99      time.Duration
	MaxAge             time.Duration
	MaxDepth           float64
	PeakConcurrency    int
	Drained            time.Duration // when the last image was ready (0 if never)
	Ceiling            int           // the concurrency the limits allow at most
	CeilingReason      string
	ThroughputCeiling  float64 // images per second at the ceiling
	Breaks             []Limit // in the order they were reached
	Cost               Cost
	Invocations        float64
	PeakS3PutPerSecond float64
	PeakAPIPerSecond   float64
}

// cohort is the uploads that arrived in one step, still waiting.
type cohort struct {
	at time.Duration
	n  float64
}

// weighted is one latency and how many images had it.
type weighted struct {
	d time.Duration
	n float64
}

// Run simulates c.
func Run(c Config) (Result, error) {
	if err := c.Validate(); err != nil {
		return Result{}, fmt.Errorf("capacity: %w", err)
	}
	step := c.Step
	if step == 0 {
		step = time.Second
	}
	lim := c.Limits
	var r Result
	// The concurrency the limits allow at most, and which one binds.
	r.Ceiling, r.CeilingReason = lim.MappingMax, fmt.Sprintf("the event source mapping's maximum of %d", lim.MappingMax)
	limitTo := func(n int, why string) {
		if n < r.Ceiling {
			r.Ceiling, r.CeilingReason = n, why
		}
	}
	if c.MaxConcurrency > 0 {
		limitTo(c.MaxConcurrency, fmt.Sprintf("resizeMaxConcurrency (%d)", c.MaxConcurrency))
	}
	if c.ReservedConcurrency > 0 {
		limitTo(c.ReservedConcurrency, fmt.Sprintf("the function's reserved concurrency (%d)", c.ReservedConcurrency))
	} else {
		limitTo(max(lim.AccountConcurrency-c.OtherConcurrency, 0), fmt.Sprintf("the account's concurrency (%d, %d used by other functions)", lim.AccountConcurrency, c.OtherConcurrency))
	}
	mean := 0.0 // seconds per image
	for _, p := range c.Mix {
		mean += p.Share * p.Processing.Seconds()
	}
	r.ThroughputCeiling = float64(r.Ceiling) / mean
	// Messages the event source would hold beyond its allowed concurrency are
	// throttled invocations in Lambda; the model keeps them in the queue instead,
	// which is what the event source does after its backoff.
	breaks := map[string]bool{}
	// brk records the first time a kind of limit is reached.
	brk := func(at time.Duration, kind, what string) {
		if !breaks[kind] {
			breaks[kind] = true
			r.Breaks = append(r.Breaks, Limit{At: at, What: what})
		}
	}
	if c.MaxConcurrency > 0 && c.ReservedConcurrency > 0 && c.MaxConcurrency > c.ReservedConcurrency {
		brk(0, "reserved", fmt.Sprintf("resizeMaxConcurrency %d is above the reserved concurrency %d: invocations past it are throttled (AWS advises against this)", c.MaxConcurrency, c.ReservedConcurrency))
	}

	var queue []cohort
	var lat []weighted
	conc := 0 // concurrency the event source is at
	// backlog is what was still waiting after the last step, lastBusy how many
	// invocations that step kept busy.
	var scaleCredit, backlog, lastBusy float64
	end := c.Profile.Duration()
	drain := c.Drain
	if drain == 0 {
		drain = 24 * time.Hour
	}
	putsPerImage := float64(c.Variants*(1+c.AlternatesPerVariant) + 1) // variants, alternates, manifest
	var invocations, sqsRequests, gbSeconds, apiRequests float64
	for t := time.Duration(0); t < end+drain; t += step {
		dt := step.Seconds()
		rate := c.Profile.rateAt(t)
		if rate > 0 {
			queue = append(queue, cohort{at: t, n: rate * dt})
			r.Uploads += rate * dt
		}
		depth := 0.0
		for _, q := range queue {
			depth += q.n
		}
		// Scaling: five concurrent invocations as soon as messages are there, up
		// to ScaleUpPerMinute more per minute while messages are still waiting
		// after a step, never past the ceiling; when the queue keeps up, back to
		// what is busy (at least the start).
		switch {
		case depth <= 0:
			conc, scaleCredit = 0, 0
		case conc == 0:
			conc = min(lim.StartConcurrency, r.Ceiling)
		case backlog > 1e-9:
			scaleCredit += float64(lim.ScaleUpPerMinute) * dt / 60
			if add := int(scaleCredit); add > 0 {
				scaleCredit -= float64(add)
				conc = min(conc+add, r.Ceiling)
			}
		default:
			scaleCredit = 0
			conc = min(max(lim.StartConcurrency, int(math.Ceil(lastBusy))), r.Ceiling)
		}
		r.PeakConcurrency = max(r.PeakConcurrency, conc)
		// Work: each concurrent invocation resizes 1/mean images a second.
		capacity := float64(conc) * dt / mean
		served := 0.0
		// Images in one invocation run one after another: with batch size b the
		// k-th waits (k-1) images; on average (b-1)/2. A batch holds what is there
		// when the poller receives, up to the batch size.
		perInvocation := 1.0
		if conc > 0 {
			perInvocation = math.Max(1, math.Min(float64(c.BatchSize), depth/float64(conc)))
		}
		inBatch := time.Duration((perInvocation - 1) / 2 * mean * float64(time.Second))
		// With a window, a batch that is not full waits for it (up to the window).
		window := time.Duration(0)
		if c.BatchWindow > 0 && perInvocation < float64(c.BatchSize) {
			fill := time.Duration(math.Inf(1))
			if rate > 0 {
				fill = time.Duration(float64(c.BatchSize-1) / rate * float64(time.Second))
			}
			window = min(c.BatchWindow, fill)
		}
		for capacity > 1e-9 && len(queue) > 0 {
			q := &queue[0]
			take := math.Min(q.n, capacity)
			wait := t - q.at
			for _, p := range c.Mix {
				lat = append(lat, weighted{d: wait + window + inBatch + p.Processing, n: take * p.Share})
			}
			q.n -= take
			capacity -= take
			served += take
			if q.n <= 1e-9 {
				queue = queue[1:]
			}
		}
		r.Processed += served
		busy := math.Min(float64(conc), served*mean/dt)
		invocations += served / perInvocation
		gbSeconds += served * mean * float64(c.MemoryMB) / 1024
		// SQS: one send per upload (the S3 notification), a receive and a batched
		// delete per invocation, and the pollers' long polls (20 s each) when idle.
		sqsRequests += rate*dt + 2*served/perInvocation
		if depth <= 0 {
			sqsRequests += float64(lim.StartConcurrency) * dt / 20
		}
		// Drop what has outlived the queue's retention: lost.
		for len(queue) > 0 && t-queue[0].at > lim.QueueRetention {
			r.Lost += queue[0].n
			brk(t, "retention", fmt.Sprintf("messages older than the queue retention (%s) are deleted by SQS: uploads lost", lim.QueueRetention))
			queue = queue[1:]
		}
		depth = 0
		for _, q := range queue {
			depth += q.n
		}
		backlog, lastBusy = depth, busy
		age := time.Duration(0)
		if len(queue) > 0 {
			age = t - queue[0].at
		}
		r.MaxAge = max(r.MaxAge, age)
		r.MaxDepth = math.Max(r.MaxDepth, depth)
		if served > 0 {
			r.Drained = t + step
		}
		// Request rates against the services' limits.
		s3Put := rate + served/dt*putsPerImage // originals, then variants and manifests
		s3Get := served / dt * 2               // HEAD and GET of each original
		// The API: a POST per upload, and each browser polls its pending image.
		api := rate
		if c.StatusPollInterval > 0 {
			polling := busy
			for _, q := range queue {
				if c.PollGiveUp > 0 && t-q.at > c.PollGiveUp {
					continue
				}
				polling += q.n
			}
			api += polling / c.StatusPollInterval.Seconds()
		}
		apiRequests += api * dt
		r.PeakS3PutPerSecond = math.Max(r.PeakS3PutPerSecond, s3Put)
		r.PeakAPIPerSecond = math.Max(r.PeakAPIPerSecond, api)
		if s3Put > lim.S3PutPerPrefix {
			brk(t, "s3put", fmt.Sprintf("S3 PUTs reach %.0f/s, over %.0f/s per prefix: S3 answers 503 SlowDown until it partitions the prefix (the function retries; images slow down)", s3Put, lim.S3PutPerPrefix))
		}
		if s3Get > lim.S3GetPerPrefix {
			brk(t, "s3get", fmt.Sprintf("S3 GET/HEAD reach %.0f/s, over %.0f/s per prefix", s3Get, lim.S3GetPerPrefix))
		}
		if api > lim.APIRequestsPerSecond {
			brk(t, "api", fmt.Sprintf("API requests reach %.0f/s (uploads and status polls), over the HTTP API's %.0f/s account throttle: browsers get 429", api, lim.APIRequestsPerSecond))
		}
		if depth > 0 && conc == r.Ceiling && rate > r.ThroughputCeiling {
			brk(t, "ceiling", fmt.Sprintf("concurrency at its ceiling, %s: %.1f uploads/s arrive, at most %.1f images/s are resized; the queue grows", r.CeilingReason, rate, r.ThroughputCeiling))
		}
		if c.OldestMessageAlarm > 0 && age > c.OldestMessageAlarm {
			brk(t, "age", fmt.Sprintf("the oldest message is older than %s: the OldestMessageAge alarm fires", c.OldestMessageAlarm))
		}
		r.Samples = append(r.Samples, Sample{At: t, ArrivalRate: rate, Concurrency: conc, Busy: busy, Depth: depth, OldestAge: age, ProcessedRate: served / dt})
		if t >= end && len(queue) == 0 {
			break
		}
	}
	for _, q := range queue {
		r.Lost += q.n // still waiting when the simulation stopped
	}
	r.P50, r.P95, r.P99 = percentile(lat, 0.50), percentile(lat, 0.95), percentile(lat, 0.99)
	if c.TargetP99 > 0 && r.P99 > c.TargetP99 {
		brk(r.Drained, "objective", fmt.Sprintf("upload-to-ready p99 %s is over the objective %s", r.P99.Round(10*time.Millisecond), c.TargetP99))
	}
	sort.SliceStable(r.Breaks, func(i, j int) bool { return r.Breaks[i].At < r.Breaks[j].At })
	r.Invocations = invocations
	p := c.Prices
	r.Cost = Cost{
		Lambda:      gbSeconds*p.LambdaGBSecond + invocations*p.LambdaRequest,
		SQS:         sqsRequests * p.SQSRequest,
		S3:          (r.Uploads+r.Processed*putsPerImage)*p.S3Put + r.Processed*2*p.S3Get,
		API:         apiRequests * p.APIRequest,
		EventBridge: r.Processed * p.EventBridgePutEvents,
	}
	return r, nil
}

// percentile of weighted latencies (nearest rank by weight).
func percentile(ws []weighted, q float64) time.Duration {
	if len(ws) == 0 {
		return 0
	}
	s := slices.Clone(ws)
	slices.SortFunc(s, func(a, b weighted) int { return cmp.Compare(a.d, b.d) })
	total := 0.0
	for _, w := range s {
		total += w.n
	}
	acc := 0.0
	for _, w := range s {
		acc += w.n
		if acc >= q*total-1e-9 {
			return w.d
		}
	}
	return s[len(s)-1].d
}
