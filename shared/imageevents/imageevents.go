// Package imageevents is what imagepipe tells the application: ImageReady,
// ImageFailed and ImageDeleted events on an EventBridge bus, their versioned
// detail (docs/events.md, JSON Schemas in docs/events/), the event pattern of the
// rule and archive the stack deploys, and a publisher over PutEvents.
//
// The detail of an event is a pure function of the manifest it reports (and of
// the URL function), so a retry after a failed publish sends the same bytes and
// consumers can dedupe on id and status.
package imageevents

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/imagepipe/imagepipe/shared/delivery"
	"github.com/imagepipe/imagepipe/shared/manifest"
)

// Source is the source of every imagepipe event.
const Source = "imagepipe"

// Detail types.
const (
	TypeReady   = "ImageReady"
	TypeFailed  = "ImageFailed"
	TypeDeleted = "ImageDeleted"
)

// DetailTypes are every detail type imagepipe publishes, in a stable order.
var DetailTypes = []string{TypeReady, TypeFailed, TypeDeleted}

// DetailVersion is detail.version. It changes only for a change a consumer could
// break on (docs/events.md); fields are added without changing it.
const DetailVersion = "1"

// StatusDeleted is the status an ImageDeleted event reports.
const StatusDeleted = "deleted"

// Detail is the detail of every imagepipe event (docs/events/*.schema.json).
type Detail struct {
	Version string `json:"version"`
	ID      string `json:"id"`
	// Owner is the subject of the token that presigned the upload; empty for
	// uploads made outside the API.
	Owner  string      `json:"owner"`
	Status string      `json:"status"`
	Source SourceFacts `json:"source"`
	// Variants are the finished renditions of a ready image; empty otherwise.
	Variants []Variant `json:"variants"`
	Error    *Error    `json:"error,omitempty"`
	// CompletedAt is when the manifest was committed (ready and failed).
	CompletedAt *time.Time `json:"completedAt,omitempty"`
	Notes       []string   `json:"notes,omitempty"`
}

// SourceFacts is what is known of the original upload.
type SourceFacts struct {
	Key        string     `json:"key"`
	ETag       string     `json:"etag,omitempty"`
	Filename   string     `json:"filename,omitempty"`
	Format     string     `json:"format,omitempty"`
	Width      int        `json:"width,omitempty"`
	Height     int        `json:"height,omitempty"`
	Bytes      int64      `json:"bytes,omitempty"`
	UploadedAt *time.Time `json:"uploadedAt,omitempty"`
}

