package oidc

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Options configure an Issuer.
type Options struct {
	// URL is the issuer identifier, e.g. http://127.0.0.1:8080/oidc; the issuer's
	// endpoints are under it.
	URL string
	// ClientID is the page's public client (no secret: PKCE).
	ClientID string
	// RedirectURIs may receive codes and be returned to after logout.
	RedirectURIs []string
	// UploadScope is granted to every user who signs in, besides openid.
	UploadScope string
	// KeyDir keeps the signing key and the issuer's record; empty: in memory.
	KeyDir string
	// TokenTTL is the life of access and ID tokens (1h when zero, as Cognito).
	TokenTTL time.Duration
	Now      func() time.Time
}

// Issuer is the local OpenID Connect provider.
type Issuer struct {
	opt    Options
	key    jose.JSONWebKey
	signer jose.Signer

	mu    sync.Mutex
	codes map[string]grant
}

// grant is an authorization code waiting to be exchanged.
type grant struct {
	subject, redirectURI, challenge, scope, nonce string
	expires                                       time.Time
}

// codeTTL is how long an authorization code may wait to be exchanged.
const codeTTL = time.Minute

// New starts an issuer; with a KeyDir it reuses (or creates) the key kept there
// and records itself for Open.
func New(opt Options) (*Issuer, error) {
	u, err := url.Parse(opt.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.HasSuffix(opt.URL, "/") {
		return nil, fmt.Errorf("oidc: issuer URL %q: want http(s)://host[:port]/path without a trailing slash", opt.URL)
	}
	if opt.ClientID == "" || opt.UploadScope == "" {
		return nil, errors.New("oidc: a client id and an upload scope are required")
	}
	if opt.TokenTTL == 0 {
		opt.TokenTTL = time.Hour
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	key, err := signingKey(opt.KeyDir)
	if err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), key.KeyID))
	if err != nil {
		return nil, fmt.Errorf("oidc: signer: %w", err)
	}
	is := &Issuer{opt: opt, key: key, signer: signer, codes: map[string]grant{}}
	if opt.KeyDir != "" {
		raw, _ := json.MarshalIndent(Saved{Issuer: opt.URL, ClientID: opt.ClientID, UploadScope: opt.UploadScope}, "", "  ")
		if err := writeFile(filepath.Join(opt.KeyDir, configFile), raw); err != nil {
			return nil, fmt.Errorf("oidc: %w", err)
		}
	}
	return is, nil
}

// URL is the issuer identifier (the iss of its tokens).
func (is *Issuer) URL() string { return is.opt.URL }

// ClientID is the page's client id (the client_id of access tokens, the aud of ID tokens).
func (is *Issuer) ClientID() string { return is.opt.ClientID }

// Endpoints the page uses.
func (is *Issuer) AuthorizeURL() string { return is.opt.URL + "/authorize" }
func (is *Issuer) TokenURL() string     { return is.opt.URL + "/token" }
func (is *Issuer) LogoutURL() string    { return is.opt.URL + "/logout" }
func (is *Issuer) JWKSURL() string      { return is.opt.URL + "/.well-known/jwks.json" }

// accessClaims are what a Cognito access token carries.
type accessClaims struct {
	jwt.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	TokenUse string `json:"token_use"`
	Username string `json:"username"`
}

type idClaims struct {
	jwt.Claims
	TokenUse string `json:"token_use"`
	Nonce    string `json:"nonce,omitempty"`
	Name     string `json:"cognito:username"`
}

// AccessToken mints an access token for subject with scopes, valid for ttl (the
// issuer's TokenTTL when zero).
func (is *Issuer) AccessToken(subject string, scopes []string, ttl time.Duration) (string, error) {
	if ttl == 0 {
		ttl = is.opt.TokenTTL
	}
	now := is.opt.Now()
	c := accessClaims{
		Claims: jwt.Claims{Issuer: is.opt.URL, Subject: subject, ID: randomString(16),
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(ttl))},
		ClientID: is.opt.ClientID, Scope: strings.Join(scopes, " "), TokenUse: "access", Username: subject,
	}
	return jwt.Signed(is.signer).Claims(c).Serialize()
}

