package schemacheck

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/imagepipe/imagepipe/shared/imageevents"
)

// TestDocsExamples keeps docs/events.md true: its example events and details
// match the schemas, and the pattern it shows is the one deployed.
func TestDocsExamples(t *testing.T) {
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(dir, "..", "events.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(doc, -1)
	typeOf := map[string]string{"ready": imageevents.TypeReady, "failed": imageevents.TypeFailed, "deleted": imageevents.TypeDeleted}
	seen := map[string]bool{}
	for _, b := range blocks {
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(b[1], &probe); err != nil {
			t.Errorf("example is not JSON: %v\n%s", err, b[1])
			continue
		}
		var compact bytes.Buffer
		_ = json.Compact(&compact, b[1])
		isPattern := bytes.HasPrefix(bytes.TrimSpace(probe["source"]), []byte("["))
		switch {
		case isPattern:
			if compact.String() != string(imageevents.Pattern().JSON()) {
				t.Errorf("docs show the pattern %s; the code deploys %s", compact.String(), imageevents.Pattern().JSON())
			}
			seen["pattern"] = true
		case probe["detail-type"] != nil:
			if err := Validate(b[1]); err != nil {
				t.Errorf("%v\n%s", err, b[1])
			}
			seen["event"] = true
		case probe["status"] != nil:
			var status string
			_ = json.Unmarshal(probe["status"], &status)
			if err := Validate(Envelope(typeOf[status], compact.Bytes(), "2026-11-22T10:00:02Z")); err != nil {
				t.Errorf("%v\n%s", err, b[1])
			}
			seen[status] = true
		}
	}
	for _, want := range []string{"event", "failed", "deleted", "pattern"} {
		if !seen[want] {
			t.Errorf("docs/events.md has no %s example", want)
		}
	}
}