// Variant is one rendition with its public URL.
type Variant struct {
	Name   string `json:"name"`
	Format string `json:"format"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Bytes  int64  `json:"bytes"`
	Key    string `json:"key"`
	// URL is where the application fetches it (the CDN); absent without a CDN.
	URL        string      `json:"url,omitempty"`
	Alternates []Alternate `json:"alternates,omitempty"`
}

// Alternate is the same rendition in another encoding.
type Alternate struct {
	Format string `json:"format"`
	Key    string `json:"key"`
	Bytes  int64  `json:"bytes"`
	URL    string `json:"url,omitempty"`
}

// Error says why an image failed.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// URLs give the public URLs an ImageReady carries; the zero value gives none (no
// CDN), and either returns "" for an object it cannot serve. Both must be
// deterministic: duplicates of an event must be identical.
type URLs struct {
	// Variant is a variant's URL (on the CDN, the one that negotiates encodings).
	Variant func(v manifest.Variant) string
	// Object is one object's fixed-format URL (an alternate's).
	Object func(key string) string
}

// CDNURLs are the delivery URLs under base, the CDN_URL the functions get (the
// ones the status API hands out); none when base is empty.
func CDNURLs(base string) URLs {
	if base == "" {
		return URLs{}
	}
	return URLs{
		Variant: func(v manifest.Variant) string {
			u, err := delivery.VariantURL(base, v)
			if err != nil {
				return "" // a key the CDN does not serve (from before tagged keys)
			}
			return u
		},
		Object: func(key string) string {
			u, err := delivery.ObjectURL(base, key)
			if err != nil {
				return ""
			}
			return u
		},
	}
}

// Event is one entry for PutEvents.
type Event struct {
	DetailType string
	// Detail is the JSON detail; the same manifest always gives the same bytes.
	Detail []byte
	// Time is the event's time: the manifest's completion for ready and failed,
	// so duplicates carry the same time too.
	Time time.Time
	// ID and Status are the consumers' dedupe key, kept for logs.
	ID, Status string
}

// FromManifest is the ImageReady or ImageFailed event of a committed manifest.
func FromManifest(m manifest.Manifest, url URLs) (Event, error) {
	var typ string
	switch m.Status {
	case manifest.StatusReady:
		typ = TypeReady
	case manifest.StatusFailed:
		typ = TypeFailed
	default:
		return Event{}, fmt.Errorf("imageevents: manifest %s has status %q, not ready or failed", m.ID, m.Status)
	}
	d := newDetail(m.ID, m.Owner, string(m.Status), m.Source)
	if m.Status == manifest.StatusReady {
		for _, v := range m.Variants {
			d.Variants = append(d.Variants, variantOf(v, url))
		}
	}
	if m.Error != nil {
		d.Error = &Error{Code: m.Error.Code, Message: m.Error.Message}
	} else if m.Status == manifest.StatusFailed {
		d.Error = &Error{Code: "unknown", Message: "the manifest records a failure without a reason"}
	}
	if !m.CompletedAt.IsZero() {
		t := m.CompletedAt.UTC()
		d.CompletedAt = &t
	}
	if len(m.Notes) > 0 {
		d.Notes = m.Notes
	}
	return encode(typ, d, m.CompletedAt)
}

// Deleted is the ImageDeleted event of image id. m is its manifest before the
// delete, or nil when there was none (a pending upload); src describes the upload
// when there is no manifest (its key at least). at is when it was deleted.
func Deleted(id, owner string, m *manifest.Manifest, src manifest.Source, at time.Time) (Event, error) {
	if !manifest.ValidID(id) {
		return Event{}, fmt.Errorf("imageevents: %q is not an image id", id)
	}
	if m != nil {
		src = m.Source
		if owner == "" {
			owner = m.Owner
		}
	}
	d := newDetail(id, owner, StatusDeleted, src)
	return encode(TypeDeleted, d, at)
}

func newDetail(id, owner, status string, src manifest.Source) Detail {
	s := SourceFacts{Key: src.Key, ETag: src.ETag, Filename: src.Filename, Format: src.Format,
		Width: src.Width, Height: src.Height, Bytes: src.Bytes}
	if !src.UploadedAt.IsZero() {
		t := src.UploadedAt.UTC()
		s.UploadedAt = &t
	}
	return Detail{Version: DetailVersion, ID: id, Owner: owner, Status: status, Source: s, Variants: []Variant{}}
}

func variantOf(v manifest.Variant, url URLs) Variant {
	out := Variant{Name: v.Name, Format: v.Format, Width: v.Width, Height: v.Height, Bytes: v.Bytes, Key: v.Key}
	if url.Variant != nil {
		out.URL = url.Variant(v)
	}
	for _, a := range v.Alternates {
		alt := Alternate{Format: a.Format, Key: a.Key, Bytes: a.Bytes}
		if url.Object != nil && a.Key != "" {
			alt.URL = url.Object(a.Key)
		}
		out.Alternates = append(out.Alternates, alt)
	}
	return out
}

func encode(typ string, d Detail, at time.Time) (Event, error) {
	raw, err := json.Marshal(d)
	if err != nil {
		return Event{}, fmt.Errorf("imageevents: encode %s of %s: %w", typ, d.ID, err)
	}
	if len(raw) > MaxDetailBytes {
		return Event{}, fmt.Errorf("imageevents: %s of %s is %d bytes, over EventBridge's entry limit", typ, d.ID, len(raw))
	}
	return Event{DetailType: typ, Detail: raw, Time: at.UTC(), ID: d.ID, Status: d.Status}, nil
}

// MaxDetailBytes keeps an entry under PutEvents' 256 KB limit, which counts the
// source, detail type and resources as well.
const MaxDetailBytes = 250 * 1024