func (is *Issuer) idToken(subject, nonce string) (string, error) {
	now := is.opt.Now()
	c := idClaims{
		Claims: jwt.Claims{Issuer: is.opt.URL, Subject: subject, Audience: jwt.Audience{is.opt.ClientID},
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(is.opt.TokenTTL))},
		TokenUse: "id", Nonce: nonce, Name: subject,
	}
	return jwt.Signed(is.signer).Claims(c).Serialize()
}

// Sign signs arbitrary claims with the issuer's key, for tests that need tokens
// no issuer would mint (expired, wrong audience, ...).
func (is *Issuer) Sign(claims map[string]any) (string, error) {
	return jwt.Signed(is.signer).Claims(claims).Serialize()
}

// Handler serves the issuer's endpoints under the path of its URL.
func (is *Issuer) Handler() http.Handler {
	u, _ := url.Parse(is.opt.URL) // checked in New
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+u.Path+"/.well-known/openid-configuration", is.discovery)
	mux.HandleFunc("GET "+u.Path+"/.well-known/jwks.json", is.jwks)
	mux.HandleFunc("GET "+u.Path+"/authorize", is.authorizeForm)
	mux.HandleFunc("POST "+u.Path+"/authorize", is.authorize)
	mux.HandleFunc("POST "+u.Path+"/token", is.token)
	mux.HandleFunc("GET "+u.Path+"/logout", is.logout)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		mux.ServeHTTP(w, r)
	})
}

func (is *Issuer) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                is.opt.URL,
		"authorization_endpoint":                is.AuthorizeURL(),
		"token_endpoint":                        is.TokenURL(),
		"end_session_endpoint":                  is.LogoutURL(),
		"jwks_uri":                              is.JWKSURL(),
		"response_types_supported":              []string{"code"},
		"grant_types_supported":                 []string{"authorization_code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{string(jose.RS256)},
		"scopes_supported":                      []string{"openid", is.opt.UploadScope},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"none"},
	})
}

func (is *Issuer) jwks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{is.key.Public()}})
}

