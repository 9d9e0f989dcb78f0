package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/imagepipe/imagepipe/shared/settings"
)

// caller is who sent a request, as the HTTP API's JWT authorizer verified it.
type caller struct {
	Subject string
	Scopes  []string
}

// callerOf reads the caller from the API Gateway v2 request context that the
// Lambda adapter puts on the request (on AWS and behind the local gateway alike).
// With AuthMode none every caller is settings.AnonymousSubject with every scope.
// In any other mode a request without verified claims is refused: it did not come
// through the authorizer, and nothing is served to an unknown caller.
func (a *API) callerOf(r *http.Request) (caller, bool) {
	if a.cfg.AuthMode == settings.AuthNone {
		return caller{Subject: settings.AnonymousSubject, Scopes: []string{a.cfg.UploadScope}}, true
	}
	rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context())
	if !ok || rc.Authorizer == nil || rc.Authorizer.JWT == nil {
		return caller{}, false
	}
	jwt := rc.Authorizer.JWT
	c := caller{Subject: jwt.Claims["sub"], Scopes: jwt.Scopes}
	if len(c.Scopes) == 0 {
		// API Gateway fills Scopes only for routes with authorization scopes; the
		// claims always carry them (Cognito and most issuers: "scope"; some: "scp").
		for _, claim := range []string{"scope", "scp"} {
			c.Scopes = append(c.Scopes, strings.Fields(strings.Trim(jwt.Claims[claim], "[]"))...)
		}
	}
	return c, c.Subject != ""
}

// authenticate returns the caller or answers 401 itself.
func (a *API) authenticate(w http.ResponseWriter, r *http.Request) (caller, bool) {
	c, ok := a.callerOf(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="imagepipe"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "sign in: send an access token as Authorization: Bearer TOKEN")
	}
	return c, ok
}

// requireScope answers 403 itself when c lacks scope.
func (a *API) requireScope(w http.ResponseWriter, c caller, scope string) bool {
	if slices.Contains(c.Scopes, scope) {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="imagepipe", error="insufficient_scope", scope="`+scope+`"`)
	writeError(w, http.StatusForbidden, "insufficient_scope", "this token may not upload: it lacks the scope "+scope+" (an ID token never has it; send the access token)")
	return false
}
