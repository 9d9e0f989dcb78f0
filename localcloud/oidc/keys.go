// Package oidc is the local cloud's sign-in: an OpenID Connect issuer with
// discovery, a JWKS, the authorization code flow with PKCE (S256) behind a plain
// dev sign-in form where you type a user name, and a token endpoint; and the
// JWT check that the HTTP API's JWT authorizer makes, for the local gateway.
// Tokens look like Cognito's: access tokens carry client_id, scope and
// token_use=access and no aud; ID tokens carry aud and no scope. All JOSE work is
// go-jose's; nothing here signs or verifies by hand.
package oidc

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	jose "github.com/go-jose/go-jose/v4"
)

// keyFile and configFile live in the key directory (DATA_DIR/oidc for make dev).
const (
	keyFile    = "signing-key.json"
	configFile = "issuer.json"
)

// signingKey returns the RSA key in dir, creating it the first time; with no dir
// the key lives in memory only (tests).
func signingKey(dir string) (jose.JSONWebKey, error) {
	if dir != "" {
		raw, err := os.ReadFile(filepath.Join(dir, keyFile))
		if err == nil {
			var k jose.JSONWebKey
			if err := k.UnmarshalJSON(raw); err != nil {
				return jose.JSONWebKey{}, fmt.Errorf("read %s: %w", filepath.Join(dir, keyFile), err)
			}
			if _, ok := k.Key.(*rsa.PrivateKey); !ok || k.KeyID == "" {
				return jose.JSONWebKey{}, fmt.Errorf("%s does not hold an RSA private key with a kid", filepath.Join(dir, keyFile))
			}
			return k, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return jose.JSONWebKey{}, fmt.Errorf("read signing key: %w", err)
		}
	}
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("generate signing key: %w", err)
	}
	var kid [8]byte
	_, _ = rand.Read(kid[:])
	k := jose.JSONWebKey{Key: priv, KeyID: hex.EncodeToString(kid[:]), Algorithm: string(jose.RS256), Use: "sig"}
	if dir == "" {
		return k, nil
	}
	raw, err := k.MarshalJSON()
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("encode signing key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("key dir: %w", err)
	}
	if err := writeFile(filepath.Join(dir, keyFile), raw); err != nil {
		return jose.JSONWebKey{}, err
	}
	return k, nil
}

// writeFile replaces path atomically, readable by its owner only.
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Saved is what a running issuer records in its key directory, so that
// `imagepipe token` can mint tokens the local cloud accepts.
type Saved struct {
	Issuer      string `json:"issuer"`
	ClientID    string `json:"clientId"`
	UploadScope string `json:"uploadScope"`
}

// Open reads the issuer a local cloud recorded in dir, with its signing key.
func Open(dir string) (*Issuer, error) {
	raw, err := os.ReadFile(filepath.Join(dir, configFile))
	if err != nil {
		return nil, fmt.Errorf("no local issuer recorded in %s (has `make dev` run with this DATA_DIR?): %w", dir, err)
	}
	var s Saved
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, configFile), err)
	}
	if _, err := os.Stat(filepath.Join(dir, keyFile)); err != nil {
		return nil, fmt.Errorf("no signing key in %s: %w", dir, err)
	}
	return New(Options{URL: s.Issuer, ClientID: s.ClientID, UploadScope: s.UploadScope, KeyDir: dir})
}
