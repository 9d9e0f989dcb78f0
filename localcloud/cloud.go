// Package localcloud runs the whole imagepipe service on one machine, with no AWS
// account: an S3 (gofakes3, with SigV4 checks, CORS, conditional writes and bucket
// notifications in front), an SQS (goaws) with the resize queue and its DLQ, an
// event-source poller with Lambda's SQS semantics that invokes the unmodified resize
// handler, and the API. Every part speaks the real wire protocol on 127.0.0.1, and
// the handlers use real SDK clients pointed at it.
package localcloud

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	ebsdk "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3bolt"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	bolt "go.etcd.io/bbolt"

	"github.com/imagepipe/imagepipe/localcloud/cdn"
	"github.com/imagepipe/imagepipe/localcloud/eventbridge"
	"github.com/imagepipe/imagepipe/localcloud/eventsource"
	"github.com/imagepipe/imagepipe/localcloud/oidc"
	"github.com/imagepipe/imagepipe/localcloud/sigv4"
	"github.com/imagepipe/imagepipe/shared/api"
	"github.com/imagepipe/imagepipe/shared/metrics"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// Local credentials: the only key the local S3 accepts. Point the AWS CLI or an SDK
// at the local cloud with these (see docs/local-cloud.md).
const (
	DefaultAccessKeyID     = "LOCALCLOUDACCESSKEY"
	DefaultSecretAccessKey = "localcloud-secret-access-key"
	DefaultRegion          = "us-east-1"
)

// Config describes one local cloud.
type Config struct {
	// Settings are the deployment settings the CDK app uses too.
	Settings settings.Settings
	// Addr is where the API and page listen ("127.0.0.1:0" picks a free port).
	Addr string
	// S3Addr, SQSAddr and CDNAddr default to a free port on 127.0.0.1.
	S3Addr, SQSAddr, CDNAddr string
	// DataDir keeps S3 data across restarts (s3bolt); empty keeps it in memory.
	DataDir string
	// Name prefixes buckets and queues; queues are process-wide in goaws, so two
	// clouds in one process need different names.
	Name   string
	Region string
	// AccessKeyID and SecretAccessKey are the credentials S3 accepts and the
	// handlers use (DefaultAccessKeyID and DefaultSecretAccessKey when empty).
	AccessKeyID, SecretAccessKey string
	// VisibilityTimeout overrides Settings.VisibilityTimeout() (tests use seconds).
	VisibilityTimeout time.Duration
	// PollWait is the long-polling wait of the event source (20s when zero).
	PollWait time.Duration
	// StopGrace is how long in-flight invocations may finish on Close (5s when zero).
	StopGrace time.Duration
	// Handler is what the event source invokes. When nil, the real resize handler
	// is built from Settings.
	Handler eventsource.Handler
	// NoEventSource leaves the resize queue unpolled (tests run their own pollers).
	NoEventSource bool
	// S3RetryMaxAttempts tunes the handlers' S3 clients (SDK default when zero).
	S3RetryMaxAttempts int
	// Log receives the handlers' and the cloud's logs; discarded when nil.
	Log *slog.Logger
	// OnImage hears about every image the resize handler finished.
	OnImage func(ImageResult)

	// Events (events.go): EventsAddr is the EventBridge endpoint (a free port when
	// empty); WebhookAPIKey is the value of the webhook's API key header (the
	// connection's secret on AWS); WebhookRetry tunes the local delivery bounds.
	EventsAddr    string
	WebhookAPIKey string
	WebhookRetry  WebhookRetry
}

