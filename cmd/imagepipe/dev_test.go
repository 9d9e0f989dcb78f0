package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestDevServesTheServiceAndStopsCleanly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runDev(ctx, []string{"-addr", "127.0.0.1:0", "-data", t.TempDir(), "-log", "error"}, pw)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	var base string
	for lines.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(lines.Text()), "page and API"); ok {
			base = strings.TrimSpace(rest)
			break
		}
	}
	if base == "" {
		t.Fatalf("no URL in the banner; dev returned %v", <-done)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	for _, path := range []string{"/healthz", "/", "/ops"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("dev: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("dev did not stop after its context ended")
	}
}

func TestDevRejectsABadLogLevel(t *testing.T) {
	if err := runDev(context.Background(), []string{"-log", "loud"}, io.Discard); err == nil {
		t.Fatal("accepted -log loud")
	}
}

func TestDevRejectsAWebhookAnAPIDestinationCouldNotReach(t *testing.T) {
	err := runDev(context.Background(), []string{"-addr", "127.0.0.1:0", "-data", t.TempDir(), "-webhook", "http://app.example.com/hook"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "webhookUrl") {
		t.Fatalf("dev -webhook http://app.example.com/hook: %v", err)
	}
}
