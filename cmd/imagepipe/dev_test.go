package main

import (
	"context"
	"testing"
	"time"
)

func TestDevStartsAndStopsCleanly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- dev(ctx, []string{"-addr", "127.0.0.1:0", "-data", t.TempDir(), "-log", "error"})
	}()
	time.Sleep(500 * time.Millisecond) // let it come up; a start failure returns at once
	select {
	case err := <-done:
		t.Fatalf("dev returned before it was stopped: %v", err)
	default:
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
	if err := dev(context.Background(), []string{"-log", "loud"}); err == nil {
		t.Fatal("accepted -log loud")
	}
}