// Cloud is a running local cloud.
type Cloud struct {
	cfg Config
	log *slog.Logger

	// S3URL, SQSURL and APIURL are the endpoints, e.g. http://127.0.0.1:41234.
	S3URL, SQSURL, APIURL       string
	UploadsBucket, OutputBucket string
	ResizeQueueURL, DLQURL      string
	ResizeQueueARN, DLQARN      string
	// S3 and SQS are clients with the local credentials, for callers and tests.
	S3        *s3.Client
	SQS       *sqs.Client
	Presigner *s3.PresignClient
	// Faults injects S3 errors.
	Faults *Faults
	// Recovered counts the uploads without a manifest that Start queued again.
	Recovered int
	// EventSource is the configuration of the resize queue's event source.
	EventSource eventsource.Config
	// CDNURL and CDN are the local distribution of the variants (delivery.go);
	// empty and nil when the settings turn the CDN off.
	CDNURL      string
	CDN         *cdn.CDN
	cdnListener net.Listener
	// Issuer is the local OIDC issuer at APIURL/oidc (nil with authMode none);
	// Gateway fronts the API function as the HTTP API does; API is the function's API.
	Issuer  *oidc.Issuer
	Gateway *APIGateway
	API     *api.API

	// Events is the event bus (EventsURL its endpoint), Webhook its webhook target
	// when Settings.Events.WebhookURL is set, EventsDLQURL the targets' DLQ.
	EventsURL, EventBusName, EventsDLQURL string
	Events                                *eventbridge.Bus
	Webhook                               *eventbridge.Webhook
	EventBridge                           *ebsdk.Client

	handler  eventsource.Handler
	api      *http.Server
	stopOps  func()
	backend  gofakes3.Backend
	notifier *Notifier
	sqsFront *sqsFront
	metrics  *metricsHub
	emitter  *metrics.Emitter
	// warmResize compiles the resize function's codecs, as its init does on
	// Lambda (nil when Config.Handler replaced the real handler).
	warmResize func() error

	servers      []*http.Server
	listeners    []net.Listener
	stopHousekp  func()
	stopPoller   context.CancelFunc
	pollerDone   chan struct{}
	closeBackend func() error
	closeOnce    sync.Once
	closeErr     error
}

