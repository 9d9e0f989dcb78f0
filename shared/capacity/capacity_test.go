package capacity

import (
	"math"
	"strings"
	"testing"
	"time"
)

func config(profile string, mix string) Config {
	p, err := ParseProfile(profile)
	if err != nil {
		panic(err)
	}
	m, err := ParseMix(mix)
	if err != nil {
		panic(err)
	}
	return Config{
		Profile: p, Mix: m, BatchSize: 1, MaxConcurrency: 10, MemoryMB: 1769, Variants: 4,
		StatusPollInterval: time.Second, OldestMessageAlarm: 15 * time.Minute,
		Limits: AWSLimits(), Prices: AWSPrices(),
	}
}

func TestParseProfile(t *testing.T) {
	tests := []struct {
		in      string
		uploads float64
		length  time.Duration
		bad     bool
	}{
		{in: "5/s for 1h", uploads: 18000, length: time.Hour},
		{in: "100000 in 10m", uploads: 100000, length: 10 * time.Minute},
		{in: "100000 in 10m, 2/s for 20m", uploads: 102400, length: 30 * time.Minute},
		{in: "5 for 1h", bad: true},
		{in: "-1/s for 1h", bad: true},
		{in: "10 in 0s", bad: true},
		{in: "lots", bad: true},
	}
	for _, tc := range tests {
		p, err := ParseProfile(tc.in)
		if (err != nil) != tc.bad {
			t.Errorf("ParseProfile(%q) error %v, want error %v", tc.in, err, tc.bad)
			continue
		}
		if !tc.bad && (math.Abs(p.Uploads()-tc.uploads) > 0.5 || p.Duration() != tc.length) {
			t.Errorf("ParseProfile(%q): %.0f uploads over %s, want %.0f over %s", tc.in, p.Uploads(), p.Duration(), tc.uploads, tc.length)
		}
	}
}

func TestParseMix(t *testing.T) {
	m, err := ParseMix("12MP=600ms:0.7,20MP=1s:0.3")
	if err != nil || len(m) != 2 || m[1].Processing != time.Second || m[0].Share != 0.7 {
		t.Errorf("mix %+v, %v", m, err)
	}
	for _, bad := range []string{"12MP=600ms:0.7", "12MP=fast:1", "=1s:1", "-1s", "12MP=1s:2"} {
		if _, err := ParseMix(bad); err == nil {
			t.Errorf("ParseMix(%q) accepted", bad)
		}
	}
}

