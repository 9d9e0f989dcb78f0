package imageevents

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/imagepipe/imagepipe/shared/manifest"
)

// PutEventsAPI is the part of *eventbridge.Client the publisher uses.
type PutEventsAPI interface {
	PutEvents(ctx context.Context, params *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Publisher sends events; *Bus is the real one.
type Publisher interface {
	Publish(ctx context.Context, events ...Event) error
}

// Bus publishes to one EventBridge event bus.
type Bus struct {
	client PutEventsAPI
	name   string
}

// NewBus publishes through client to the bus named name (or its ARN).
func NewBus(client PutEventsAPI, name string) (*Bus, error) {
	if client == nil || strings.TrimSpace(name) == "" {
		return nil, errors.New("imageevents: an EventBridge client and a bus name are required")
	}
	return &Bus{client: client, name: name}, nil
}

// maxEntries is PutEvents' limit per call.
const maxEntries = 10

// Publish sends events, ten per call. It fails if any entry failed, including
// partial failures (FailedEntryCount > 0): the caller retries the whole lot, and
// the entries that did get through are sent again, identical.
func (b *Bus) Publish(ctx context.Context, events ...Event) error {
	var errs []error
	for start := 0; start < len(events); start += maxEntries {
		batch := events[start:min(start+maxEntries, len(events))]
		entries := make([]types.PutEventsRequestEntry, len(batch))
		for i, e := range batch {
			detail, typ, src := string(e.Detail), e.DetailType, Source
			entries[i] = types.PutEventsRequestEntry{
				EventBusName: &b.name, Source: &src, DetailType: &typ, Detail: &detail,
			}
			if !e.Time.IsZero() {
				t := e.Time
				entries[i].Time = &t
			}
		}
		out, err := b.client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
		if err != nil {
			errs = append(errs, fmt.Errorf("put events on %s: %w", b.name, err))
			continue
		}
		if out.FailedEntryCount > 0 || len(out.Entries) != len(batch) {
			errs = append(errs, failedEntries(b.name, batch, out))
		}
	}
	return errors.Join(errs...)
}

func failedEntries(bus string, batch []Event, out *eventbridge.PutEventsOutput) error {
	var parts []string
	for i, r := range out.Entries {
		if r.ErrorCode == nil && r.ErrorMessage == nil {
			continue
		}
		what := "entry"
		if i < len(batch) {
			what = batch[i].DetailType + " " + batch[i].ID
		}
		parts = append(parts, fmt.Sprintf("%s: %s %s", what, deref(r.ErrorCode), deref(r.ErrorMessage)))
	}
	if len(out.Entries) != len(batch) {
		parts = append(parts, fmt.Sprintf("%d results for %d entries", len(out.Entries), len(batch)))
	}
	return fmt.Errorf("put events on %s: %d of %d entries failed: %s", bus, out.FailedEntryCount, len(batch), strings.Join(parts, "; "))
}

// PublishDeleted tells the application that image id is gone. The API's delete
// handler calls it after the delete succeeded; m is the manifest that was
// deleted (nil for a pending upload), src what is known of the upload otherwise.
// A nil publisher publishes nothing (no bus configured).
func PublishDeleted(ctx context.Context, p Publisher, id, owner string, m *manifest.Manifest, src manifest.Source, at time.Time) error {
	if p == nil {
		return nil
	}
	ev, err := Deleted(id, owner, m, src, at)
	if err != nil {
		return err
	}
	if err := p.Publish(ctx, ev); err != nil {
		return fmt.Errorf("publish %s of %s: %w", TypeDeleted, id, err)
	}
	return nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
