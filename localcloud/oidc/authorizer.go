package oidc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// AllowedAlgorithms are the signature algorithms the HTTP API's JWT authorizer
// accepts: RSA only. "none" and HMAC are never accepted.
var AllowedAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512}

// Authorizer checks tokens as an HTTP API JWT authorizer does: the signature with
// a key (by kid) from the issuer's JWKS (found through its discovery document),
// iss, aud or (when there is no aud) client_id, exp, nbf, iat and, for routes
// that name them, scopes.
type Authorizer struct {
	Issuer   string
	Audience []string
	// Client fetches discovery and the JWKS (http.DefaultClient when nil).
	Client *http.Client
	Now    func() time.Time

	mu      sync.Mutex
	keys    *jose.JSONWebKeySet
	fetched time.Time
}

// Refusal is why a token was refused: Status 401 (or 403 for a missing scope),
// and the WWW-Authenticate header API Gateway sends with it.
type Refusal struct {
	Status      int
	Description string
	Scopes      []string
}

func (r *Refusal) Error() string { return r.Description }

// WWWAuthenticate is the header value, in the form API Gateway uses.
func (r *Refusal) WWWAuthenticate() string {
	if r.Description == "" {
		return "Bearer"
	}
	errCode := "invalid_token"
	if r.Status == http.StatusForbidden {
		errCode = "insufficient_scope"
	}
	return fmt.Sprintf(`Bearer scope=%q error=%q error_description=%q`, strings.Join(r.Scopes, " "), errCode, r.Description)
}

// Verified is what the authorizer passes on: the claims as API Gateway flattens
// them into the request context (every value a string), and the token's scopes.
type Verified struct {
	Claims map[string]string
	Scopes []string
}

// keysTTL bounds how long a fetched JWKS is trusted before it is fetched again
// (an unknown kid fetches again at once, at most once a second).
const keysTTL = 5 * time.Minute

// Check verifies the Authorization header value; scopes, when not empty, are the
// route's authorization scopes, of which the token must hold at least one.
func (a *Authorizer) Check(ctx context.Context, authorization string, scopes []string) (*Verified, *Refusal) {
	raw, found := strings.CutPrefix(authorization, "Bearer ")
	raw = strings.TrimSpace(raw)
	if authorization == "" {
		return nil, &Refusal{Status: http.StatusUnauthorized}
	}
	if !found || raw == "" {
		return nil, unauthorized("the Authorization header must be Bearer and a token")
	}
	tok, err := jwt.ParseSigned(raw, AllowedAlgorithms)
	if err != nil {
		return nil, unauthorized("the token is not a signed JWT with an accepted algorithm (RS256, RS384, RS512)")
	}
	kid := tok.Headers[0].KeyID
	if kid == "" {
		return nil, unauthorized("the token has no kid")
	}
	key, err := a.key(ctx, kid)
	if err != nil {
		return nil, unauthorized(err.Error())
	}
	var std jwt.Claims
	var all map[string]any
	if err := tok.Claims(key.Key, &std, &all); err != nil {
		return nil, unauthorized("the token's signature does not verify")
	}
	now := time.Now()
	if a.Now != nil {
		now = a.Now()
	}
	switch {
	case std.Issuer != a.Issuer:
		return nil, unauthorized("the token's issuer is not " + a.Issuer)
	case len(std.Audience) > 0 && !slices.ContainsFunc(std.Audience, func(s string) bool { return slices.Contains(a.Audience, s) }):
		return nil, unauthorized("the token's audience is not accepted")
	case len(std.Audience) == 0 && !slices.Contains(a.Audience, stringClaim(all["client_id"])):
		return nil, unauthorized("the token has no accepted aud or client_id")
	case std.Expiry == nil:
		return nil, unauthorized("the token has no exp")
	case !now.Before(std.Expiry.Time()):
		return nil, unauthorized("the token has expired")
	case std.NotBefore != nil && now.Before(std.NotBefore.Time()):
		return nil, unauthorized("the token is not valid yet")
	case std.IssuedAt != nil && now.Before(std.IssuedAt.Time()):
		return nil, unauthorized("the token was issued in the future")
	}
	v := &Verified{Claims: map[string]string{}}
	for k, c := range all {
		v.Claims[k] = stringClaim(c)
	}
	switch s := all["scope"].(type) {
	case string:
		v.Scopes = strings.Fields(s)
	}
	if scp, ok := all["scp"].([]any); ok {
		for _, s := range scp {
			v.Scopes = append(v.Scopes, stringClaim(s))
		}
	}
	if len(scopes) > 0 && !slices.ContainsFunc(scopes, func(s string) bool { return slices.Contains(v.Scopes, s) }) {
		return nil, &Refusal{Status: http.StatusForbidden, Description: "the token does not have the required scope", Scopes: scopes}
	}
	return v, nil
}

func unauthorized(description string) *Refusal {
	return &Refusal{Status: http.StatusUnauthorized, Description: description}
}

// stringClaim flattens a claim the way API Gateway puts claims in the request
// context: strings as they are, numbers in plain notation, lists in brackets.
func stringClaim(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = stringClaim(p)
		}
		return "[" + strings.Join(parts, " ") + "]"
	case nil:
		return ""
	}
	raw, _ := json.Marshal(v)
	return string(raw)
}

func (a *Authorizer) key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	find := func() *jose.JSONWebKey {
		if a.keys == nil {
			return nil
		}
		if k := a.keys.Key(kid); len(k) > 0 {
			return &k[0]
		}
		return nil
	}
	if k := find(); k != nil && time.Since(a.fetched) < keysTTL {
		return k, nil
	}
	if a.keys == nil || time.Since(a.fetched) > time.Second {
		keys, err := a.fetchKeys(ctx)
		if err != nil {
			return nil, fmt.Errorf("the issuer's keys could not be fetched: %w", err)
		}
		a.keys, a.fetched = keys, time.Now()
	}
	if k := find(); k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("no key of the issuer has the token's kid")
}

func (a *Authorizer) fetchKeys(ctx context.Context) (*jose.JSONWebKeySet, error) {
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := a.getJSON(ctx, a.Issuer+"/.well-known/openid-configuration", &disc); err != nil {
		return nil, err
	}
	if disc.Issuer != a.Issuer || disc.JWKSURI == "" {
		return nil, fmt.Errorf("discovery names issuer %q and jwks_uri %q", disc.Issuer, disc.JWKSURI)
	}
	var set jose.JSONWebKeySet
	if err := a.getJSON(ctx, disc.JWKSURI, &set); err != nil {
		return nil, err
	}
	return &set, nil
}

func (a *Authorizer) getJSON(ctx context.Context, url string, dst any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	client := a.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(dst); err != nil {
		return fmt.Errorf("decode %s: %w", url, err)
	}
	return nil
}
