// Package metrics writes CloudWatch Embedded Metric Format (EMF) records. On Lambda
// they go to stdout and CloudWatch turns them into metrics without an API call; the
// local cloud reads the same records to draw its operations view.
package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Namespace and dimension values shared by the emitter, the CDK dashboard and alarms.
const (
	Namespace        = "imagepipe"
	DimensionService = "Service"
	DimensionCode    = "ErrorCode"
	ServiceResize    = "resize"
)

// Metric names.
const (
	ImagesProcessed = "ImagesProcessed" // Count, per image that ended ready
	ImagesFailed    = "ImagesFailed"    // Count, per image that ended failed, by ErrorCode
	ProcessingTime  = "ProcessingTime"  // Milliseconds, download to manifest
	UploadToReady   = "UploadToReady"   // Milliseconds, upload's LastModified to manifest
	BytesIn         = "BytesIn"         // Bytes of originals read
	BytesOut        = "BytesOut"        // Bytes of variants written
	TransientErrors = "TransientErrors" // Count, messages handed back to the queue
)

// Units used by CloudWatch.
const (
	Count        = "Count"
	Milliseconds = "Milliseconds"
	Bytes        = "Bytes"
)

// Value is one metric sample.
type Value struct {
	Name  string
	Unit  string
	Value float64
}

// Emitter writes one EMF record per call. It is safe for concurrent use.
type Emitter struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

// NewEmitter writes records to w (os.Stdout on Lambda).
func NewEmitter(w io.Writer) *Emitter {
	return &Emitter{w: w, now: time.Now}
}

// Emit writes values under the Service dimension and, when errorCode is not empty,
// also under Service+ErrorCode, so failures can be graphed by code.
func (e *Emitter) Emit(service, errorCode string, values ...Value) error {
	if e == nil || e.w == nil || len(values) == 0 {
		return nil
	}
	dims := [][]string{{DimensionService}}
	rec := map[string]any{DimensionService: service}
	if errorCode != "" {
		dims = append(dims, []string{DimensionService, DimensionCode})
		rec[DimensionCode] = errorCode
	}
	defs := make([]map[string]string, 0, len(values))
	for _, v := range values {
		defs = append(defs, map[string]string{"Name": v.Name, "Unit": v.Unit})
		rec[v.Name] = v.Value
	}
	rec["_aws"] = map[string]any{
		"Timestamp": e.now().UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  Namespace,
			"Dimensions": dims,
			"Metrics":    defs,
		}},
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode metrics: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.w.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	return nil
}

// Record is an EMF record read back: the metric values and dimensions of one line.
type Record struct {
	Time      time.Time
	Service   string
	ErrorCode string
	Values    map[string]float64
}

// Parse reads one EMF line written by Emit. Lines that are not EMF return ok false.
func Parse(line []byte) (rec Record, ok bool) {
	var raw map[string]json.RawMessage
	if json.Unmarshal(line, &raw) != nil {
		return Record{}, false
	}
	var meta struct {
		Timestamp         int64 `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Metrics []struct{ Name string } `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	}
	if m, has := raw["_aws"]; !has || json.Unmarshal(m, &meta) != nil {
		return Record{}, false
	}
	rec = Record{Time: time.UnixMilli(meta.Timestamp), Values: map[string]float64{}}
	_ = json.Unmarshal(raw[DimensionService], &rec.Service)
	_ = json.Unmarshal(raw[DimensionCode], &rec.ErrorCode)
	for _, d := range meta.CloudWatchMetrics {
		for _, m := range d.Metrics {
			var v float64
			if json.Unmarshal(raw[m.Name], &v) == nil {
				rec.Values[m.Name] = v
			}
		}
	}
	return rec, true
}