func TestRun(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Config)
		check func(t *testing.T, r Result)
	}{
		{"idle: the resize time", func(c *Config) {}, func(t *testing.T, r Result) {
			if r.P50 < 600*time.Millisecond || r.P99 > 1600*time.Millisecond || len(r.Breaks) != 0 || r.PeakConcurrency > 5 {
				t.Errorf("p50 %s p99 %s, breaks %v, peak concurrency %d; want about 600 ms, nothing broken, at most 5", r.P50, r.P99, r.Breaks, r.PeakConcurrency)
			}
		}},
		{"a 2 s window at low traffic is 2 s more", func(c *Config) { c.BatchSize, c.BatchWindow = 5, 2*time.Second }, func(t *testing.T, r Result) {
			if r.P50 < 2600*time.Millisecond || r.P50 > 2700*time.Millisecond {
				t.Errorf("p50 %s, want 2.6 s", r.P50)
			}
		}},
		{"burst past resizeMaxConcurrency: the queue drains at the ceiling", func(c *Config) {
			c.Profile, _ = ParseProfile("100000 in 10m")
		}, func(t *testing.T, r Result) {
			// 10 concurrent at 0.6 s each: 16.7 images/s, 100,000 in 6,000 s.
			if r.Ceiling != 10 || math.Abs(r.ThroughputCeiling-16.67) > 0.01 || r.Drained < 5950*time.Second || r.Drained > 6100*time.Second {
				t.Errorf("ceiling %d (%.2f/s), drained after %s; want 10, 16.67/s, about 6000 s", r.Ceiling, r.ThroughputCeiling, r.Drained)
			}
			if r.MaxAge < 80*time.Minute || r.P99 < 80*time.Minute {
				t.Errorf("max age %s, p99 %s: the last uploads wait about 90 minutes", r.MaxAge, r.P99)
			}
			if !mentions(r.Breaks, "resizeMaxConcurrency") || !mentions(r.Breaks, "OldestMessageAge") {
				t.Errorf("breaks %v: want the concurrency ceiling and the age alarm", r.Breaks)
			}
			if r.Breaks[0].At > time.Minute {
				t.Errorf("the ceiling was first reached at %s, want within the first minute", r.Breaks[0].At)
			}
		}},
		{"the same burst with room to scale: 300 more a minute", func(c *Config) {
			c.Profile, _ = ParseProfile("100000 in 10m")
			c.MaxConcurrency = 1000
		}, func(t *testing.T, r Result) {
			// 167 uploads/s need 100 concurrent; 5 + 300/min gets there in about 20 s.
			if r.PeakConcurrency < 100 || r.PeakConcurrency > 200 || r.P99 > time.Minute || r.Drained > 11*time.Minute {
				t.Errorf("peak concurrency %d, p99 %s, drained %s; want about 100-200, well under a minute, within the burst", r.PeakConcurrency, r.P99, r.Drained)
			}
			if mentions(r.Breaks, "OldestMessageAge") {
				t.Errorf("breaks %v: the age alarm should not fire", r.Breaks)
			}
		}},
		{"account concurrency binds when other functions use it", func(c *Config) {
			c.MaxConcurrency, c.OtherConcurrency = 1000, 900
		}, func(t *testing.T, r Result) {
			if r.Ceiling != 100 || !strings.Contains(r.CeilingReason, "account") {
				t.Errorf("ceiling %d (%s), want 100 from the account", r.Ceiling, r.CeilingReason)
			}
		}},
		{"too slow for the retention: lost", func(c *Config) {
			c.Profile, _ = ParseProfile("20/s for 2h")
			c.MaxConcurrency = 2
			c.Limits.QueueRetention = time.Hour
		}, func(t *testing.T, r Result) {
			if r.Lost <= 0 || !mentions(r.Breaks, "lost") {
				t.Errorf("lost %.0f, breaks %v; want uploads lost past the retention", r.Lost, r.Breaks)
			}
		}},
		{"S3 and the API at internet scale", func(c *Config) {
			c.Profile, _ = ParseProfile("5000/s for 5m")
			c.MaxConcurrency = 1000
			c.Limits.AccountConcurrency = 20000
		}, func(t *testing.T, r Result) {
			if !mentions(r.Breaks, "S3 PUTs") || !mentions(r.Breaks, "HTTP API") {
				t.Errorf("breaks %v: want S3 PUTs and the HTTP API throttle", r.Breaks)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := config("0.2/s for 10m", "600ms")
			tc.edit(&c)
			r, err := Run(c)
			if err != nil {
				t.Fatal(err)
			}
			// Nothing is created or destroyed: every upload is processed or lost.
			if math.Abs(r.Processed+r.Lost-r.Uploads) > 0.01*r.Uploads {
				t.Errorf("uploads %.0f, processed %.0f, lost %.0f", r.Uploads, r.Processed, r.Lost)
			}
			if r.Cost.Total() <= 0 || r.Cost.Lambda <= 0 {
				t.Errorf("cost %+v", r.Cost)
			}
			tc.check(t, r)
		})
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	c := config("1/s for 1m", "1s")
	c.BatchSize, c.MaxConcurrency, c.MemoryMB = 0, 1, 64
	_, err := Run(c)
	for _, want := range []string{"batch size", "maximum concurrency", "memory"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name the %s", err, want)
		}
	}
}

func TestCostOfAMillionImages(t *testing.T) {
	c := config("1000000 in 24h", "600ms")
	c.MaxConcurrency = 100
	r, err := Run(c)
	if err != nil {
		t.Fatal(err)
	}
	// 1e6 x 0.6 s x 1.7275 GB x $0.0000133334 = $13.82, plus $0.20 of requests.
	if math.Abs(r.Cost.Lambda-14.02) > 0.1 {
		t.Errorf("Lambda cost $%.2f, want about $14.02", r.Cost.Lambda)
	}
	// One original and five outputs (four variants, the manifest) per image at $0.005/1000.
	if math.Abs(r.Cost.S3-(6*1e6*0.005/1000+2*1e6*0.0004/1000)) > 0.5 {
		t.Errorf("S3 cost $%.2f", r.Cost.S3)
	}
}

func mentions(ls []Limit, s string) bool {
	for _, l := range ls {
		if strings.Contains(l.What, s) {
			return true
		}
	}
	return false
}
