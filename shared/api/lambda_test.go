package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

// The function runs this handler behind API Gateway (HTTP API, payload 2.0) through
// the same adapter functions/api uses; these events are what API Gateway sends.
func TestBehindAPIGatewayPayloadV2(t *testing.T) {
	adapter := httpadapter.NewV2(newTestAPI(t, &fakeObjects{}))
	event := func(method, path, body string) events.APIGatewayV2HTTPRequest {
		return events.APIGatewayV2HTTPRequest{
			Version: "2.0", RouteKey: "$default", RawPath: path,
			Headers: map[string]string{"content-type": "application/json", "origin": testOrigin},
			Body:    body,
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path, Protocol: "HTTP/1.1", SourceIP: "203.0.113.7"},
			},
		}
	}
	tests := []struct {
		name, method, path, body string
		status                   int
		bodyHas                  string
	}{
		{"upload", "POST", "/v1/uploads", `{"filename":"cat.jpg","contentType":"image/jpeg","size":10}`, 201, `"statusUrl":"/v1/images/`},
		{"refused", "POST", "/v1/uploads", `{"filename":"cat.jpg","contentType":"image/jpeg","size":100000}`, 413, `"too_large"`},
		{"unknown image", "GET", "/v1/images/" + strings.Repeat("a", 32), "", 404, `"not_found"`},
		{"health", "GET", "/healthz", "", 200, `"ok"`},
		{"page", "GET", "/", "", 200, "<html"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := adapter.ProxyWithContext(context.Background(), event(tc.method, tc.path, tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || !strings.Contains(resp.Body, tc.bodyHas) {
				t.Fatalf("status %d, body %.200s; want %d with %q", resp.StatusCode, resp.Body, tc.status, tc.bodyHas)
			}
			if resp.Headers["Access-Control-Allow-Origin"] != testOrigin || resp.Headers["Content-Security-Policy"] == "" {
				t.Errorf("headers %v", resp.Headers)
			}
			if tc.status == 201 {
				var up uploadResponse
				if err := json.Unmarshal([]byte(resp.Body), &up); err != nil || up.Upload.Headers["If-None-Match"] != "*" {
					t.Errorf("upload response %s: %v", resp.Body, err)
				}
			}
		})
	}
}
