package metrics

import (
	"bytes"
	"sync"
)

// maxLine bounds a line held while waiting for its newline; EMF records are small.
const maxLine = 1 << 20

// Sink is an io.Writer for a log stream: it hands every EMF record written to it to
// a function and ignores other lines, so metrics can be read from a shared stream.
type Sink struct {
	mu      sync.Mutex
	partial []byte
	observe func(Record)
}

// NewSink calls observe, outside any lock, for each record.
func NewSink(observe func(Record)) *Sink { return &Sink{observe: observe} }

func (s *Sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.partial = append(s.partial, p...)
	var recs []Record
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		if rec, ok := Parse(s.partial[:i]); ok {
			recs = append(recs, rec)
		}
		s.partial = s.partial[i+1:]
	}
	if len(s.partial) > maxLine { // a runaway line without a newline: drop it
		s.partial = nil
	}
	s.partial = bytes.Clone(s.partial)
	s.mu.Unlock()
	for _, r := range recs {
		s.observe(r)
	}
	return len(p), nil
}