var signInForm = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in: imagepipe local cloud</title>
<style>body{font:16px system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem}
input,button{font:inherit;padding:.5rem;margin:.25rem 0;width:100%;box-sizing:border-box}</style></head>
<body><main><h1>Sign in</h1>
<p>This is the local cloud's development issuer: type any user name. Nobody checks a password here; on AWS, Cognito does.</p>
{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
<form method="post">
<label for="username">User name</label>
<input id="username" name="username" autocomplete="username" required maxlength="128" pattern="[A-Za-z0-9._@+\-]+" autofocus>
{{range $k, $v := .Fields}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
<button type="submit" id="sign-in">Sign in</button>
</form></main></body></html>`))

// authorizeParams are the query (GET) or form (POST) of an authorization request.
var authorizeParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method", "nonce"}

var usernamePattern = regexp.MustCompile(`^[A-Za-z0-9._@+-]{1,128}$`)

// checkAuthorize validates an authorization request. Errors about the client or
// the redirect URI are shown, never redirected to, as RFC 6749 requires.
func (is *Issuer) checkAuthorize(v url.Values) (fatal string, redirectErr string) {
	if v.Get("client_id") != is.opt.ClientID {
		return "unknown client_id", ""
	}
	if !slices.Contains(is.opt.RedirectURIs, v.Get("redirect_uri")) {
		return "redirect_uri " + v.Get("redirect_uri") + " is not registered for this client", ""
	}
	switch {
	case v.Get("response_type") != "code":
		return "", "unsupported_response_type"
	case v.Get("code_challenge_method") != "S256" || len(v.Get("code_challenge")) != 43:
		return "", "invalid_request" // PKCE with S256 is required: this is a public client
	}
	return "", ""
}

func (is *Issuer) authorizeForm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if fatal, rerr := is.checkAuthorize(q); fatal != "" || rerr != "" {
		is.refuse(w, r, q, fatal, rerr)
		return
	}
	fields := map[string]string{}
	for _, k := range authorizeParams {
		fields[k] = q.Get(k)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = signInForm.Execute(w, struct {
		Fields map[string]string
		Error  string
	}{fields, ""})
}

func (is *Issuer) authorize(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	v := r.PostForm
	if fatal, rerr := is.checkAuthorize(v); fatal != "" || rerr != "" {
		is.refuse(w, r, v, fatal, rerr)
		return
	}
	user := strings.TrimSpace(v.Get("username"))
	if !usernamePattern.MatchString(user) {
		fields := map[string]string{}
		for _, k := range authorizeParams {
			fields[k] = v.Get(k)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_ = signInForm.Execute(w, struct {
			Fields map[string]string
			Error  string
		}{fields, "A user name is 1 to 128 letters, digits or . _ @ + -"})
		return
	}
	code := randomString(24)
	is.mu.Lock()
	now := is.opt.Now()
	for c, g := range is.codes {
		if now.After(g.expires) {
			delete(is.codes, c)
		}
	}
	is.codes[code] = grant{subject: user, redirectURI: v.Get("redirect_uri"), challenge: v.Get("code_challenge"),
		scope: v.Get("scope"), nonce: v.Get("nonce"), expires: now.Add(codeTTL)}
	is.mu.Unlock()
	is.redirect(w, r, v.Get("redirect_uri"), url.Values{"code": {code}, "state": {v.Get("state")}})
}

func (is *Issuer) refuse(w http.ResponseWriter, r *http.Request, v url.Values, fatal, rerr string) {
	if fatal != "" {
		http.Error(w, "sign-in refused: "+fatal, http.StatusBadRequest)
		return
	}
	is.redirect(w, r, v.Get("redirect_uri"), url.Values{"error": {rerr}, "state": {v.Get("state")}})
}

func (is *Issuer) redirect(w http.ResponseWriter, r *http.Request, to string, q url.Values) {
	sep := "?"
	if strings.Contains(to, "?") {
		sep = "&"
	}
	http.Redirect(w, r, to+sep+q.Encode(), http.StatusFound)
}

func (is *Issuer) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		tokenError(w, "invalid_request", "the body must be a form")
		return
	}
	v := r.PostForm
	if v.Get("grant_type") != "authorization_code" {
		tokenError(w, "unsupported_grant_type", "only authorization_code is supported")
		return
	}
	if v.Get("client_id") != is.opt.ClientID {
		tokenError(w, "invalid_client", "unknown client_id")
		return
	}
	is.mu.Lock()
	g, ok := is.codes[v.Get("code")]
	delete(is.codes, v.Get("code")) // a code is used once, whatever happens next
	is.mu.Unlock()
	if !ok || is.opt.Now().After(g.expires) || g.redirectURI != v.Get("redirect_uri") {
		tokenError(w, "invalid_grant", "the code is unknown, used or expired, or the redirect_uri differs")
		return
	}
	sum := sha256.Sum256([]byte(v.Get("code_verifier")))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(g.challenge)) != 1 {
		tokenError(w, "invalid_grant", "code_verifier does not match the code_challenge")
		return
	}
	var scopes []string
	for _, s := range strings.Fields(g.scope) {
		if s == "openid" || s == is.opt.UploadScope {
			scopes = append(scopes, s)
		}
	}
	access, err := is.AccessToken(g.subject, scopes, 0)
	if err != nil {
		tokenError(w, "server_error", "could not sign the token")
		return
	}
	id, err := is.idToken(g.subject, g.nonce)
	if err != nil {
		tokenError(w, "server_error", "could not sign the token")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "id_token": id, "token_type": "Bearer",
		"expires_in": int(is.opt.TokenTTL.Seconds()), "scope": strings.Join(scopes, " ")})
}

func (is *Issuer) logout(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	to := q.Get("logout_uri")
	if q.Get("client_id") != is.opt.ClientID || !slices.Contains(is.opt.RedirectURIs, to) {
		http.Error(w, "sign-out refused: unknown client_id or logout_uri", http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, to, http.StatusFound)
}

func tokenError(w http.ResponseWriter, code, description string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": description})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// UploadScope is the scope the issuer grants for uploads.
func (is *Issuer) UploadScope() string { return is.opt.UploadScope }
