package localcloud

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ebsdk "github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/imagepipe/imagepipe/localcloud/eventbridge"
	"github.com/imagepipe/imagepipe/localcloud/sigv4"
	"github.com/imagepipe/imagepipe/shared/imageevents"
	"github.com/imagepipe/imagepipe/web/opsview"
)

// DefaultWebhookAPIKey is the local webhook's API key when Config sets none.
const DefaultWebhookAPIKey = "local-webhook-key"

// WebhookRetry tunes the local webhook delivery; zero values take the local
// bounds of localcloud/eventbridge (DefaultMaxAttempts, DefaultMaxAge, ...), never
// more than the settings' retry policy.
type WebhookRetry struct {
	MaxAttempts    int
	MaxAge         time.Duration
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
}

func eventsDLQName(name string) string { return name + "-events-dlq" }

// startEvents creates the events DLQ, the bus and, when the settings name a
// webhook, its rule with the pattern the CDK app deploys, and serves the bus.
func (c *Cloud) startEvents(ctx context.Context, ln net.Listener, creds aws.CredentialsProvider) error {
	cfg := c.cfg
	var err error
	if c.EventsDLQURL, err = createQueue(ctx, c.SQS, queueSpec{
		name: eventsDLQName(cfg.Name), visibility: cfg.VisibilityTimeout, retention: cfg.Settings.Queue.DLQRetention,
	}); err != nil {
		return err
	}
	c.EventBusName = cfg.Name + "-events"
	c.Events, err = eventbridge.New(eventbridge.Config{
		Name: c.EventBusName, Region: cfg.Region, Account: accountID,
		Verifier: sigv4.New(cfg.Region, "events", map[string]string{cfg.AccessKeyID: cfg.SecretAccessKey}),
		Log:      c.log.With("component", "eventbridge"),
	})
	if err != nil {
		return err
	}
	if e := cfg.Settings.Events; e.WebhookURL != "" {
		key := cfg.WebhookAPIKey
		if key == "" {
			key = DefaultWebhookAPIKey
		}
		r := cfg.WebhookRetry
		attempts := r.MaxAttempts
		if attempts <= 0 {
			attempts = eventbridge.DefaultMaxAttempts
		}
		age := r.MaxAge
		if age <= 0 {
			age = eventbridge.DefaultMaxAge
		}
		c.Webhook, err = eventbridge.NewWebhook(eventbridge.WebhookConfig{
			Name: "webhook", URL: e.WebhookURL, HeaderName: e.WebhookHeaderName, HeaderValue: key,
			MaxAttempts: min(attempts, e.WebhookRetryAttempts+1), MaxAge: min(age, e.WebhookMaxEventAge),
			InitialBackoff: r.InitialBackoff, MaxBackoff: r.MaxBackoff,
			DeadLetter: c.SQS, DeadLetterURL: c.EventsDLQURL,
			Log: c.log.With("component", "webhook"),
		})
		if err != nil {
			return fmt.Errorf("webhook: %w", err)
		}
		if err := c.Events.AddRule("webhook", imageevents.Pattern().JSON(), c.Webhook); err != nil {
			_ = c.Webhook.Close(ctx)
			return err
		}
	}
	c.serve(ln, c.Events)
	c.EventBridge = ebsdk.New(ebsdk.Options{Region: cfg.Region, Credentials: creds, BaseEndpoint: &c.EventsURL})
	return nil
}

// EventPublisher publishes to the local bus as the functions do (for the API's
// ImageDeleted, say).
func (c *Cloud) EventPublisher() (*imageevents.Bus, error) {
	return imageevents.NewBus(c.EventBridge, c.EventBusName)
}

// recentEvents is the ops view's list of events and webhook deliveries, newest
// first.
func (c *Cloud) recentEvents(context.Context) opsview.EventsReport {
	report := opsview.EventsReport{Events: []opsview.EventRecord{}, Deliveries: []opsview.DeliveryRecord{}}
	if c.Events == nil {
		return report
	}
	events := c.Events.Events()
	for i := len(events) - 1; i >= 0; i-- {
		e := events[i]
		var body struct {
			Detail struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			} `json:"detail"`
		}
		_ = json.Unmarshal(e.Body, &body) // the bus built it: a detail that is not ours shows blank
		report.Events = append(report.Events, opsview.EventRecord{ID: e.ID, DetailType: e.DetailType,
			ImageID: body.Detail.ID, Status: body.Detail.Status, Received: e.Received, Rules: e.Rules})
	}
	if c.Webhook != nil {
		report.Webhook = c.cfg.Settings.Events.WebhookURL
		ds := c.Webhook.Deliveries()
		for i := len(ds) - 1; i >= 0; i-- {
			d := ds[i]
			report.Deliveries = append(report.Deliveries, opsview.DeliveryRecord{EventID: d.EventID, DetailType: d.DetailType,
				Target: d.Target, State: d.State, Attempts: d.Attempts, LastStatus: d.LastStatus, LastError: d.LastError, Last: d.Last})
		}
	}
	return report
}
