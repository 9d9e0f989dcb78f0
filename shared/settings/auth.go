package settings

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// The auth modes a deployment chooses between (authMode).
const (
	// AuthCognito: the stack creates a Cognito user pool, an app client for the
	// page and a managed login domain; the HTTP API checks its access tokens.
	AuthCognito = "cognito"
	// AuthJWT: any OIDC issuer and audience (the application's own users).
	AuthJWT = "jwt"
	// AuthNone: explicitly open, for demos; every caller is AnonymousSubject.
	AuthNone = "none"
)

// AuthModes are the values authMode accepts.
var AuthModes = []string{AuthCognito, AuthJWT, AuthNone}

// AnonymousSubject owns every image when authMode is none.
const AnonymousSubject = "anonymous"

// Auth says who may call the API.
type Auth struct {
	Mode string
	// Issuer and Audience are the OIDC issuer (https URL) and the accepted aud or
	// client_id values of its access tokens, for Mode jwt.
	Issuer   string
	Audience []string
	// UploadScope is the scope an access token needs to upload. ID tokens carry
	// no scope, so they are never accepted for uploads. In cognito mode it is
	// RESOURCE/SCOPE, and the stack creates that resource server and scope.
	UploadScope string
	// SelfSignUp lets anyone create an account in the Cognito user pool.
	SelfSignUp bool
	// CallbackURLs and LogoutURLs are where Cognito may send the browser after
	// sign-in and sign-out; the stack adds the page's own URL.
	CallbackURLs []string
	LogoutURLs   []string
	// DomainPrefix is the Cognito managed login domain's prefix; empty derives a
	// unique one from the stack.
	DomainPrefix string
	// ClientID, AuthorizeURL, TokenURL and LogoutURL let the page sign in against
	// the issuer of Mode jwt (PKCE, public client); without ClientID the page
	// does not offer sign-in and callers bring their own tokens.
	ClientID, AuthorizeURL, TokenURL, LogoutURL string
}

// Quota bounds what one user uploads in any 24 hours.
type Quota struct {
	UploadsPerDay int
	BytesPerDay   int64
}

// MaxQuotaUploadsPerDay keeps the quota check to one S3 list page (1,000 keys).
const MaxQuotaUploadsPerDay = 999

func defaultAuth() Auth {
	// Empty lists, not nil, as cdk.json's [] reads back.
	return Auth{Mode: AuthCognito, UploadScope: "imagepipe/upload", Audience: []string{}, CallbackURLs: []string{}, LogoutURLs: []string{}}
}

func defaultQuota() Quota {
	return Quota{UploadsPerDay: 200, BytesPerDay: 2 << 30}
}

var (
	scopePattern        = regexp.MustCompile(`^[\x21\x23-\x5b\x5d-\x7e]+$`) // RFC 6749 scope-token
	cognitoScopePattern = regexp.MustCompile(`^[A-Za-z0-9._~:-]+/[A-Za-z0-9._~:-]+$`)
	domainPrefixPattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)
)

