package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/imagepipe/imagepipe/localcloud"
	"github.com/imagepipe/imagepipe/shared/manifest"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// dev runs the whole service on this machine until interrupted.
func dev(ctx context.Context, args []string) error { return runDev(ctx, args, os.Stdout) }

// runDev is dev writing its console output to out.
func runDev(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	addr := fs.String("addr", envOr("ADDR", "127.0.0.1:8080"), "address of the page and API (env ADDR)")
	dataDir := fs.String("data", envOr("DATA_DIR", ".imagepipe/"), "where S3 data is kept across restarts (env DATA_DIR)")
	s3Addr := fs.String("s3-addr", envOr("S3_ADDR", ""), "address of the local S3 (env S3_ADDR; default: the last run's, kept in the data directory, else the API's port + 100; port 0 picks a free one)")
	sqsAddr := fs.String("sqs-addr", envOr("SQS_ADDR", ""), "address of the local SQS (env SQS_ADDR; default: the last run's, else the API's port + 200)")
	cdnAddr := fs.String("cdn-addr", envOr("CDN_ADDR", "127.0.0.1:0"), "address of the local CDN serving the variants (env CDN_ADDR; port 0 picks a free one)")
	logLevel := fs.String("log", envOr("LOG_LEVEL", "warn"), "level of the functions' logs: debug, info, warn or error (env LOG_LEVEL)")
	eventsAddr := fs.String("events-addr", envOr("EVENTS_ADDR", "127.0.0.1:0"), "address of the local EventBridge (env EVENTS_ADDR; port 0 picks a free one)")
	webhook := fs.String("webhook", envOr("WEBHOOK_URL", ""), "deliver every ImageReady, ImageFailed and ImageDeleted event to this URL, as an EventBridge API destination would (env WEBHOOK_URL)")
	webhookKey := fs.String("webhook-key", envOr("WEBHOOK_API_KEY", localcloud.DefaultWebhookAPIKey), "value of the webhook's API key header (env WEBHOOK_API_KEY)")
	authMode := fs.String("auth", envOr("AUTH", ""), "auth mode: cognito or jwt (both sign in with the local issuer) or none (open); default from settings (env AUTH)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	// main cancels ctx on Ctrl-C or SIGTERM.

	// Stable S3 and SQS ports, so the printed settings survive a restart.
	kept, moved, err := localcloud.ChooseDevAddrs(*dataDir, *addr)
	if err != nil {
		return err
	}
	if *s3Addr == "" {
		*s3Addr = kept.S3
	}
	if *sqsAddr == "" {
		*sqsAddr = kept.SQS
	}

	s := settings.Default()
	s.Events.WebhookURL = *webhook
	if *authMode != "" {
		s.Auth.Mode = *authMode // validated with the other settings by Start
	}
	cloud, err := localcloud.Start(ctx, localcloud.Config{
		Settings: s,
		Addr:     *addr,
		S3Addr:   *s3Addr,
		SQSAddr:  *sqsAddr,
		CDNAddr:  *cdnAddr,
		DataDir:  *dataDir,
		Log:      log,
		OnImage:  func(r localcloud.ImageResult) { printImage(out, r) },
		// events
		EventsAddr:    *eventsAddr,
		WebhookAPIKey: *webhookKey,
	})
	if err != nil {
		return err
	}
	if err := localcloud.SaveDevAddrs(*dataDir, cloud); err != nil {
		_ = cloud.Close(context.Background())
		return err
	}
	printBanner(out, cloud, *dataDir)
	for _, m := range moved {
		fmt.Fprintf(out, "note: %s; export the settings above again\n", m)
	}

	<-ctx.Done()
	fmt.Fprintln(out, "stopping: no new work; finishing or handing back what is in flight…")
	closeCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	start := time.Now()
	if err := cloud.Close(closeCtx); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	fmt.Fprintf(out, "stopped in %s; S3 data is in %s\n", time.Since(start).Round(time.Millisecond), *dataDir)
	return nil
}

func printBanner(w io.Writer, c *localcloud.Cloud, dataDir string) {
	env := c.Env()
	fmt.Fprintf(w, `imagepipe local cloud
  page and API  %s
  ops view      %s/ops
  S3            %s  (buckets %s, %s)
  SQS           %s
    queue       %s
    DLQ         %s
  data          %s
`, c.APIURL, c.APIURL, c.S3URL, c.UploadsBucket, c.OutputBucket, c.SQSURL, c.ResizeQueueURL, c.DLQURL, dataDir)
	fmt.Fprintf(w, "  EventBridge   %s  (bus %s, DLQ %s)\n", c.EventsURL, c.EventBusName, c.EventsDLQURL)
	if c.Webhook != nil {
		fmt.Fprintf(w, "    webhook     %s  (header %s)\n", c.Settings().Events.WebhookURL, c.Settings().Events.WebhookHeaderName)
	} else {
		fmt.Fprintln(w, "    webhook     none (make dev WEBHOOK_URL=http://127.0.0.1:PORT/path delivers every event there)")
	}
	if c.CDNURL != "" {
		fmt.Fprintf(w, "  CDN           %s  (the variants' URLs)\n", c.CDNURL)
	}
	if c.Issuer != nil {
		fmt.Fprintf(w, "  sign-in       %s (the page's Sign in; any user name)\n  token         TOKEN=$(bin/imagepipe token -user alice -data %s)\n", c.Issuer.URL(), dataDir)
	} else {
		fmt.Fprintln(w, "  auth          none: the API is open to anyone who can reach it")
	}
	if c.Recovered > 0 {
		fmt.Fprintf(w, "  recovered     %d uploads without a manifest were queued again\n", c.Recovered)
	}
	// Lines starting "  $ " are commands; TestDevPrintedSettingsWorkWithTheAWSCLI runs them.
	fmt.Fprintf(w, `AWS CLI (v2 and v1) and SDKs, a profile kept in the data directory (same ports after a restart):
  $ export AWS_CONFIG_FILE=%s AWS_PROFILE=%s
  $ aws s3 ls s3://%s
  $ aws sqs list-queues                                  # AWS CLI v2
  $ aws sqs list-queues --endpoint-url %s   # AWS CLI v1: it sends SQS to queue.amazonaws.com unless --endpoint-url is given (aws/aws-cli#8737)
Or the environment instead of a profile:
  $ export AWS_ENDPOINT_URL_S3=%s AWS_ENDPOINT_URL_SQS=%s AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_REGION=%s AWS_DEFAULT_REGION=%s
`, shellQuote(filepath.Join(absDir(dataDir), localcloud.AWSConfigFile)), localcloud.AWSProfile, c.UploadsBucket, c.SQSURL,
		env["AWS_ENDPOINT_URL_S3"], env["AWS_ENDPOINT_URL_SQS"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_REGION"], env["AWS_DEFAULT_REGION"])
	fmt.Fprintln(w, "Ctrl-C stops.")
}

// printImage writes one line per finished image.
func printImage(w io.Writer, r localcloud.ImageResult) {
	m := r.Manifest
	name := m.Source.Filename
	if name == "" {
		name = r.Key
	}
	if m.Status == manifest.StatusFailed && m.Error != nil {
		fmt.Fprintf(w, "%s failed %s %q: %s: %s\n", time.Now().Format("15:04:05"), r.ID, name, m.Error.Code, m.Error.Message)
		return
	}
	var names []string
	for _, v := range m.Variants {
		names = append(names, fmt.Sprintf("%s %dx%d", v.Name, v.Width, v.Height))
	}
	fmt.Fprintf(w, "%s ready  %s %q %s %dx%d in %dms: %s\n", time.Now().Format("15:04:05"), r.ID, name,
		m.Source.Format, m.Source.Width, m.Source.Height, m.ProcessingMS, strings.Join(names, ", "))
}

// absDir makes dir absolute, so the printed path works from any directory.
func absDir(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// shellQuote quotes s for a POSIX shell when it holds anything but safe characters.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:=@,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func envOr(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}
