package main

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/imagepipe/imagepipe/shared/settings"
)

// AuthProps configures who may call the API.
type AuthProps struct {
	Settings settings.Settings
	// PageURL is where the page lives (the API's URL); Cognito may send the
	// browser back there after sign-in and sign-out.
	PageURL *string
}

// Auth is the sign-in side of the stack: in cognito mode a user pool, its
// resource server with the upload scope, the page's app client (authorization
// code with PKCE, no secret) and a managed login domain; in cognito and jwt mode
// the HTTP API's JWT authorizer. In none mode it holds nothing.
type Auth struct {
	Construct  constructs.Construct
	UserPool   awscognito.UserPool
	Client     awscognito.UserPoolClient
	Domain     awscognito.UserPoolDomain
	Authorizer awsapigatewayv2.IHttpRouteAuthorizer
	// PageEnv is what the API function needs to let the page sign in.
	PageEnv map[string]*string
}

// NewAuth creates the user pool (cognito mode) and the JWT authorizer.
func NewAuth(scope constructs.Construct, id string, props AuthProps) *Auth {
	c := constructs.NewConstruct(scope, jsii.String(id))
	s := props.Settings
	a := &Auth{Construct: c, PageEnv: map[string]*string{}}
	switch s.Auth.Mode {
	case settings.AuthNone:
		awscdk.Annotations_Of(c).AddWarning(jsii.String("authMode is none: anyone who can reach the API may upload, read, list " +
			"and delete images. Use it for demos only."))
		return a
	case settings.AuthJWT:
		a.Authorizer = awsapigatewayv2authorizers.NewHttpJwtAuthorizer(jsii.String("Jwt"), jsii.String(s.Auth.Issuer),
			&awsapigatewayv2authorizers.HttpJwtAuthorizerProps{JwtAudience: jsii.Strings(s.Auth.Audience...)})
		if s.Auth.ClientID != "" {
			a.PageEnv["AUTH_CLIENT_ID"] = jsii.String(s.Auth.ClientID)
			a.PageEnv["AUTH_AUTHORIZE_URL"] = jsii.String(s.Auth.AuthorizeURL)
			a.PageEnv["AUTH_TOKEN_URL"] = jsii.String(s.Auth.TokenURL)
			a.PageEnv["AUTH_LOGOUT_URL"] = jsii.String(s.Auth.LogoutURL)
		}
		return a
	}

	a.UserPool = awscognito.NewUserPool(c, jsii.String("Users"), &awscognito.UserPoolProps{
		SelfSignUpEnabled: jsii.Bool(s.Auth.SelfSignUp),
		SignInAliases:     &awscognito.SignInAliases{Email: jsii.Bool(true), Username: jsii.Bool(true)},
		AutoVerify:        &awscognito.AutoVerifiedAttrs{Email: jsii.Bool(true)},
		PasswordPolicy: &awscognito.PasswordPolicy{
			MinLength: jsii.Number(12), RequireDigits: jsii.Bool(true), RequireLowercase: jsii.Bool(true),
			RequireUppercase: jsii.Bool(true), RequireSymbols: jsii.Bool(true),
		},
		Mfa:             awscognito.Mfa_OPTIONAL,
		MfaSecondFactor: &awscognito.MfaSecondFactor{Otp: jsii.Bool(true), Sms: jsii.Bool(false)},
		AccountRecovery: awscognito.AccountRecovery_EMAIL_ONLY,
		// Users own images: deleting the stack must not delete who owns what.
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	acknowledge(a.UserPool, "AwsSolutions-COG2",
		"MFA is optional (TOTP), not required: the pool holds an image service's uploaders, and a deployment that "+
			"needs MFA for every user sets it on the pool; tokens it issues are checked the same way either way.")
	acknowledge(a.UserPool, "AwsSolutions-COG3",
		"Threat protection (advanced security) needs the Cognito Plus feature plan at extra cost per user; the "+
			"API is further bounded by stage throttling and per-user upload quotas.")
	resourceID, scopeName, _ := strings.Cut(s.Auth.UploadScope, "/")
	upload := awscognito.NewResourceServerScope(&awscognito.ResourceServerScopeProps{
		ScopeName: jsii.String(scopeName), ScopeDescription: jsii.String("upload images"),
	})
	server := a.UserPool.AddResourceServer(jsii.String("Api"), &awscognito.UserPoolResourceServerOptions{
		Identifier: jsii.String(resourceID), Scopes: &[]awscognito.ResourceServerScope{upload},
	})
	callbacks := append([]*string{props.PageURL}, *jsii.Strings(s.Auth.CallbackURLs...)...)
	logouts := append([]*string{props.PageURL}, *jsii.Strings(s.Auth.LogoutURLs...)...)
	a.Client = a.UserPool.AddClient(jsii.String("Page"), &awscognito.UserPoolClientOptions{
		// A browser cannot keep a secret: public client, authorization code with PKCE.
		GenerateSecret:             jsii.Bool(false),
		PreventUserExistenceErrors: jsii.Bool(true),
		OAuth: &awscognito.OAuthSettings{
			Flows:        &awscognito.OAuthFlows{AuthorizationCodeGrant: jsii.Bool(true)},
			Scopes:       &[]awscognito.OAuthScope{awscognito.OAuthScope_OPENID(), awscognito.OAuthScope_ResourceServer(server, upload)},
			CallbackUrls: &callbacks,
			LogoutUrls:   &logouts,
		},
	})
	prefix := s.Auth.DomainPrefix
	var domainPrefix *string
	if prefix != "" {
		domainPrefix = jsii.String(prefix)
	} else {
		// Unique per stack: the first block of the stack's own GUID.
		stackID := awscdk.Stack_Of(c).StackId()
		guid := awscdk.Fn_Select(jsii.Number(2), awscdk.Fn_Split(jsii.String("/"), stackID, nil))
		domainPrefix = awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("imagepipe-"),
			awscdk.Fn_Select(jsii.Number(0), awscdk.Fn_Split(jsii.String("-"), guid, nil))})
	}
	a.Domain = a.UserPool.AddDomain(jsii.String("Login"), &awscognito.UserPoolDomainOptions{
		CognitoDomain: &awscognito.CognitoDomainOptions{DomainPrefix: domainPrefix},
	})
	issuer := awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("https://cognito-idp."), awscdk.Stack_Of(c).Region(),
		jsii.String(".amazonaws.com/"), a.UserPool.UserPoolId()})
	// Cognito access tokens carry client_id and no aud; the authorizer then
	// checks client_id against the audience.
	a.Authorizer = awsapigatewayv2authorizers.NewHttpJwtAuthorizer(jsii.String("Cognito"), issuer,
		&awsapigatewayv2authorizers.HttpJwtAuthorizerProps{JwtAudience: &[]*string{a.Client.UserPoolClientId()}})
	base := a.Domain.BaseUrl(nil)
	join := func(path string) *string { return awscdk.Fn_Join(jsii.String(""), &[]*string{base, jsii.String(path)}) }
	a.PageEnv["AUTH_CLIENT_ID"] = a.Client.UserPoolClientId()
	a.PageEnv["AUTH_AUTHORIZE_URL"] = join("/oauth2/authorize")
	a.PageEnv["AUTH_TOKEN_URL"] = join("/oauth2/token")
	a.PageEnv["AUTH_LOGOUT_URL"] = join("/logout")
	return a
}
