// Command imagepipe is the operator CLI. Each subcommand lives in its own file and
// registers nothing globally: main only dispatches.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

func main() {
	commands := map[string]func(ctx context.Context, args []string) error{
		"dev":     dev,
		"redrive": runRedrive,
		"resize":  runResize,
		"bench":   runBench,
	}
	if len(os.Args) < 2 || commands[os.Args[1]] == nil {
		names := make([]string, 0, len(commands))
		for n := range commands {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "usage: imagepipe COMMAND [flags]\ncommands: %v\n", names)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := commands[os.Args[1]](ctx, os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "imagepipe %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
