// Command imagepipe is the operator CLI. Each subcommand lives in its own file and
// registers nothing globally: main only dispatches.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

type command struct {
	run  func(ctx context.Context, args []string) error
	help string
}

func main() {
	commands := map[string]command{
		"dev":     {dev, "run the whole service on this machine (the local cloud)"},
		"resize":  {runResize, "run the resize function's engine and variants on local files"},
		"redrive": {runRedrive, "move messages from the dead-letter queue back to the resize queue"},
		"bench":   {runBench, "compare the engine with the naive pipeline and vipsthumbnail"},
		// Issue 16: what a traffic profile would do on AWS.
		"capacity": {runCapacity, "model the event source's scaling, queue, latency and cost for an arrival profile"},
		// Settling: re-queue originals after a limit, variants or engine change.
		"reprocess": {runReprocess, "send originals through the resize queue again (all, failed with given codes, or by id)"},
		"token":     {runToken, "print an access token for the local cloud of DATA_DIR"},
		"erase":     {runErase, "delete every image of one user (GDPR erasure)"},
	}
	order := []string{"dev", "resize", "redrive", "reprocess", "bench", "capacity", "token", "erase"}
	cmd, ok := command{}, false
	if len(os.Args) >= 2 {
		cmd, ok = commands[os.Args[1]]
	}
	if !ok {
		fmt.Fprintln(os.Stderr, "usage: imagepipe COMMAND [flags]   (imagepipe COMMAND -h for its flags)")
		for _, name := range order {
			fmt.Fprintf(os.Stderr, "  %-9s %s\n", name, commands[name].help)
		}
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "imagepipe %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
