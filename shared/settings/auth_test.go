package settings

import (
	"strings"
	"testing"
)

func TestAuthValidationNamesEachMistake(t *testing.T) {
	tests := []struct {
		key    string
		mutate func(*Settings)
	}{
		{"authMode", func(s *Settings) { s.Auth.Mode = "open" }},
		{"authUploadScope", func(s *Settings) { s.Auth.UploadScope = "up load" }},
		{"authUploadScope", func(s *Settings) { s.Auth.UploadScope = "upload" }}, // cognito needs RESOURCE/SCOPE
		{"authIssuer", func(s *Settings) { s.Auth.Mode, s.Auth.Audience = AuthJWT, []string{"x"} }},
		{"authIssuer", func(s *Settings) {
			s.Auth.Mode, s.Auth.Issuer, s.Auth.Audience = AuthJWT, "http://issuer.example", []string{"x"}
		}},
		{"authAudience", func(s *Settings) { s.Auth.Mode, s.Auth.Issuer = AuthJWT, "https://issuer.example" }},
		{"authAuthorizeUrl", func(s *Settings) {
			s.Auth.Mode, s.Auth.Issuer, s.Auth.Audience, s.Auth.ClientID = AuthJWT, "https://issuer.example", []string{"x"}, "page"
		}},
		{"authCallbackUrls", func(s *Settings) { s.Auth.CallbackURLs = []string{"http://app.example/"} }},
		{"authLogoutUrls", func(s *Settings) { s.Auth.LogoutURLs = []string{"ftp://app.example/"} }},
		{"authDomainPrefix", func(s *Settings) { s.Auth.DomainPrefix = "My-Domain" }},
		{"authDomainPrefix", func(s *Settings) { s.Auth.DomainPrefix = "my-cognito-login" }},
		{"quotaUploadsPerDay", func(s *Settings) { s.Quota.UploadsPerDay = 0 }},
		{"quotaUploadsPerDay", func(s *Settings) { s.Quota.UploadsPerDay = 5000 }},
		{"quotaBytesPerDay", func(s *Settings) { s.Quota.BytesPerDay = s.Limits.MaxBytes - 1 }},
	}
	for _, tc := range tests {
		s := Default()
		tc.mutate(&s)
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.key+":") {
			t.Errorf("%s: error %v does not name the key", tc.key, err)
		}
	}
}

func TestAuthModesThatAreValid(t *testing.T) {
	tests := map[string]func(*Settings){
		"cognito default": func(*Settings) {},
		"none":            func(s *Settings) { s.Auth.Mode = AuthNone },
		"jwt": func(s *Settings) {
			s.Auth = Auth{Mode: AuthJWT, Issuer: "https://login.example.com/", Audience: []string{"api://imagepipe"}, UploadScope: "upload"}
		},
		"jwt with page sign-in": func(s *Settings) {
			s.Auth = Auth{Mode: AuthJWT, Issuer: "https://login.example.com/", Audience: []string{"spa"}, UploadScope: "upload",
				ClientID: "spa", AuthorizeURL: "https://login.example.com/authorize", TokenURL: "https://login.example.com/token"}
		},
		"localhost callback": func(s *Settings) { s.Auth.CallbackURLs = []string{"http://localhost:3000/"} },
	}
	for name, mutate := range tests {
		s := Default()
		mutate(&s)
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestAuthFromContext(t *testing.T) {
	ctx := map[string]any{
		"authMode": "jwt", "authIssuer": "https://login.example.com", "authAudience": "a,b",
		"authUploadScope": "write:images", "authSelfSignUp": "true", "quotaUploadsPerDay": "10", "quotaBytesPerDay": float64(1 << 30),
	}
	s, err := FromContext(func(k string) any { return ctx[k] })
	if err != nil {
		t.Fatal(err)
	}
	a := s.Auth
	if a.Mode != AuthJWT || a.Issuer != "https://login.example.com" || strings.Join(a.Audience, ",") != "a,b" ||
		a.UploadScope != "write:images" || !a.SelfSignUp || s.Quota.UploadsPerDay != 10 || s.Quota.BytesPerDay != 1<<30 {
		t.Errorf("got %+v %+v", a, s.Quota)
	}
	if _, err := FromContext(func(k string) any {
		if k == "authSelfSignUp" {
			return "maybe"
		}
		return nil
	}); err == nil || !strings.Contains(err.Error(), "authSelfSignUp:") {
		t.Errorf("bad bool: %v", err)
	}
}
