package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Options describe the page a deployment serves.
type Options struct {
	// MaxBytes is the largest upload; the page refuses bigger files itself.
	MaxBytes int64
	// UploadOrigin and OutputOrigin are where the page PUTs uploads and loads
	// variant thumbnails from (the buckets' origins), for its CSP.
	UploadOrigin, OutputOrigin string
	Auth                       Auth
}

// Auth tells the page how to sign in: authorization code with PKCE against
// Cognito's managed login when deployed, the local issuer in the local cloud.
// An empty ClientID means the page does not sign in (authMode none, or a jwt
// issuer without a client for the page).
type Auth struct {
	Mode                              string
	ClientID                          string
	AuthorizeURL, TokenURL, LogoutURL string
	// Scope is what the page asks for: openid and the upload scope.
	Scope string
}

// OptionsFromEnv reads the page's options from the API function's environment
// (settings.APIEnv, and the Cognito values the CDK app adds); the origins come
// from the API (api.(*API).Origins).
func OptionsFromEnv(getenv func(string) string) (Options, error) {
	o := Options{Auth: Auth{
		Mode:         strings.TrimSpace(getenv("AUTH_MODE")),
		ClientID:     strings.TrimSpace(getenv("AUTH_CLIENT_ID")),
		AuthorizeURL: strings.TrimSpace(getenv("AUTH_AUTHORIZE_URL")),
		TokenURL:     strings.TrimSpace(getenv("AUTH_TOKEN_URL")),
		LogoutURL:    strings.TrimSpace(getenv("AUTH_LOGOUT_URL")),
	}}
	if scope := strings.TrimSpace(getenv("UPLOAD_SCOPE")); scope != "" {
		o.Auth.Scope = "openid " + scope
	}
	v := strings.TrimSpace(getenv("MAX_UPLOAD_BYTES"))
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return o, fmt.Errorf("MAX_UPLOAD_BYTES: want a positive number of bytes, got %q", v)
	}
	o.MaxBytes = n
	if o.Auth.ClientID != "" {
		for name, u := range map[string]string{"AUTH_AUTHORIZE_URL": o.Auth.AuthorizeURL, "AUTH_TOKEN_URL": o.Auth.TokenURL} {
			if _, err := originOf(u); err != nil {
				return o, fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	return o, nil
}

func originOf(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("want an http(s) URL, got %q", raw)
	}
	return u.Scheme + "://" + u.Host, nil
}

// New serves the page with its content security policy: uploads go to the
// uploads bucket, thumbnails come from the output bucket, and the sign-in's code
// exchange goes to the issuer's token endpoint. The policy is decided here, for
// AWS and the local cloud alike.
func New(opt Options) (http.Handler, error) {
	connect := []string{}
	if opt.UploadOrigin != "" {
		connect = append(connect, opt.UploadOrigin)
	}
	if opt.Auth.ClientID != "" {
		o, err := originOf(opt.Auth.TokenURL)
		if err != nil {
			return nil, fmt.Errorf("web: token URL: %w", err)
		}
		connect = append(connect, o)
	}
	var img []string
	if opt.OutputOrigin != "" {
		img = append(img, opt.OutputOrigin)
	}
	csp, err := CSP(connect, img)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	h, err := newHandler(opt)
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		h.ServeHTTP(w, r)
	}), nil
}

// Compose serves the API at /v1/ and /healthz and the page everywhere else, as
// one function behind one HTTP API (functions/api and the local cloud).
func Compose(api, page http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1/", api)
	mux.Handle("/healthz", api)
	mux.Handle("/", page)
	return mux
}
