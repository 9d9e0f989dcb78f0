package oidc

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// startIssuer serves an issuer on a loopback port (its URL must name the server).
func startIssuer(t *testing.T, keyDir string) (*Issuer, *httptest.Server) {
	t.Helper()
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	is, err := New(Options{URL: srv.URL + "/oidc", ClientID: "page", RedirectURIs: []string{srv.URL + "/"}, UploadScope: "imagepipe/upload", KeyDir: keyDir})
	if err != nil {
		t.Fatal(err)
	}
	h = is.Handler()
	return is, srv
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func pkce(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestAuthorizationCodeWithPKCE(t *testing.T) {
	is, srv := startIssuer(t, "")
	verifier := strings.Repeat("v", 50)
	q := url.Values{"response_type": {"code"}, "client_id": {"page"}, "redirect_uri": {srv.URL + "/"}, "scope": {"openid imagepipe/upload"},
		"state": {"s1"}, "code_challenge": {pkce(verifier)}, "code_challenge_method": {"S256"}}
	resp, err := http.Get(is.AuthorizeURL() + "?" + q.Encode())
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("form: %v %v", resp, err)
	}
	resp.Body.Close()
	form := url.Values{}
	for k, v := range q {
		form[k] = v
	}
	form.Set("username", "alice")
	resp, err = noRedirects.PostForm(is.AuthorizeURL(), form)
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("sign in: %v %v", resp, err)
	}
	back, _ := url.Parse(resp.Header.Get("Location"))
	code := back.Query().Get("code")
	if back.Query().Get("state") != "s1" || code == "" || !strings.HasPrefix(back.String(), srv.URL+"/") {
		t.Fatalf("redirect %s", back)
	}
	exchange := func(code, verifier string) (int, map[string]any) {
		resp, err := http.PostForm(is.TokenURL(), url.Values{"grant_type": {"authorization_code"}, "client_id": {"page"},
			"code": {code}, "redirect_uri": {srv.URL + "/"}, "code_verifier": {verifier}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if status, body := exchange(code, "wrong-verifier"); status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("wrong verifier: %d %v", status, body)
	}
	// The failed attempt used the code up, as a stolen code's first use would.
	if status, _ := exchange(code, verifier); status != 400 {
		t.Errorf("a code works twice")
	}
	// Again, properly.
	form.Set("state", "s2")
	resp, _ = noRedirects.PostForm(is.AuthorizeURL(), form)
	back, _ = url.Parse(resp.Header.Get("Location"))
	status, body := exchange(back.Query().Get("code"), verifier)
	if status != 200 || body["access_token"] == nil || body["id_token"] == nil || body["scope"] != "openid imagepipe/upload" {
		t.Fatalf("tokens: %d %v", status, body)
	}
	a := &Authorizer{Issuer: is.URL(), Audience: []string{"page"}}
	v, refusal := a.Check(context.Background(), "Bearer "+body["access_token"].(string), []string{"imagepipe/upload"})
	if refusal != nil || v.Claims["sub"] != "alice" || v.Claims["token_use"] != "access" {
		t.Fatalf("access token: %+v %v", v, refusal)
	}
	// The ID token passes the signature, issuer and audience checks but has no scope.
	if _, refusal := a.Check(context.Background(), "Bearer "+body["id_token"].(string), []string{"imagepipe/upload"}); refusal == nil || refusal.Status != 403 {
		t.Errorf("ID token for an upload: %v", refusal)
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	is, srv := startIssuer(t, "")
	good := url.Values{"response_type": {"code"}, "client_id": {"page"}, "redirect_uri": {srv.URL + "/"}, "scope": {"openid"},
		"state": {"s"}, "code_challenge": {pkce("x")}, "code_challenge_method": {"S256"}}
	tests := []struct {
		name        string
		edit        func(url.Values)
		status      int
		redirectErr string
	}{
		{"unknown client", func(v url.Values) { v.Set("client_id", "evil") }, 400, ""},
		{"unregistered redirect", func(v url.Values) { v.Set("redirect_uri", "https://evil.example/") }, 400, ""},
		{"plain PKCE", func(v url.Values) { v.Set("code_challenge_method", "plain") }, 302, "invalid_request"},
		{"no PKCE", func(v url.Values) { v.Del("code_challenge") }, 302, "invalid_request"},
		{"implicit flow", func(v url.Values) { v.Set("response_type", "token") }, 302, "unsupported_response_type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{}
			for k, v := range good {
				q[k] = append([]string(nil), v...)
			}
			tc.edit(q)
			resp, err := noRedirects.Get(is.AuthorizeURL() + "?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.redirectErr != "" {
				back, _ := url.Parse(resp.Header.Get("Location"))
				if back.Query().Get("error") != tc.redirectErr || !strings.HasPrefix(back.String(), srv.URL+"/") {
					t.Errorf("redirect %s", back)
				}
			}
		})
	}
}

func TestKeysPersistInKeyDir(t *testing.T) {
	dir := t.TempDir()
	first, _ := startIssuer(t, dir)
	tok, err := first.AccessToken("alice", []string{"imagepipe/upload"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	reopened, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if reopened.key.KeyID != first.key.KeyID || reopened.URL() != first.URL() {
		t.Errorf("reopened issuer has kid %s at %s, want %s at %s", reopened.key.KeyID, reopened.URL(), first.key.KeyID, first.URL())
	}
	// The first issuer's server checks a token the reopened one minted, and back.
	a := &Authorizer{Issuer: first.URL(), Audience: []string{"page"}}
	minted, _ := reopened.AccessToken("bob", []string{"imagepipe/upload"}, time.Minute)
	for _, tk := range []string{tok, minted} {
		if _, refusal := a.Check(context.Background(), "Bearer "+tk, nil); refusal != nil {
			t.Errorf("token refused: %v", refusal)
		}
	}
	if _, err := Open(t.TempDir()); err == nil {
		t.Error("Open of an empty directory succeeded")
	}
}

func TestRefusalHeaders(t *testing.T) {
	r := &Refusal{Status: 401, Description: "the token has expired"}
	if got := r.WWWAuthenticate(); got != `Bearer scope="" error="invalid_token" error_description="the token has expired"` {
		t.Errorf("401: %s", got)
	}
	r = &Refusal{Status: 403, Description: "no scope", Scopes: []string{"imagepipe/upload"}}
	if got := r.WWWAuthenticate(); !strings.Contains(got, `error="insufficient_scope"`) || !strings.Contains(got, `scope="imagepipe/upload"`) {
		t.Errorf("403: %s", got)
	}
	if got := (&Refusal{Status: 401}).WWWAuthenticate(); got != "Bearer" {
		t.Errorf("missing token: %s", got)
	}
}
