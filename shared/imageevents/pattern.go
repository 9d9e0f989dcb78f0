package imageevents

import "encoding/json"

// EventPattern is an EventBridge event pattern over the fields imagepipe's rules
// use. Detail holds pattern JSON as EventBridge takes it (lists of values or of
// operator objects).
type EventPattern struct {
	Source     []string       `json:"source"`
	DetailType []string       `json:"detail-type"`
	Detail     map[string]any `json:"detail,omitempty"`
}

// Pattern is the pattern of the webhook rule and of the archive: every imagepipe
// event of the detail version this code writes. The CDK app deploys it and the
// local cloud matches it, so both route the same events.
func Pattern() EventPattern {
	return EventPattern{
		Source:     []string{Source},
		DetailType: append([]string(nil), DetailTypes...),
		Detail:     map[string]any{"version": []any{DetailVersion}},
	}
}

// JSON is the pattern as EventBridge's API takes it.
func (p EventPattern) JSON() []byte {
	raw, err := json.Marshal(p)
	if err != nil {
		// Only strings, lists and maps of them: cannot fail.
		panic("imageevents: encode pattern: " + err.Error())
	}
	return raw
}
