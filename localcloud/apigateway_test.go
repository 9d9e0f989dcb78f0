package localcloud

import (
	"testing"

	"github.com/imagepipe/imagepipe/shared/settings"
)

// Routes are picked as API Gateway picks them: exact path over greedy, a method
// over ANY, $default last.
func TestRouteMatching(t *testing.T) {
	routes := settings.Default().APIRoutes()
	tests := []struct{ method, path, want string }{
		{"POST", "/v1/uploads", "POST /v1/uploads"},
		{"GET", "/v1/uploads", "ANY /v1/{proxy+}"},
		{"OPTIONS", "/v1/uploads", "OPTIONS /v1/{proxy+}"},
		{"GET", "/v1/images", "ANY /v1/{proxy+}"},
		{"DELETE", "/v1/images/abc", "ANY /v1/{proxy+}"},
		{"GET", "/v1/", "ANY $default"},
		{"GET", "/v1", "ANY $default"},
		{"GET", "/", "ANY $default"},
		{"GET", "/healthz", "ANY $default"},
		{"GET", "/V1/images", "ANY $default"},
	}
	for _, tc := range tests {
		r := matchRoute(routes, tc.method, tc.path)
		if r == nil || r.Method+" "+r.Path != tc.want {
			t.Errorf("%s %s: %+v, want %s", tc.method, tc.path, r, tc.want)
		}
	}
	open := settings.Default()
	open.Auth.Mode = settings.AuthNone
	for _, r := range open.APIRoutes() {
		if r.Authorized {
			t.Errorf("none mode has an authorized route %+v", r)
		}
	}
}
