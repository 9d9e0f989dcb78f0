package settings_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/shared/api"
	"github.com/imagepipe/imagepipe/shared/settings"
)

// noObjects is an ObjectStore for an API that is only asked to presign: it
// records nothing, so the quota always has room.
type noObjects struct{}

func (noObjects) PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	return &s3.PutObjectOutput{}, nil
}

func (noObjects) DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	return nil, errors.New("not used")
}

func (noObjects) ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	return &s3.ListObjectsV2Output{}, nil
}

func (noObjects) HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	return nil, errors.New("not used")
}

func (noObjects) GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return nil, errors.New("not used")
}

// TestUploadCORSAllowsWhatTheAPITellsBrowsersToSend: every header of a presigned
// upload that a page sets itself is allowed by the rule, and nothing more.
func TestUploadCORSAllowsWhatTheAPITellsBrowsersToSend(t *testing.T) {
	s := settings.Default()
	s.Auth.Mode = settings.AuthNone // called directly, with no authorizer in front
	cfg, err := api.ConfigFromEnv(func(k string) string { return s.APIEnv("up", "out")[k] })
	if err != nil {
		t.Fatal(err)
	}
	client := s3.New(s3.Options{Region: "us-east-1", UsePathStyle: true, BaseEndpoint: aws.String("http://127.0.0.1:9"),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "")})
	a, err := api.New(cfg, noObjects{}, s3.NewPresignClient(client), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/v1/uploads", strings.NewReader(`{"filename":"a.png","contentType":"image/png","size":10}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST /v1/uploads: %d %s", rec.Code, rec.Body)
	}
	var up struct {
		Upload struct {
			Method  string            `json:"method"`
			Headers map[string]string `json:"headers"`
		} `json:"upload"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &up); err != nil {
		t.Fatal(err)
	}
	var sent []string
	for h := range up.Upload.Headers {
		// Forbidden header names: the browser sets them, a page cannot.
		if h = strings.ToLower(h); h != "content-length" && h != "host" {
			sent = append(sent, h)
		}
	}
	slices.Sort(sent)
	rule := s.UploadCORS()
	allowed := slices.Sorted(slices.Values(rule.AllowedHeaders))
	if !slices.Equal(sent, allowed) {
		t.Errorf("the page sends %v; the CORS rule allows %v", sent, allowed)
	}
	if !slices.Equal(rule.Methods, []string{up.Upload.Method}) {
		t.Errorf("the page uploads with %s; the CORS rule allows %v", up.Upload.Method, rule.Methods)
	}
	if !slices.Equal(rule.Origins, s.AllowedOrigins) || !slices.Contains(rule.ExposedHeaders, "ETag") {
		t.Errorf("rule %+v: want the allowed origins and ETag exposed", rule)
	}
}
