// Package schemacheck validates events against the JSON Schemas in docs/events/,
// for the tests of every package that publishes or delivers imagepipe events. It
// reads the schemas from the source tree, so the documented files are the ones
// tested, and is imported by tests only.
package schemacheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/xeipuuv/gojsonschema"

	"github.com/imagepipe/imagepipe/shared/imageevents"
)

// Files maps each detail type to its schema file under docs/events/.
var Files = map[string]string{
	imageevents.TypeReady:   "image-ready.schema.json",
	imageevents.TypeFailed:  "image-failed.schema.json",
	imageevents.TypeDeleted: "image-deleted.schema.json",
}

var (
	once    sync.Once
	schemas map[string]*gojsonschema.Schema
	loadErr error
)

// Dir is docs/events of the source tree this package was built from.
func Dir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("schemacheck: cannot locate the source tree")
	}
	// file is shared/imageevents/schemacheck/schemacheck.go.
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "docs", "events"), nil
}

func load() (map[string]*gojsonschema.Schema, error) {
	once.Do(func() {
		dir, err := Dir()
		if err != nil {
			loadErr = err
			return
		}
		schemas = map[string]*gojsonschema.Schema{}
		for typ, name := range Files {
			sch, err := Compile(filepath.Join(dir, name))
			if err != nil {
				loadErr = err
				return
			}
			schemas[typ] = sch
		}
	})
	return schemas, loadErr
}

// Compile reads and compiles one schema file (draft-07; formats such as
// date-time and uri are checked).
func Compile(path string) (*gojsonschema.Schema, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("schemacheck: %w", err)
	}
	sch, err := gojsonschema.NewSchema(gojsonschema.NewBytesLoader(raw))
	if err != nil {
		return nil, fmt.Errorf("schemacheck: compile %s: %w", path, err)
	}
	return sch, nil
}

// Validate checks a whole event (EventBridge envelope and detail) against the
// schema of its detail-type.
func Validate(event []byte) error {
	all, err := load()
	if err != nil {
		return err
	}
	var probe struct {
		DetailType string `json:"detail-type"`
	}
	if err := json.Unmarshal(event, &probe); err != nil {
		return fmt.Errorf("schemacheck: not JSON: %w", err)
	}
	sch, ok := all[probe.DetailType]
	if !ok {
		return fmt.Errorf("schemacheck: no schema for detail-type %q", probe.DetailType)
	}
	res, err := sch.Validate(gojsonschema.NewBytesLoader(event))
	if err != nil {
		return fmt.Errorf("schemacheck: %w", err)
	}
	if !res.Valid() {
		var msgs []string
		for _, e := range res.Errors() {
			msgs = append(msgs, e.String())
		}
		return fmt.Errorf("schemacheck: %s does not match %s: %s", probe.DetailType, Files[probe.DetailType], strings.Join(msgs, "; "))
	}
	return nil
}

// Envelope wraps a published event as EventBridge delivers it, for tests that
// see only PutEvents entries (the local cloud builds the same envelope).
func Envelope(detailType string, detail []byte, time string) []byte {
	env := map[string]any{
		"version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": detailType,
		"source": imageevents.Source, "account": "000000000000", "time": time,
		"region": "us-east-1", "resources": []string{}, "detail": json.RawMessage(detail),
	}
	raw, _ := json.Marshal(env) // strings and valid JSON: cannot fail
	return raw
}
