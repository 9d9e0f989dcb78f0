package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

func TestAuthCognitoByDefault(t *testing.T) {
	s := defaults(t)
	s.has(t, "AWS::Cognito::UserPool", map[string]any{
		// Self sign-up is off by default: only an administrator creates users.
		"AdminCreateUserConfig": map[string]any{"AllowAdminCreateUserOnly": true},
	})
	s.has(t, "AWS::Cognito::UserPoolResourceServer", map[string]any{
		"Identifier": "imagepipe", "Scopes": []any{map[string]any{"ScopeName": "upload", "ScopeDescription": "upload images"}},
	})
	s.has(t, "AWS::Cognito::UserPoolClient", map[string]any{
		"GenerateSecret":                  false,
		"AllowedOAuthFlows":               []any{"code"},
		"AllowedOAuthFlowsUserPoolClient": true,
		"AllowedOAuthScopes":              assertions.Match_ArrayWith(&[]any{"openid"}),
	})
	// The upload scope is RESOURCE/SCOPE, joined from the resource server's identifier.
	for _, c := range s.ofType("AWS::Cognito::UserPoolClient") {
		raw, _ := json.Marshal(c.Properties["AllowedOAuthScopes"])
		if !strings.Contains(string(raw), `"/upload"`) || !strings.Contains(string(raw), "AuthUsersApi") {
			t.Errorf("app client scopes %s lack the upload scope", raw)
		}
	}
	if len(s.ofType("AWS::Cognito::UserPoolDomain")) != 1 {
		t.Error("no managed login domain")
	}
	s.has(t, "AWS::ApiGatewayV2::Authorizer", map[string]any{
		"AuthorizerType": "JWT",
		"IdentitySource": []any{"$request.header.Authorization"},
		"JwtConfiguration": map[string]any{
			"Audience": []any{ref(s.id(s.stack.Auth.Client))},
			"Issuer":   assertions.Match_AnyValue(),
		},
	})
	s.has(t, "AWS::ApiGatewayV2::Route", map[string]any{"RouteKey": "POST /v1/uploads", "AuthorizationType": "JWT",
		"AuthorizationScopes": []any{"imagepipe/upload"}})
	s.has(t, "AWS::ApiGatewayV2::Route", map[string]any{"RouteKey": "ANY /v1/{proxy+}", "AuthorizationType": "JWT"})
	s.has(t, "AWS::ApiGatewayV2::Route", map[string]any{"RouteKey": "OPTIONS /v1/{proxy+}", "AuthorizationType": "NONE"})
	s.has(t, "AWS::ApiGatewayV2::Route", map[string]any{"RouteKey": "$default", "AuthorizationType": "NONE"})
	env := s.resources[s.id(s.stack.Functions.API)].Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	for _, k := range []string{"AUTH_MODE", "UPLOAD_SCOPE", "AUTH_CLIENT_ID", "AUTH_AUTHORIZE_URL", "AUTH_TOKEN_URL", "AUTH_LOGOUT_URL", "QUOTA_UPLOADS_PER_DAY"} {
		if env[k] == nil {
			t.Errorf("API function has no %s", k)
		}
	}
	if env["AUTH_MODE"] != "cognito" {
		t.Errorf("AUTH_MODE = %v", env["AUTH_MODE"])
	}
}

func TestAuthJWTAndNone(t *testing.T) {
	t.Run("jwt", func(t *testing.T) {
		s := synth(t, map[string]any{"authMode": "jwt", "authIssuer": "https://login.example.com/", "authAudience": "api://imagepipe", "authUploadScope": "upload"})
		if len(s.ofType("AWS::Cognito::UserPool")) != 0 {
			t.Error("a user pool in jwt mode")
		}
		s.has(t, "AWS::ApiGatewayV2::Authorizer", map[string]any{"AuthorizerType": "JWT",
			"JwtConfiguration": map[string]any{"Audience": []any{"api://imagepipe"}, "Issuer": "https://login.example.com/"}})
		s.has(t, "AWS::ApiGatewayV2::Route", map[string]any{"RouteKey": "POST /v1/uploads", "AuthorizationScopes": []any{"upload"}})
		noNagErrors(t, s)
	})
	t.Run("none warns and opens", func(t *testing.T) {
		s := synth(t, map[string]any{"authMode": "none"})
		if len(s.ofType("AWS::ApiGatewayV2::Authorizer")) != 0 || len(s.ofType("AWS::Cognito::UserPool")) != 0 {
			t.Error("auth resources in none mode")
		}
		s.has(t, "AWS::ApiGatewayV2::Route", map[string]any{"RouteKey": "$default", "AuthorizationType": "NONE"})
		noNagErrors(t, s)
		warnings := assertions.Annotations_FromStack(s.stack.Stack).FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("authMode is none")))
		if len(*warnings) == 0 {
			t.Error("no synthesis warning in none mode")
		}
	})
}

// noNagErrors fails on any cdk-nag finding nobody acknowledged.
func noNagErrors(t *testing.T, s *synthesized) {
	t.Helper()
	errs := assertions.Annotations_FromStack(s.stack.Stack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-")))
	for _, e := range *errs {
		t.Errorf("cdk-nag: %s %v", *e.Id, e.Entry.Data)
	}
}