func (cfg *Config) defaults() {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.S3Addr == "" {
		cfg.S3Addr = "127.0.0.1:0"
	}
	if cfg.SQSAddr == "" {
		cfg.SQSAddr = "127.0.0.1:0"
	}
	if cfg.EventsAddr == "" {
		cfg.EventsAddr = "127.0.0.1:0"
	}
	if cfg.CDNAddr == "" {
		cfg.CDNAddr = "127.0.0.1:0"
	}
	if cfg.Name == "" {
		cfg.Name = "imagepipe"
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.AccessKeyID == "" {
		cfg.AccessKeyID, cfg.SecretAccessKey = DefaultAccessKeyID, DefaultSecretAccessKey
	}
	if cfg.VisibilityTimeout == 0 {
		cfg.VisibilityTimeout = cfg.Settings.VisibilityTimeout()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
}

// Start brings up S3, SQS, queues, buckets, the event source and the API. Close
// stops them. ctx bounds the start only.
func Start(ctx context.Context, cfg Config) (c *Cloud, err error) {
	cfg.defaults()
	if err := cfg.Settings.Validate(); err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	if cfg.VisibilityTimeout < time.Second {
		return nil, fmt.Errorf("visibility timeout %s is below 1s", cfg.VisibilityTimeout)
	}
	c = &Cloud{
		cfg:           cfg,
		log:           cfg.Log,
		UploadsBucket: cfg.Name + "-uploads",
		OutputBucket:  cfg.Name + "-output",
		Faults:        &Faults{},
		metrics:       newMetricsHub(),
	}
	started := c
	defer func() {
		if err != nil {
			// Undo whatever was started: listeners, servers, queues, the database.
			_ = started.Close(context.Background())
		}
	}()
	resizeQueue, dlq := cfg.Name+"-resize", cfg.Name+"-resize-dlq"
	if queueInUse(resizeQueue) || queueInUse(dlq) || queueInUse(eventsDLQName(cfg.Name)) {
		return nil, fmt.Errorf("queue %s already exists in this process: give each local cloud its own Name", resizeQueue)
	}
	creds := credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")

	// Listen first: every address is known before anything is configured.
	apiLn, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen for the API on %s: %w", cfg.Addr, err)
	}
	s3Ln, err := net.Listen("tcp", cfg.S3Addr)
	if err != nil {
		apiLn.Close()
		return nil, fmt.Errorf("listen for S3 on %s: %w", cfg.S3Addr, err)
	}
	sqsLn, err := net.Listen("tcp", cfg.SQSAddr)
	if err != nil {
		apiLn.Close()
		s3Ln.Close()
		return nil, fmt.Errorf("listen for SQS on %s: %w", cfg.SQSAddr, err)
	}
	eventsLn, err := net.Listen("tcp", cfg.EventsAddr)
	if err != nil {
		apiLn.Close()
		s3Ln.Close()
		sqsLn.Close()
		return nil, fmt.Errorf("listen for EventBridge on %s: %w", cfg.EventsAddr, err)
	}
	// Close closes them even if Start fails before they are served.
	c.listeners = []net.Listener{apiLn, s3Ln, sqsLn, eventsLn}
	c.EventsURL = "http://" + eventsLn.Addr().String()
	c.APIURL = "http://" + apiLn.Addr().String()
	c.S3URL = "http://" + s3Ln.Addr().String()
	c.SQSURL = "http://" + sqsLn.Addr().String()
	if err := c.listenCDN(); err != nil {
		return nil, err
	}

	// SQS: serve, then create the DLQ and the queue before any other traffic
	// (goaws races on queue creation).
	c.sqsFront = newSQSFront(newSQSHandler(cfg.Region), c.SQSURL, max(cfg.Settings.Queue.Retention, cfg.Settings.Queue.DLQRetention))
	c.serve(sqsLn, c.sqsFront)
	c.SQS = sqs.New(sqs.Options{Region: cfg.Region, Credentials: creds, BaseEndpoint: &c.SQSURL})
	c.stopHousekp = runSQSHousekeeping(200 * time.Millisecond)
	q := cfg.Settings.Queue
	c.DLQARN = queueARN(cfg.Region, dlq)
	c.ResizeQueueARN = queueARN(cfg.Region, resizeQueue)
	if c.DLQURL, err = createQueue(ctx, c.SQS, queueSpec{name: dlq, visibility: cfg.VisibilityTimeout, retention: q.DLQRetention}); err != nil {
		return nil, err
	}
	if c.ResizeQueueURL, err = createQueue(ctx, c.SQS, queueSpec{
		name: resizeQueue, visibility: cfg.VisibilityTimeout, retention: q.Retention,
		dlqARN: c.DLQARN, maxReceive: q.MaxReceiveCount,
	}); err != nil {
		return nil, err
	}
	if err := c.startEvents(ctx, eventsLn, creds); err != nil {
		return nil, err
	}

	// S3: backend, gateway, clients, buckets, notification.
	if err := c.openBackend(); err != nil {
		return nil, err
	}
	origins := slices.Clone(cfg.Settings.AllowedOrigins)
	if !slices.Contains(origins, c.APIURL) {
		// The page is served by the API, so its origin must be allowed too.
		origins = append(origins, c.APIURL)
	}
	c.cfg.Settings.AllowedOrigins = origins
	c.notifier = &Notifier{
		Region: cfg.Region, Bucket: c.UploadsBucket, Prefix: cfg.Settings.UploadPrefix,
		QueueURL: c.ResizeQueueURL, Queue: c.SQS, ConfigurationID: "resize-on-upload",
	}
	faker := gofakes3.New(c.backend, gofakes3.WithoutVersioning())
	c.serve(s3Ln, &S3Gateway{
		Next:     faker.Server(),
		Backend:  c.backend,
		Verifier: sigv4.New(cfg.Region, "s3", map[string]string{cfg.AccessKeyID: cfg.SecretAccessKey}),
		// The same rule the CDK app gives the uploads bucket; the output bucket has
		// none there either (the page shows variants with <img>, which needs no CORS).
		CORS: map[string]settings.CORSRule{c.UploadsBucket: c.cfg.Settings.UploadCORS()},
		// The largest upload the API presigns is the most a body read in memory
		// or a form upload may hold.
		MaxUploadBytes: cfg.Settings.Limits.MaxBytes,
		Faults:         c.Faults,
		Notifier:       c.notifier,
		Log:            c.log,
	})
	c.S3 = s3.New(s3.Options{
		Region: cfg.Region, Credentials: creds, BaseEndpoint: &c.S3URL, UsePathStyle: true,
		RetryMaxAttempts: cfg.S3RetryMaxAttempts,
	})
	c.Presigner = s3.NewPresignClient(c.S3)
	if err := c.serveCDN(); err != nil {
		return nil, err
	}
	for _, b := range []string{c.UploadsBucket, c.OutputBucket} {
		if err := c.ensureBucket(ctx, b); err != nil {
			return nil, err
		}
	}
	if err := c.notifier.TestEvent(ctx); err != nil {
		return nil, err
	}
	// Events of uploads whose processing was lost with a previous run's queue.
	if c.Recovered, err = c.Recover(ctx); err != nil {
		return nil, err
	}

	// Handlers.
	c.emitter = metrics.NewEmitter(c.metrics)
	handler := cfg.Handler
	if handler == nil {
		if handler, err = c.resizeHandler(); err != nil {
			return nil, err
		}
	}
	c.handler = handler
	if err := c.startIssuer(); err != nil {
		return nil, err
	}
	apiHandler, err := c.apiHandler()
	if err != nil {
		return nil, err
	}
	c.Gateway = &APIGateway{Routes: c.cfg.Settings.APIRoutes(), Function: apiHandler, Log: c.log.With("component", "gateway")}
	if c.Issuer != nil {
		c.Gateway.Authorizer = &oidc.Authorizer{Issuer: c.Issuer.URL(), Audience: []string{c.Issuer.ClientID()}}
	}
	front, err := c.withOps(c.Gateway)
	if err != nil {
		return nil, err
	}
	c.api = c.serve(apiLn, front)

	c.EventSource = eventsource.Config{
		QueueURL:     c.ResizeQueueURL,
		QueueARN:     c.ResizeQueueARN,
		Region:       cfg.Region,
		FunctionName: cfg.Name + "-resize",
		BatchSize:    cfg.Settings.Resize.BatchSize,
		BatchWindow:  cfg.Settings.Resize.BatchWindow,
		Concurrency:  cfg.Settings.Resize.MaxConcurrency,
		Timeout:      cfg.Settings.Resize.Timeout,
		WaitTime:     cfg.PollWait,
		StopGrace:    cfg.StopGrace,
		Log:          c.log,
	}
	if !cfg.NoEventSource {
		poller, err := eventsource.New(c.EventSource, c.SQS, c.Handler())
		if err != nil {
			return nil, err
		}
		pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c.stopPoller = cancel
		c.pollerDone = make(chan struct{})
		go func() {
			defer close(c.pollerDone)
			// The function's init before its first invocation, as on Lambda.
			c.WarmResize()
			_ = poller.Run(pctx)
		}()
	}
	return c, nil
}

func (c *Cloud) serve(ln net.Listener, h http.Handler) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	c.servers = append(c.servers, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Error("server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return srv
}

// WarmResize runs the resize function's init work (compiling its codecs) and
// logs how it went. The cloud's own event source does so before it polls; a test
// that runs its own poller calls it first to measure a warm function.
func (c *Cloud) WarmResize() {
	if c.warmResize == nil {
		return
	}
	if err := c.warmResize(); err != nil {
		c.log.Warn("resize codecs not ready; images that need them will fail", "err", err)
	}
}

// Handler is the handler the resize event source invokes (with OnImage reporting).
func (c *Cloud) Handler() eventsource.Handler { return c.observe(c.handler) }

func (c *Cloud) openBackend() error {
	if c.cfg.DataDir == "" {
		c.backend = s3mem.New()
		return nil
	}
	if err := os.MkdirAll(c.cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	path := filepath.Join(c.cfg.DataDir, "s3.db")
	// A second process on the same DataDir waits a second for the lock, then fails.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("open %s (is another local cloud using %s?): %w", path, c.cfg.DataDir, err)
	}
	c.backend = s3bolt.New(db)
	c.closeBackend = db.Close
	return nil
}

func (c *Cloud) ensureBucket(ctx context.Context, name string) error {
	ok, err := c.backend.BucketExists(name)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", name, err)
	}
	if ok {
		return nil
	}
	if _, err := c.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	return nil
}

// Env is the environment the functions would get in AWS (settings.ResizeEnv and
// APIEnv) plus the SDK's endpoint and credential variables for this cloud, so a
// function binary or the AWS CLI can be pointed at it.
func (c *Cloud) Env() map[string]string {
	env := c.cfg.Settings.ResizeEnv(c.UploadsBucket, c.OutputBucket)
	for k, v := range c.cfg.Settings.APIEnv(c.UploadsBucket, c.OutputBucket) {
		env[k] = v
	}
	for k, v := range c.deliveryEnv() {
		env[k] = v
	}
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_S3":   c.S3URL,
		"AWS_ENDPOINT_URL_SQS":  c.SQSURL,
		"AWS_ACCESS_KEY_ID":     c.cfg.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY": c.cfg.SecretAccessKey,
		"AWS_REGION":            c.cfg.Region,
		// The AWS CLI v1 reads the region from here.
		"AWS_DEFAULT_REGION": c.cfg.Region,
	} {
		env[k] = v
	}
	// events.go
	env["AWS_ENDPOINT_URL_EVENTBRIDGE"], env["EVENT_BUS_NAME"] = c.EventsURL, c.EventBusName
	return env
}

