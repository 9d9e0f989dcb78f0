package localcloud

import (
	"net/http"
	"sync"
	"time"
)

// Fault is what an injected failure does to a request: wait Delay, then answer
// the S3 error Status/Code/Message instead of serving it; with Status 0 the request
// is served after the delay (a slow S3).
type Fault struct {
	Status  int
	Code    string
	Message string
	Delay   time.Duration
}

// Faults S3 answers in real life and clients must retry.
var (
	SlowDown      = Fault{Status: http.StatusServiceUnavailable, Code: "SlowDown", Message: "Please reduce your request rate."}
	InternalError = Fault{Status: http.StatusInternalServerError, Code: "InternalError", Message: "We encountered an internal error. Please try again."}
)

// FaultRule is consulted for every S3 request whose signature checked out. n counts
// the requests with this method on this bucket and key so far, starting at 1 (faulted
// ones included). It returns the fault to answer, or nil to serve the request.
type FaultRule func(method, bucket, key string, n int) *Fault

// FailFirst fails the first count requests with method on bucket/key.
func FailFirst(method, bucket, key string, count int, f Fault) FaultRule {
	return func(m, b, k string, n int) *Fault {
		if m == method && b == bucket && k == key && n <= count {
			return &f
		}
		return nil
	}
}

// Slow delays the first count requests with method on bucket/key by d.
func Slow(method, bucket, key string, count int, d time.Duration) FaultRule {
	return FailFirst(method, bucket, key, count, Fault{Delay: d})
}

// FailAlways fails every request with method on bucket/key.
func FailAlways(method, bucket, key string, f Fault) FaultRule {
	return FailFirst(method, bucket, key, int(^uint(0)>>1), f)
}

// Faults holds the active fault rules of one S3 endpoint and counts requests.
type Faults struct {
	mu     sync.Mutex
	next   int
	rules  map[int]FaultRule
	counts map[faultKey]int
}

type faultKey struct{ method, bucket, key string }

// Add activates rule until the returned function is called.
func (f *Faults) Add(rule FaultRule) (remove func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rules == nil {
		f.rules = map[int]FaultRule{}
	}
	id := f.next
	f.next++
	f.rules[id] = rule
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.rules, id)
	}
}

// Count reports how many requests with method reached bucket/key.
func (f *Faults) Count(method, bucket, key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[faultKey{method, bucket, key}]
}

// check counts the request and returns the first fault a rule asks for.
func (f *Faults) check(method, bucket, key string) *Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.counts == nil {
		f.counts = map[faultKey]int{}
	}
	k := faultKey{method, bucket, key}
	f.counts[k]++
	n := f.counts[k]
	for _, rule := range f.rules {
		if fault := rule(method, bucket, key, n); fault != nil {
			return fault
		}
	}
	return nil
}
