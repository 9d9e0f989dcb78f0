// Command resize is the resize Lambda function: SQS batches of S3 upload events in,
// variants and a manifest out. main only wires; the logic is in shared/resize.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/shared/imageevents"
	"github.com/imagepipe/imagepipe/shared/metrics"
	"github.com/imagepipe/imagepipe/shared/resize"
)

func main() {
	// Logs and EMF metrics both go to stdout, which Lambda sends to CloudWatch Logs.
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	cfg, err := resize.ConfigFromEnv(os.Getenv)
	if err != nil {
		fail(log, "configuration", err)
	}
	awsCfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		fail(log, "aws configuration", err)
	}
	handler, err := resize.New(cfg, s3.NewFromConfig(awsCfg), log, metrics.NewEmitter(os.Stdout))
	if err != nil {
		fail(log, "handler", err)
	}
	if cfg.EventBus != "" {
		bus, err := imageevents.NewBus(eventbridge.NewFromConfig(awsCfg), cfg.EventBus)
		if err != nil {
			fail(log, "event bus", err)
		}
		handler.WithEvents(bus, imageevents.CDNURLs(cfg.CDNURL))
	}
	// In the init phase, so no invocation waits for the codecs to compile.
	if err := handler.Warm(); err != nil {
		log.Warn("codecs not ready; images that need them will fail", "error", err)
	}
	lambda.Start(handler.Handle)
}

func fail(log *slog.Logger, what string, err error) {
	log.Error("cannot start: "+what, "error", err)
	os.Exit(1)
}
