package metrics

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestEmitWritesEMFThatParsesBack(t *testing.T) {
	var buf bytes.Buffer
	e := NewEmitter(&buf)
	e.now = func() time.Time { return time.UnixMilli(1700000000123) }
	if err := e.Emit(ServiceResize, "corrupt_image", Value{ImagesFailed, Count, 1}, Value{ProcessingTime, Milliseconds, 42}); err != nil {
		t.Fatal(err)
	}
	if err := e.Emit(ServiceResize, "", Value{ImagesProcessed, Count, 1}); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("%d lines", len(lines))
	}
	// The shape CloudWatch requires: _aws.CloudWatchMetrics[].{Namespace,Dimensions,Metrics}.
	var raw struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Service, ErrorCode string
		ImagesFailed       float64
	}
	if err := json.Unmarshal(lines[0], &raw); err != nil {
		t.Fatal(err)
	}
	d := raw.AWS.CloudWatchMetrics[0]
	if raw.AWS.Timestamp != 1700000000123 || d.Namespace != Namespace || len(d.Dimensions) != 2 || d.Dimensions[1][1] != DimensionCode ||
		len(d.Metrics) != 2 || d.Metrics[0].Unit != Count || raw.Service != ServiceResize || raw.ErrorCode != "corrupt_image" || raw.ImagesFailed != 1 {
		t.Errorf("EMF record %s", lines[0])
	}
	rec, ok := Parse(lines[0])
	if !ok || rec.ErrorCode != "corrupt_image" || rec.Values[ProcessingTime] != 42 || !rec.Time.Equal(time.UnixMilli(1700000000123)) {
		t.Errorf("Parse = %+v, %v", rec, ok)
	}
	rec, ok = Parse(lines[1])
	if !ok || rec.ErrorCode != "" || rec.Values[ImagesProcessed] != 1 {
		t.Errorf("Parse = %+v, %v", rec, ok)
	}
}

func TestParseIgnoresOtherLines(t *testing.T) {
	for _, line := range []string{"", "not json", `{"msg":"image ready"}`, `{"_aws":"x"}`} {
		if _, ok := Parse([]byte(line)); ok {
			t.Errorf("Parse(%q) ok", line)
		}
	}
}

func TestNilEmitterIsQuiet(t *testing.T) {
	var e *Emitter
	if err := e.Emit(ServiceResize, "", Value{ImagesProcessed, Count, 1}); err != nil {
		t.Fatal(err)
	}
}

func TestSinkSplitsLinesAndSkipsOthers(t *testing.T) {
	var got []Record
	s := NewSink(func(r Record) { got = append(got, r) })
	var buf bytes.Buffer
	_ = NewEmitter(&buf).Emit(ServiceResize, "", Value{ImagesProcessed, Count, 1})
	line := buf.Bytes()
	// A log line, then an EMF record split across writes, then a runaway line.
	for _, chunk := range [][]byte{[]byte("{\"msg\":\"hello\"}\n"), line[:10], line[10:], bytes.Repeat([]byte("x"), maxLine+1)} {
		if n, err := s.Write(chunk); err != nil || n != len(chunk) {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if len(got) != 1 || got[0].Values[ImagesProcessed] != 1 {
		t.Fatalf("records %+v", got)
	}
	if len(s.partial) != 0 {
		t.Errorf("runaway line kept: %d bytes", len(s.partial))
	}
}
