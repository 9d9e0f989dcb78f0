// Command infra is the CDK app that deploys imagepipe. Run it through `make synth`,
// `make deploy` or `cdk synth`; its configuration is CDK context (see cdk.json).
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"

	"github.com/imagepipe/imagepipe/shared/settings"
)

// stackName is the CloudFormation stack the app deploys.
const stackName = "Imagepipe"

func main() {
	ctx, err := cdkJSONContext("cdk.json")
	if err != nil {
		fail(err)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
	stack, err := newStack(app, "bin")
	if err != nil {
		fail(err)
	}
	addNagChecks(stack.Stack)
	if errs := reportFindings(app.Synth(nil), os.Stderr); errs > 0 {
		// The CLI would refuse to deploy; `make synth` must not look like it worked.
		fail(fmt.Errorf("%d error(s) in synthesis; acknowledge a cdk-nag finding only with a reason (infra/nag.go)", errs))
	}
}

// reportFindings prints the warnings and errors synthesis recorded (cdk-nag's
// among them) and returns how many errors there were.
func reportFindings(assembly cxapi.CloudAssembly, w io.Writer) (errs int) {
	for _, stack := range *assembly.StacksRecursively() {
		for _, m := range *stack.Messages() {
			if m.Level == cxapi.SynthesisMessageLevel_INFO {
				continue
			}
			if m.Level == cxapi.SynthesisMessageLevel_ERROR {
				errs++
			}
			fmt.Fprintf(w, "%s %s: %v\n", m.Level, *m.Id, m.Entry.Data)
		}
	}
	return errs
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "imagepipe infra: %v\n", err)
	os.Exit(1)
}

// newStack reads the settings from the app's context and builds the stack from
// the function bootstraps under assetDir.
func newStack(app awscdk.App, assetDir string) (*Stack, error) {
	all, _ := app.Node().GetAllContext(nil).(map[string]any)
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if err := settings.CheckContextKeys(keys); err != nil {
		return nil, fmt.Errorf("bad configuration (CDK context):\n%w", err)
	}
	s, err := settings.FromContext(func(key string) any { return app.Node().TryGetContext(jsii.String(key)) })
	if err != nil {
		return nil, fmt.Errorf("bad configuration (CDK context):\n%w", err)
	}
	for _, fn := range []string{"api", "resize"} {
		bootstrap := filepath.Join(assetDir, fn, "bootstrap")
		if _, err := os.Stat(bootstrap); err != nil {
			return nil, fmt.Errorf("%w (run `make build` first)", err)
		}
	}
	return NewStack(app, stackName, StackProps{
		StackProps: awscdk.StackProps{
			Description: jsii.String("imagepipe: serverless image resizing (uploads, queue, resize, API, alarms)"),
			// Deploy into whatever account and region the CLI's credentials name.
			Env: &awscdk.Environment{
				Account: envOrNil("CDK_DEFAULT_ACCOUNT"),
				Region:  envOrNil("CDK_DEFAULT_REGION"),
			},
		},
		Settings: s,
		AssetDir: assetDir,
	}), nil
}

// cdkJSONContext returns the "context" of cdk.json. The CDK CLI passes it to the app
// itself; reading it here too makes `make synth` (which runs the app directly, with
// no CLI) see the same defaults. Values from the CLI take precedence.
func cdkJSONContext(path string) (map[string]any, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]any{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read CDK config: %w", err)
	}
	var cfg struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if cfg.Context == nil {
		cfg.Context = map[string]any{}
	}
	return cfg.Context, nil
}

func envOrNil(key string) *string {
	if v := os.Getenv(key); v != "" {
		return jsii.String(v)
	}
	return nil
}