// validateAuth reports the auth and quota settings' mistakes through bad.
func (s Settings) validateAuth(bad func(key, format string, args ...any)) {
	a := s.Auth
	switch a.Mode {
	case AuthCognito, AuthJWT, AuthNone:
	default:
		bad("authMode", "must be one of %s, got %q", strings.Join(AuthModes, ", "), a.Mode)
	}
	if !scopePattern.MatchString(a.UploadScope) {
		bad("authUploadScope", "must be one OAuth scope (no spaces or quotes), got %q", a.UploadScope)
	} else if a.Mode == AuthCognito && !cognitoScopePattern.MatchString(a.UploadScope) {
		bad("authUploadScope", "in cognito mode must be RESOURCE/SCOPE like %q, got %q", "imagepipe/upload", a.UploadScope)
	}
	if a.Mode == AuthJWT {
		if err := checkHTTPS(a.Issuer); err != nil {
			bad("authIssuer", "authMode jwt needs the OIDC issuer's https URL: %v", err)
		}
		if len(a.Audience) == 0 {
			bad("authAudience", "authMode jwt needs at least one audience (the aud or client_id of the tokens)")
		}
		for key, u := range map[string]string{"authAuthorizeUrl": a.AuthorizeURL, "authTokenUrl": a.TokenURL, "authLogoutUrl": a.LogoutURL} {
			if u == "" {
				if a.ClientID != "" && key != "authLogoutUrl" {
					bad(key, "is needed with authClientId, for the page's sign-in")
				}
				continue
			}
			if err := checkHTTPS(u); err != nil {
				bad(key, "%v", err)
			}
		}
	}
	for _, u := range a.Audience {
		if strings.TrimSpace(u) == "" {
			bad("authAudience", "holds an empty audience")
		}
	}
	for key, list := range map[string][]string{"authCallbackUrls": a.CallbackURLs, "authLogoutUrls": a.LogoutURLs} {
		for _, u := range list {
			if err := checkRedirect(u); err != nil {
				bad(key, "%v", err)
			}
		}
	}
	if a.DomainPrefix != "" && (!domainPrefixPattern.MatchString(a.DomainPrefix) ||
		strings.Contains(a.DomainPrefix, "aws") || strings.Contains(a.DomainPrefix, "amazon") || strings.Contains(a.DomainPrefix, "cognito")) {
		bad("authDomainPrefix", "must be lower-case letters, digits and hyphens (at most 63, not containing aws, amazon or cognito), got %q", a.DomainPrefix)
	}
	q := s.Quota
	if q.UploadsPerDay < 1 || q.UploadsPerDay > MaxQuotaUploadsPerDay {
		bad("quotaUploadsPerDay", "must be between 1 and %d, got %d", MaxQuotaUploadsPerDay, q.UploadsPerDay)
	}
	if q.BytesPerDay < s.Limits.MaxBytes {
		bad("quotaBytesPerDay", "must be at least the largest upload (%d bytes), got %d", s.Limits.MaxBytes, q.BytesPerDay)
	}
}

func checkHTTPS(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("want an https URL without query, got %q", raw)
	}
	return nil
}

// checkRedirect accepts https URLs and http://localhost ones, as Cognito does.
func checkRedirect(raw string) error {
	u, err := url.Parse(raw)
	if err == nil && u.Fragment == "" && (u.Scheme == "https" && u.Host != "" || u.Scheme == "http" && u.Hostname() == "localhost") {
		return nil
	}
	return fmt.Errorf("want an https URL (or http://localhost), got %q", raw)
}

// authEnv is the part of the API function's environment about callers.
func (s Settings) authEnv() map[string]string {
	return map[string]string{
		"AUTH_MODE":             s.Auth.Mode,
		"UPLOAD_SCOPE":          s.Auth.UploadScope,
		"QUOTA_UPLOADS_PER_DAY": strconv.Itoa(s.Quota.UploadsPerDay),
		"QUOTA_BYTES_PER_DAY":   strconv.FormatInt(s.Quota.BytesPerDay, 10),
	}
}

// fromContextAuth reads the auth and quota keys (see FromContext).
func fromContextAuth(s *Settings, set func(key string, parse func(v any) error)) {
	str := func(key string, dst *string) { set(key, assign(dst, contextString)) }
	str("authMode", &s.Auth.Mode)
	str("authIssuer", &s.Auth.Issuer)
	set("authAudience", assign(&s.Auth.Audience, contextStrings))
	str("authUploadScope", &s.Auth.UploadScope)
	set("authSelfSignUp", assign(&s.Auth.SelfSignUp, contextBool))
	set("authCallbackUrls", assign(&s.Auth.CallbackURLs, contextStrings))
	set("authLogoutUrls", assign(&s.Auth.LogoutURLs, contextStrings))
	str("authDomainPrefix", &s.Auth.DomainPrefix)
	str("authClientId", &s.Auth.ClientID)
	str("authAuthorizeUrl", &s.Auth.AuthorizeURL)
	str("authTokenUrl", &s.Auth.TokenURL)
	str("authLogoutUrl", &s.Auth.LogoutURL)
	set("quotaUploadsPerDay", assign(&s.Quota.UploadsPerDay, contextInt))
	set("quotaBytesPerDay", assign(&s.Quota.BytesPerDay, contextInt64))
}

// authContextKeys are the ContextKeys fromContextAuth reads.
var authContextKeys = []string{
	"authMode", "authIssuer", "authAudience", "authUploadScope", "authSelfSignUp",
	"authCallbackUrls", "authLogoutUrls", "authDomainPrefix",
	"authClientId", "authAuthorizeUrl", "authTokenUrl", "authLogoutUrl",
	"quotaUploadsPerDay", "quotaBytesPerDay",
}

func contextBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(x))
		if err != nil {
			return false, fmt.Errorf("want true or false, got %q", x)
		}
		return b, nil
	}
	return false, fmt.Errorf("want true or false, got %s", describe(v))
}
