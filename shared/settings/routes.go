package settings

// Route is one route of the HTTP API, for the CDK app and the local gateway alike.
type Route struct {
	// Method is an HTTP method or "ANY"; Path is a path, with a greedy
	// "{proxy+}" as its last segment, or "$default".
	Method, Path string
	// Authorized routes go through the JWT authorizer; Scopes, when set, are the
	// route's authorization scopes (the token needs one of them).
	Authorized bool
	Scopes     []string
}

// DefaultRoute catches what no other route matches.
const DefaultRoute = "$default"

// APIRoutes are the HTTP API's routes. Every /v1 route is behind the JWT
// authorizer except CORS preflights, which browsers send without credentials and
// the function answers (API Gateway's own CORS is off, so one piece of code
// decides CORS on AWS and locally); uploading needs the upload scope. The page,
// its assets and /healthz are public. With authMode none there is one open route.
func (s Settings) APIRoutes() []Route {
	if s.Auth.Mode == AuthNone {
		return []Route{{Method: "ANY", Path: DefaultRoute}}
	}
	return []Route{
		{Method: "POST", Path: "/v1/uploads", Authorized: true, Scopes: []string{s.Auth.UploadScope}},
		{Method: "OPTIONS", Path: "/v1/{proxy+}"},
		{Method: "ANY", Path: "/v1/{proxy+}", Authorized: true},
		{Method: "ANY", Path: DefaultRoute},
	}
}
