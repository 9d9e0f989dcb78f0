package localcloud

import (
	"fmt"
	"path/filepath"
	"slices"

	"github.com/imagepipe/imagepipe/localcloud/oidc"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// oidcPath is where the local issuer lives on the page's origin.
const oidcPath = "/oidc"

// PageClientID is the local issuer's client for the page (Cognito's app client on AWS).
const PageClientID = "imagepipe-page"

// startIssuer starts the local OIDC issuer unless authMode is none. Both cognito
// and jwt modes use it locally: there is no Cognito and no outside issuer here.
// Its key is kept in DataDir/oidc, so tokens survive a restart and `imagepipe
// token` can mint them.
func (c *Cloud) startIssuer() error {
	if c.cfg.Settings.Auth.Mode == settings.AuthNone {
		return nil
	}
	keyDir := ""
	if c.cfg.DataDir != "" {
		keyDir = filepath.Join(c.cfg.DataDir, "oidc")
	}
	redirects := []string{c.APIURL + "/"}
	for _, o := range c.cfg.Settings.AllowedOrigins {
		if u := o + "/"; !slices.Contains(redirects, u) {
			redirects = append(redirects, u)
		}
	}
	is, err := oidc.New(oidc.Options{URL: c.APIURL + oidcPath, ClientID: PageClientID, RedirectURIs: redirects,
		UploadScope: c.cfg.Settings.Auth.UploadScope, KeyDir: keyDir})
	if err != nil {
		return fmt.Errorf("local issuer: %w", err)
	}
	c.Issuer = is
	return nil
}

// AccessToken mints an access token for user with the upload scope, as signing in
// on the page would; "" with authMode none, where none is needed.
func (c *Cloud) AccessToken(user string) (string, error) {
	if c.Issuer == nil {
		return "", nil
	}
	return c.Issuer.AccessToken(user, []string{"openid", c.cfg.Settings.Auth.UploadScope}, 0)
}
