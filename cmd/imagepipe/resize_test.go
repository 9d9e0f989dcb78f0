package main

import (
	"bytes"
	"context"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestResizeWritesEveryVariant(t *testing.T) {
	for _, naive := range []bool{false, true} {
		dir := t.TempDir()
		args := []string{"-q", "-o", dir, filepath.Join("..", "..", "testdata", "images", "seeding.jpg")}
		if naive {
			args = append([]string{"-naive"}, args...)
		}
		t.Setenv("VARIANTS", `[{"name":"thumb","width":64,"height":64,"fit":"cover"},{"name":"small","width":160}]`)
		if err := runResize(context.Background(), args); err != nil {
			t.Fatalf("resize %v: %v", args, err)
		}
		for name, want := range map[string][2]int{"seeding_thumb.jpg": {64, 64}, "seeding_small.jpg": {160, 90}} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatalf("naive=%v: %v", naive, err)
			}
			c, err := jpeg.DecodeConfig(bytes.NewReader(b))
			if err != nil || c.Width != want[0] || c.Height != want[1] {
				t.Errorf("naive=%v %s: %dx%d (%v), want %dx%d", naive, name, c.Width, c.Height, err, want[0], want[1])
			}
		}
	}
}

func TestResizeRefusals(t *testing.T) {
	dir := t.TempDir()
	notImage := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notImage, []byte("just text"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"no output dir", "", []string{notImage}, "need -o DIR"},
		{"not an image", "", []string{"-q", "-o", dir, notImage}, "1 of 1 files failed"},
		{"bad variants", `[{"name":"x"}]`, []string{"-o", dir, notImage}, "VARIANTS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("VARIANTS", tt.env)
			err := runResize(context.Background(), tt.args)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestBenchHelpers(t *testing.T) {
	if got, err := ints("1, 2,4"); err != nil || len(got) != 3 || got[2] != 4 {
		t.Errorf("ints = %v, %v", got, err)
	}
	if _, err := ints("1,zero"); err == nil {
		t.Error("ints accepted a word")
	}
	m := median([]usage{{cpu: 3 * time.Second, rssKB: 10}, {cpu: time.Second, rssKB: 30}, {cpu: 2 * time.Second, rssKB: 20}})
	if m.cpu != 2*time.Second || m.rssKB != 20 {
		t.Errorf("median = %+v", m)
	}
}