// getenv turns a map into the getenv function the ConfigFromEnv readers take.
func getenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// Settings are the settings the cloud runs with (origins include the API's).
func (c *Cloud) Settings() settings.Settings { return c.cfg.Settings }

// Close stops intake, lets in-flight invocations finish or hands them back, and
// shuts every server down. It is safe to call more than once.
func (c *Cloud) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		if c.api != nil {
			// Intake first: no new uploads or status calls while work drains.
			sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			if err := c.api.Shutdown(sctx); err != nil {
				_ = c.api.Close()
			}
			cancel()
		}
		if c.stopPoller != nil {
			c.stopPoller()
			<-c.pollerDone
		}
		if c.stopOps != nil {
			c.stopOps()
		}
		var errs []error
		if c.Events != nil {
			// After the poller: the handlers publish no more.
			errs = append(errs, c.Events.Close(ctx))
		}
		// goaws queues live in process globals: remove ours so the name is free again.
		for _, u := range []string{c.ResizeQueueURL, c.DLQURL, c.EventsDLQURL} {
			if u != "" && c.SQS != nil {
				dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				if _, err := c.SQS.DeleteQueue(dctx, &sqs.DeleteQueueInput{QueueUrl: &u}); err != nil {
					errs = append(errs, fmt.Errorf("delete queue %s: %w", u, err))
				}
				cancel()
			}
		}
		for i := len(c.servers) - 1; i >= 0; i-- {
			// The pollers are gone; what is left on S3 and SQS is at most an abandoned
			// long poll, which goaws only notices on its next tick.
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			if err := c.servers[i].Shutdown(sctx); err != nil {
				_ = c.servers[i].Close()
			}
			cancel()
		}
		for _, ln := range c.listeners {
			_ = ln.Close() // already closed by Shutdown when it was served
		}
		if c.stopHousekp != nil {
			c.stopHousekp()
		}
		if c.closeBackend != nil {
			errs = append(errs, c.closeBackend())
		}
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}
