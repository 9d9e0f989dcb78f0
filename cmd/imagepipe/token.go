package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/imagepipe/imagepipe/localcloud/oidc"
)

// runToken prints an access token for the local cloud of DATA_DIR.
func runToken(_ context.Context, args []string) error {
	return tokenCommand(args, os.Stdout, os.Stderr)
}

func tokenCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: imagepipe token -user NAME [-data DIR] [-ttl 1h] [-no-upload]\n\n"+
			"Prints an access token of the local cloud's issuer (kept in DIR/oidc by `make dev`),\n"+
			"as signing in on the page would give: use it as Authorization: Bearer TOKEN.\n\n")
		fs.PrintDefaults()
	}
	user := fs.String("user", "", "the user (the token's subject)")
	dataDir := fs.String("data", envOr("DATA_DIR", ".imagepipe/"), "the local cloud's data directory (env DATA_DIR)")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	noUpload := fs.Bool("no-upload", false, "leave out the upload scope (the token may read, list and delete, not upload)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *user == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("-user is required and no arguments are taken")
	}
	if *ttl <= 0 || *ttl > 24*time.Hour {
		return fmt.Errorf("-ttl must be between 1s and 24h, got %s", *ttl)
	}
	is, err := oidc.Open(filepath.Join(*dataDir, "oidc"))
	if err != nil {
		return err
	}
	scopes := []string{"openid"}
	if !*noUpload {
		scopes = append(scopes, is.UploadScope())
	}
	tok, err := is.AccessToken(*user, scopes, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
