package main

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"

	"github.com/imagepipe/imagepipe/shared/settings"
)

// runMainEnv makes the test binary act as the CDK app, so tests can run main
// exactly as `make synth` and the CDK CLI do, in a child process.
const runMainEnv = "IMAGEPIPE_INFRA_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runApp runs main from the repository root (where cdk.json and bin/ are), with
// context passed the way the CDK CLI passes it, and writes the assembly to outdir.
func runApp(t *testing.T, outdir string, context map[string]any) (stderr string, err error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "CDK_OUTDIR="+outdir)
	if context != nil {
		raw, _ := json.Marshal(context)
		cmd.Env = append(cmd.Env, "CDK_CONTEXT_JSON="+string(raw))
	}
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	err = cmd.Run()
	return errOut.String(), err
}

func TestBadContextFailsSynthesis(t *testing.T) {
	tests := []struct {
		name    string
		context map[string]any
		keys    []string
	}{
		{"not a number", map[string]any{"resizeMemoryMb": "lots"}, []string{"resizeMemoryMb"}},
		{"retention CloudWatch cannot keep", map[string]any{"logRetentionDays": "10"}, []string{"logRetentionDays"}},
		{"two mistakes", map[string]any{"resizeTimeout": "forever", "allowedOrigins": "photos.example"},
			[]string{"resizeTimeout", "allowedOrigins"}},
		{"DLQ keeps less than the queue", map[string]any{"queueRetention": "14d", "dlqRetention": "7d"}, []string{"dlqRetention"}},
		{"variants", map[string]any{"variants": `[{"name":"Big Thumb","width":100}]`}, []string{"variants"}},
		{"misspelt key", map[string]any{"resizeMemoryMB": "2048"}, []string{"resizeMemoryMB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			stderr, err := runApp(t, out, tt.context)
			if err == nil {
				t.Fatalf("synthesis succeeded with %v", tt.context)
			}
			for _, key := range tt.keys {
				if !strings.Contains(stderr, key+": ") {
					t.Errorf("error does not name %s:\n%s", key, stderr)
				}
			}
			if _, err := os.Stat(filepath.Join(out, stackName+".template.json")); err == nil {
				t.Error("a template was written despite the bad configuration")
			}
		})
	}
}

// TestNewStackRejectsBadContext covers the same path in-process, for values that
// reach the app as JSON from cdk.json rather than strings from -c.
func TestNewStackRejectsBadContext(t *testing.T) {
	tests := []struct {
		key   string
		value any
	}{
		{"resizeBatchSize", 0.0},
		{"resizeMaxConcurrency", 1.0},
		{"maxReceiveCount", "five"},
		{"originalsExpireDays", -1.0},
		{"alarmEmail", "not an address"},
		{"limits", map[string]any{"maxBytes": 0.0, "maxPixels": 1.0, "maxSide": 1.0}},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			ctx := map[string]any{tt.key: tt.value}
			app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
			_, err := newStack(app, fakeAssets(t))
			if err == nil {
				t.Fatalf("newStack accepted %s=%v", tt.key, tt.value)
			}
			if !strings.Contains(err.Error(), tt.key+": ") {
				t.Errorf("error does not name %s: %v", tt.key, err)
			}
		})
	}
}

func TestMissingBootstrapFailsSynthesis(t *testing.T) {
	app := awscdk.NewApp(nil)
	_, err := newStack(app, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "make build") {
		t.Fatalf("want an error telling to run make build, got %v", err)
	}
}

// TestMakeBuildLayout proves the real layout: `make build` writes the bootstraps,
// main synthesizes from bin/ with cdk.json, and each function's asset is a
// linux/arm64 executable named bootstrap, as provided.al2023 expects.
func TestMakeBuildLayout(t *testing.T) {
	build := exec.Command("make", "--no-print-directory", "build")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	out := t.TempDir()
	stderr, err := runApp(t, out, nil)
	if err != nil {
		t.Fatalf("synthesis failed: %v\n%s", err, stderr)
	}
	raw, err := os.ReadFile(filepath.Join(out, stackName+".template.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tmpl struct {
		Resources map[string]resource `json:"Resources"`
	}
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		t.Fatal(err)
	}
	functions := 0
	for id, r := range tmpl.Resources {
		if r.Type != "AWS::Lambda::Function" || r.Properties["Runtime"] != "provided.al2023" {
			continue
		}
		functions++
		code := r.Properties["Code"].(map[string]any)
		hash := strings.TrimSuffix(code["S3Key"].(string), ".zip")
		exe := filepath.Join(out, "asset."+hash, "bootstrap")
		f, err := elf.Open(exe)
		if err != nil {
			t.Errorf("%s: asset is not an executable: %v", id, err)
			continue
		}
		if f.Machine != elf.EM_AARCH64 || f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
			t.Errorf("%s: bootstrap is %v/%v, want linux arm64", id, f.Machine, f.OSABI)
		}
		f.Close()
	}
	if functions != 2 {
		t.Errorf("found %d provided.al2023 functions, want 2", functions)
	}
	// The app reports cdk-nag's findings; a clean stack has none.
	if strings.Contains(stderr, "AwsSolutions-") {
		t.Errorf("synthesis reported cdk-nag findings:\n%s", stderr)
	}
}

// TestCDKJSONDocumentsTheDefaults keeps cdk.json, which users read to learn the
// settings, equal to settings.Default(): only allowedOrigins differs on AWS.
func TestCDKJSONDocumentsTheDefaults(t *testing.T) {
	ctx, err := cdkJSONContext("../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(ctx))
	for k := range ctx {
		keys = append(keys, k)
	}
	if err := settings.CheckContextKeys(keys); err != nil {
		t.Fatalf("cdk.json: %v", err)
	}
	got, err := settings.FromContext(func(key string) any { return ctx[key] })
	if err != nil {
		t.Fatalf("cdk.json: %v", err)
	}
	want := settings.Default()
	want.AllowedOrigins = []string{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cdk.json differs from settings.Default():\n got %+v\nwant %+v", got, want)
	}
	for _, key := range settings.ContextKeys {
		switch key {
		case "maxUploadBytes", "maxPixels", "maxSide": // documented inside "limits"
			continue
		}
		if _, ok := ctx[key]; !ok {
			t.Errorf("cdk.json does not show the default of %s", key)
		}
	}
}
