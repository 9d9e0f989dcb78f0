package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/shared/manifest"
)

// devRun is one running `imagepipe dev` and the banner it printed.
type devRun struct {
	banner []string
	stop   func()
}

// startDevRun runs dev with args until the test ends (or stop), returning once the
// banner is complete.
func startDevRun(t *testing.T, args ...string) *devRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runDev(ctx, append([]string{"-log", "error"}, args...), pw)
		pw.Close()
	}()
	r := &devRun{}
	lines := bufio.NewScanner(pr)
	for lines.Scan() {
		r.banner = append(r.banner, lines.Text())
		if lines.Text() == "Ctrl-C stops." {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	stopped := false
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("dev: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("dev did not stop after its context ended")
		}
	}
	t.Cleanup(r.stop)
	if len(r.banner) == 0 || r.banner[len(r.banner)-1] != "Ctrl-C stops." {
		r.stop()
		t.Fatalf("incomplete banner %q", r.banner)
	}
	return r
}

// field is the value after label on the banner line that starts with it.
func (r *devRun) field(t *testing.T, label string) string {
	t.Helper()
	for _, l := range r.banner {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), label); ok {
			return strings.Fields(rest)[0]
		}
	}
	t.Fatalf("no %q line in the banner %q", label, r.banner)
	return ""
}

// commands are the banner's "  $ " lines, without their comments.
func (r *devRun) commands() (cmds, comments []string) {
	for _, l := range r.banner {
		if rest, ok := strings.CutPrefix(l, "  $ "); ok {
			cmd, comment, _ := strings.Cut(rest, "#")
			cmds, comments = append(cmds, strings.TrimSpace(cmd)), append(comments, strings.TrimSpace(comment))
		}
	}
	return cmds, comments
}

func TestDevKeepsItsPortsAcrossRestarts(t *testing.T) {
	data := t.TempDir()
	first := startDevRun(t, "-addr", "127.0.0.1:0", "-data", data)
	s3, sqs := first.field(t, "S3"), first.field(t, "SQS")
	first.stop()
	second := startDevRun(t, "-addr", "127.0.0.1:0", "-data", data)
	if got := second.field(t, "S3"); got != s3 {
		t.Errorf("S3 moved from %s to %s across a restart", s3, got)
	}
	if got := second.field(t, "SQS"); got != sqs {
		t.Errorf("SQS moved from %s to %s across a restart", sqs, got)
	}
}

// TestDevPrintedSettingsWorkWithTheAWSCLI runs the commands the banner prints with
// the AWS CLI installed here, as a newcomer would paste them, and uploads a photo
// with it: the photo is processed and labelled with its key's base name.
func TestDevPrintedSettingsWorkWithTheAWSCLI(t *testing.T) {
	awsPath, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("SKIP: the AWS CLI (aws) is not installed; install it (Debian: apt-get install awscli, or pip install awscli) to check the printed settings with it")
	}
	version, err := exec.Command(awsPath, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("aws --version: %v: %s", err, version)
	}
	major := regexp.MustCompile(`aws-cli/(\d+)\.`).FindSubmatch(version)
	if major == nil {
		t.Fatalf("cannot tell the AWS CLI's version from %q", version)
	}
	t.Logf("%s", strings.TrimSpace(string(version)))
	data := t.TempDir()
	run := startDevRun(t, "-addr", "127.0.0.1:0", "-data", data)
	cmds, comments := run.commands()
	if len(cmds) == 0 {
		t.Fatalf("no commands in the banner %q", run.banner)
	}

	// A clean environment: no AWS variables or files of whoever runs the test.
	home := t.TempDir()
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "LANG=C.UTF-8"}
	if v := os.Getenv("PYENV_ROOT"); v != "" {
		base = append(base, "PYENV_ROOT="+v)
	}
	env := base
	awsRun := func(t *testing.T, env []string, line string) string {
		t.Helper()
		args := strings.Fields(line)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, awsPath, append(args[1:], "--cli-connect-timeout", "5", "--cli-read-timeout", "20")...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
		return string(out)
	}
	ran := map[string]bool{}
	for i, line := range cmds {
		switch {
		case strings.HasPrefix(line, "export "):
			// Each export starts a fresh shell: the profile and the environment
			// variant are checked on their own.
			env = append(append([]string{}, base...), strings.Fields(strings.TrimPrefix(line, "export "))...)
		case strings.HasPrefix(line, "aws "):
			if v := regexp.MustCompile(`AWS CLI v(\d+)`).FindStringSubmatch(comments[i]); v != nil && v[1] != string(major[1]) {
				continue // for the other major version
			}
			out := awsRun(t, env, line)
			ran[strings.Fields(line)[1]] = true
			if strings.HasPrefix(line, "aws sqs list-queues") && !strings.Contains(out, "imagepipe-resize") {
				t.Errorf("%s lists no resize queue:\n%s", line, out)
			}
		}
	}
	if !ran["s3"] || !ran["sqs"] {
		t.Fatalf("the banner has no aws s3 and aws sqs command for AWS CLI v%s: %q", major[1], cmds)
	}

	// An upload with the CLI, through the profile, is processed and labelled.
	profile := []string{}
	for _, line := range cmds {
		if strings.HasPrefix(line, "export AWS_CONFIG_FILE=") {
			profile = append(append(profile, base...), strings.Fields(strings.TrimPrefix(line, "export "))...)
			break
		}
	}
	photo, err := filepath.Abs("../../testdata/images/wine.jpg")
	if err != nil {
		t.Fatal(err)
	}
	key := "uploads/from-the-cli/wine.jpg"
	awsRun(t, profile, "aws s3 cp "+photo+" s3://imagepipe-uploads/"+key)
	id, _ := manifest.IDForUploadKey("uploads/", key)
	tmp := filepath.Join(t.TempDir(), "manifest.json")
	var m manifest.Manifest
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		cmd := exec.Command(awsPath, "s3", "cp", "s3://imagepipe-output/"+manifest.Key(id), tmp)
		cmd.Env = profile
		if cmd.Run() == nil {
			b, err := os.ReadFile(tmp)
			if err != nil || json.Unmarshal(b, &m) != nil {
				t.Fatalf("manifest: %v %s", err, b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no manifest for %s after 2 minutes", key)
		}
	}
	if m.Status != manifest.StatusReady || m.Source.Filename != "wine.jpg" {
		t.Errorf("manifest status %q filename %q, want ready and wine.jpg", m.Status, m.Source.Filename)
	}
}
