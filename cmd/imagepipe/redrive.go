package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/imagepipe/imagepipe/shared/redrive"
)

// runRedrive moves the resize DLQ's messages back to the resize queue. The SDK's
// usual configuration applies, so AWS_ENDPOINT_URL_SQS points it at the local cloud.
func runRedrive(ctx context.Context, args []string) error {
	return redriveCommand(ctx, args, os.Stdout, os.Stderr)
}

func redriveCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("redrive", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: imagepipe redrive -dlq QUEUE [-to QUEUE] [flags]\n\n"+
			"Moves messages from the dead-letter queue back to the queue they came from\n"+
			"(with an SQS message move task, or by receive, send, delete where move tasks\n"+
			"are not implemented) and reports what it moved. QUEUE is a name or URL.\n\n")
		fs.PrintDefaults()
	}
	o := redrive.Options{}
	method := fs.String("method", string(redrive.Auto), "auto, move-task or copy")
	fs.StringVar(&o.DLQ, "dlq", "", "dead-letter queue (name or URL)")
	fs.StringVar(&o.Destination, "to", "", "destination queue (name or URL); required for copy, a move task defaults to each message's source")
	fs.IntVar(&o.Max, "max", 0, "copy at most this many messages (0: all)")
	rate := fs.Int("rate", 0, "move task: messages per second (0: SQS chooses)")
	fs.DurationVar(&o.PollInterval, "poll", 5*time.Second, "move task: how often to check progress")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if o.DLQ == "" || fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("-dlq is required and no arguments are taken")
	}
	o.Method = redrive.Method(*method)
	o.RatePerSecond = int32(*rate)
	o.Progress = func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }

	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS configuration: %w", err)
	}
	report, runErr := redrive.Run(ctx, sqs.NewFromConfig(cfg), o)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "method %s: moved %d message(s)", report.Method, report.Moved)
		if report.TaskHandle != "" {
			fmt.Fprintf(stdout, ", task %s %s", report.TaskHandle, report.TaskStatus)
		}
		fmt.Fprintln(stdout)
		for _, id := range report.Duplicated {
			fmt.Fprintf(stdout, "in both queues (sent, not deleted from the DLQ): %s\n", id)
		}
	}
	return runErr
}
