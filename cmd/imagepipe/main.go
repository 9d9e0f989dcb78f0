// Command imagepipe is the operator's tool. Each subcommand lives in its own file;
// main only dispatches.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

var commands = map[string]func(ctx context.Context, args []string) error{
	"dev": dev,
}

func main() {
	if len(os.Args) < 2 || commands[os.Args[1]] == nil {
		var names []string
		for n := range commands {
			names = append(names, n)
		}
		slices.Sort(names)
		fmt.Fprintf(os.Stderr, "usage: imagepipe <%s> [flags]\n", strings.Join(names, "|"))
		os.Exit(2)
	}
	if err := commands[os.Args[1]](context.Background(), os.Args[2:]); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintf(os.Stderr, "imagepipe %s: %v\n", os.Args[1], err)
		}
		os.Exit(1)
	}
}

// errUsage is returned after a subcommand has printed its own usage message.
var errUsage = errors.New("usage")
