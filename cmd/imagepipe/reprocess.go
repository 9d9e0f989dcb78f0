package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/imagepipe/imagepipe/shared/reprocess"
)

// runReprocess re-queues originals through the resize queue. The SDK's usual
// configuration applies, so AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL_SQS point it
// at the local cloud.
func runReprocess(ctx context.Context, args []string) error {
	return reprocessCommand(ctx, args, os.Stdout, os.Stderr)
}

func reprocessCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reprocess", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: imagepipe reprocess -uploads BUCKET -output BUCKET -queue QUEUE (-all | -failed CODES | -id IDS) [flags]\n\n"+
			"Sends the resize queue, for each chosen original, the S3 event S3 sent when it\n"+
			"was uploaded, so it is processed again through the normal queue, retries and DLQ.\n"+
			"Run it after raising a limit, changing variants or fixing a decoder: an image\n"+
			"whose manifest already records its source, the engine and the settings is\n"+
			"skipped by the resize function, anything else is redone. QUEUE is a name or URL.\n\n")
		fs.PrintDefaults()
	}
	o := reprocess.Options{}
	fs.StringVar(&o.UploadsBucket, "uploads", "", "uploads bucket (the stack's UploadsBucketName output)")
	fs.StringVar(&o.OutputBucket, "output", "", "output bucket (OutputBucketName); needed by -failed, and to report each image's status")
	fs.StringVar(&o.UploadPrefix, "prefix", "uploads/", "folder of the originals in the uploads bucket")
	queue := fs.String("queue", "", "resize queue, name or URL (QueueUrl)")
	fs.BoolVar(&o.All, "all", false, "every original")
	failed := fs.String("failed", "", "originals whose manifest failed with one of these comma-separated codes (e.g. too_many_pixels,processing_failed), or \"any\"")
	ids := fs.String("id", "", "comma-separated image ids")
	fs.BoolVar(&o.DryRun, "dry-run", false, "choose and report, send nothing")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	o.FailedCodes, o.IDs, o.QueueURL = commaList(*failed), commaList(*ids), *queue
	if fs.NArg() > 0 || *queue == "" {
		fs.Usage()
		return errors.New("-queue is required and no arguments are taken")
	}
	if err := o.Validate(); err != nil {
		fs.Usage()
		return err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS configuration: %w", err)
	}
	o.Region = cfg.Region
	sqsc := sqs.NewFromConfig(cfg)
	if o.QueueURL, err = queueURL(ctx, sqsc, *queue); err != nil {
		return err
	}
	o.Progress = func(p reprocess.Progress) {
		fmt.Fprintf(stderr, "scanned %d originals, chose %d, queued %d\n", p.Scanned, p.Selected, p.Queued)
	}
	report, runErr := reprocess.Run(ctx, s3.NewFromConfig(cfg), sqsc, o)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return err
		}
		return runErr
	}
	verb := "queued"
	if o.DryRun {
		verb = "would queue (dry run)"
	}
	fmt.Fprintf(stdout, "%s %d of %d chosen originals (%d scanned)\n", verb, report.Queued, report.Selected, report.Scanned)
	statuses := make([]string, 0, len(report.ByStatus))
	for s := range report.ByStatus {
		statuses = append(statuses, s)
	}
	sort.Strings(statuses)
	for _, s := range statuses {
		fmt.Fprintf(stdout, "  %-28s %d\n", s, report.ByStatus[s])
	}
	for _, id := range report.NotFound {
		fmt.Fprintf(stdout, "no original for id %s\n", id)
	}
	for _, n := range report.NotSent {
		fmt.Fprintf(stdout, "not sent: %s\n", n)
	}
	if runErr == nil && len(report.NotSent) > 0 {
		runErr = fmt.Errorf("%d message(s) not sent; run again to retry them", len(report.NotSent))
	}
	return runErr
}

// queueURL accepts a queue URL as it is and looks a name up.
func queueURL(ctx context.Context, c *sqs.Client, q string) (string, error) {
	if strings.HasPrefix(q, "https://") || strings.HasPrefix(q, "http://") {
		return q, nil
	}
	out, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(q)})
	if err != nil {
		return "", fmt.Errorf("queue %s: %w", q, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

func commaList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
