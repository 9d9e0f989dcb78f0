// Command api is the API Lambda function behind API Gateway (HTTP API, payload 2.0).
// main only wires; the handlers are plain net/http: the API (shared/api) and the
// upload page (web), composed here, where both are served.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/imagepipe/imagepipe/shared/api"
	"github.com/imagepipe/imagepipe/shared/imageevents"
	"github.com/imagepipe/imagepipe/web"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	cfg, err := api.ConfigFromEnv(os.Getenv)
	if err != nil {
		fail(log, "configuration", err)
	}
	awsCfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		fail(log, "aws configuration", err)
	}
	client := s3.NewFromConfig(awsCfg)
	handler, err := api.New(cfg, client, s3.NewPresignClient(client), log)
	if err != nil {
		fail(log, "handler", err)
	}
	// With a CDN in front of the variants, deletes invalidate their paths there.
	if cfg.CDNDistributionID != "" {
		d := handler.Deletions()
		d.CDN, d.DistributionID = cloudfront.NewFromConfig(awsCfg), cfg.CDNDistributionID
	}
	// Deletes tell the application (ImageDeleted) on the event bus.
	if cfg.EventBus != "" {
		bus, err := imageevents.NewBus(eventbridge.NewFromConfig(awsCfg), cfg.EventBus)
		if err != nil {
			fail(log, "event bus", err)
		}
		handler.Deletions().Listener = imageevents.DeletionEvents{Publisher: bus, UploadPrefix: cfg.UploadPrefix}
	}
	opt, err := web.OptionsFromEnv(os.Getenv)
	if err != nil {
		fail(log, "page configuration", err)
	}
	opt.UploadOrigin, opt.OutputOrigin = handler.Origins()
	page, err := web.New(opt)
	if err != nil {
		fail(log, "page", err)
	}
	lambda.Start(httpadapter.NewV2(web.Compose(handler, page)).ProxyWithContext)
}

func fail(log *slog.Logger, what string, err error) {
	log.Error("cannot start: "+what, "error", err)
	os.Exit(1)
}
