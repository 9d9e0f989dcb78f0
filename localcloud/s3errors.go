package localcloud

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"sync/atomic"
)

// s3Error is S3's XML error document.
type s3Error struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource,omitempty"`
	RequestID string   `xml:"RequestId"`
}

var requestIDs atomic.Uint64

// writeS3Error answers the way S3 does, so SDK error handling (codes, retries on
// 500/503) behaves locally as it does in AWS.
func writeS3Error(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	id := strconv.FormatUint(requestIDs.Add(1), 16)
	body, _ := xml.Marshal(s3Error{Code: code, Message: message, Resource: r.URL.Path, RequestID: id})
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("x-amz-request-id", id)
	h.Set("Content-Length", strconv.Itoa(len(xml.Header)+len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(xml.Header))
		_, _ = w.Write(body)
	}
}
