package localcloud

import "encoding/json"

// fixSendBatch rewrites goaws's answer to SendMessageBatch in the JSON protocol,
// which names its lists after the XML elements (SendMessageBatchResultEntry,
// BatchResultErrorEntry), into SQS's (Successful, Failed). Without it the SDK
// reads every batch as neither sent nor refused.
func fixSendBatch(action string, body []byte) ([]byte, bool) {
	if action != "SendMessageBatch" {
		return nil, false
	}
	var out map[string]json.RawMessage
	if json.Unmarshal(body, &out) != nil {
		return nil, false
	}
	if _, ok := out["Successful"]; ok {
		return nil, false
	}
	entries, hasEntries := out["SendMessageBatchResultEntry"]
	errs, hasErrs := out["BatchResultErrorEntry"]
	if !hasEntries && !hasErrs {
		return nil, false
	}
	fixed := map[string]json.RawMessage{"Successful": json.RawMessage("[]"), "Failed": json.RawMessage("[]")}
	if hasEntries && string(entries) != "null" {
		fixed["Successful"] = entries
	}
	if hasErrs && string(errs) != "null" {
		fixed["Failed"] = errs
	}
	raw, err := json.Marshal(fixed)
	if err != nil {
		return nil, false
	}
	return raw, true
}
