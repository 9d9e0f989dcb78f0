package cdn

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dop251/goja"
)

// Value is a header, query string parameter or cookie in a CloudFront Functions
// event: the first value, and every value when there were several.
type Value struct {
	Value      string  `json:"value"`
	MultiValue []Value `json:"multiValue,omitempty"`
}

// Event is the event object CloudFront Functions passes to a viewer-request
// function (version 1.0).
type Event struct {
	Version string       `json:"version"`
	Context EventContext `json:"context"`
	Viewer  struct {
		IP string `json:"ip"`
	} `json:"viewer"`
	Request Request `json:"request"`
}

// EventContext says where and why the function runs.
type EventContext struct {
	DistributionDomainName string `json:"distributionDomainName"`
	DistributionID         string `json:"distributionId"`
	EventType              string `json:"eventType"`
	RequestID              string `json:"requestId"`
}

// Request is the viewer's request as CloudFront Functions sees it: header names
// lowercased, cookies apart from the headers.
type Request struct {
	Method      string           `json:"method"`
	URI         string           `json:"uri"`
	QueryString map[string]Value `json:"querystring"`
	Headers     map[string]Value `json:"headers"`
	Cookies     map[string]Value `json:"cookies"`
}

// Response is an answer the function makes itself instead of forwarding the request.
type Response struct {
	StatusCode        int              `json:"statusCode"`
	StatusDescription string           `json:"statusDescription,omitempty"`
	Headers           map[string]Value `json:"headers,omitempty"`
	Body              Body             `json:"body"`
}

// Body is a generated response's body: a plain string, or {encoding, data}.
type Body struct {
	Encoding string `json:"encoding"`
	Data     string `json:"data"`
}

// UnmarshalJSON accepts both forms CloudFront Functions accepts.
func (b *Body) UnmarshalJSON(raw []byte) error {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		*b = Body{Encoding: "text", Data: s}
		return nil
	}
	type plain Body
	var p plain
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("body: want a string or {encoding, data}: %w", err)
	}
	if p.Encoding != "text" && p.Encoding != "base64" {
		return fmt.Errorf("body encoding %q: want text or base64", p.Encoding)
	}
	*b = Body(p)
	return nil
}

// Result is what the function returned: a request to forward, or a response.
type Result struct {
	Request  *Request
	Response *Response
}

// Function is a compiled CloudFront Function. Each Run gets a fresh JavaScript
// runtime, as each CloudFront invocation does, so no state leaks between requests.
type Function struct {
	program *goja.Program
	// limit bounds one run; CloudFront stops a function that computes too long.
	limit time.Duration
}

// ErrFunction is wrapped by every failure of the function itself (a throw, a
// result of the wrong shape, running too long): CloudFront answers those 503.
var ErrFunction = errors.New("cloudfront function failed")

// Compile parses a function's source, which must define handler(event).
func Compile(name, source string) (*Function, error) {
	p, err := goja.Compile(name, source, true)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", name, err)
	}
	return &Function{program: p, limit: time.Second}, nil
}

// Run calls handler(event) and decodes what it returned.
func (f *Function) Run(ev Event) (Result, error) {
	raw, err := json.Marshal(ev)
	if err != nil {
		return Result{}, fmt.Errorf("encode event: %w", err)
	}
	vm := goja.New()
	timer := time.AfterFunc(f.limit, func() { vm.Interrupt("time limit") })
	defer timer.Stop()
	if _, err := vm.RunProgram(f.program); err != nil {
		return Result{}, fmt.Errorf("%w: load: %w", ErrFunction, err)
	}
	handler, ok := goja.AssertFunction(vm.Get("handler"))
	if !ok {
		return Result{}, fmt.Errorf("%w: the code defines no function handler(event)", ErrFunction)
	}
	// The event goes in as JSON.parse would build it, so the function sees plain
	// objects exactly like CloudFront's.
	parse, _ := goja.AssertFunction(vm.Get("JSON").ToObject(vm).Get("parse"))
	event, err := parse(goja.Undefined(), vm.ToValue(string(raw)))
	if err != nil {
		return Result{}, fmt.Errorf("encode event: %w", err)
	}
	out, err := handler(goja.Undefined(), event)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrFunction, err)
	}
	stringify, _ := goja.AssertFunction(vm.Get("JSON").ToObject(vm).Get("stringify"))
	js, err := stringify(goja.Undefined(), out)
	if err != nil || goja.IsUndefined(js) {
		return Result{}, fmt.Errorf("%w: the handler returned no object", ErrFunction)
	}
	var probe struct {
		StatusCode *int    `json:"statusCode"`
		URI        *string `json:"uri"`
	}
	if err := json.Unmarshal([]byte(js.String()), &probe); err != nil {
		return Result{}, fmt.Errorf("%w: the handler returned %s, not an object", ErrFunction, js.String())
	}
	switch {
	case probe.StatusCode != nil:
		var resp Response
		if err := json.Unmarshal([]byte(js.String()), &resp); err != nil {
			return Result{}, fmt.Errorf("%w: response: %w", ErrFunction, err)
		}
		return Result{Response: &resp}, nil
	case probe.URI != nil:
		var req Request
		if err := json.Unmarshal([]byte(js.String()), &req); err != nil {
			return Result{}, fmt.Errorf("%w: request: %w", ErrFunction, err)
		}
		if req.Method != ev.Request.Method {
			return Result{}, fmt.Errorf("%w: the handler changed the read-only method", ErrFunction)
		}
		if len(req.URI) == 0 || req.URI[0] != '/' {
			return Result{}, fmt.Errorf("%w: the new uri %q does not begin with /", ErrFunction, req.URI)
		}
		return Result{Request: &req}, nil
	}
	return Result{}, fmt.Errorf("%w: the handler returned neither a request nor a response: %s", ErrFunction, js.String())
}
