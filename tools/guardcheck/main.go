// Command guardcheck runs cfn-guard's rule sets on a CloudFormation template and
// fails on every rule a resource breaks unless a suppression file accepts that
// rule for that resource, with a reason. `make check-templates` runs it.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path"
	"regexp"
	"slices"
	"strings"
)

// suppression accepts one rule failing for the resources whose logical IDs match
// one of the patterns (path.Match globs: CDK appends a hash to every ID).
type suppression struct {
	Rule      string   `json:"rule"`
	Resources []string `json:"resources"`
	Reason    string   `json:"reason"`
}

// finding is one rule a resource breaks.
type finding struct{ Rule, Resource, Message string }

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	guard := flag.String("guard", "cfn-guard", "the cfn-guard binary")
	template := flag.String("template", "", "the CloudFormation template (JSON)")
	supFile := flag.String("suppressions", "", "JSON list of {rule, resources, reason}")
	var rules multiFlag
	flag.Var(&rules, "rules", "a rules file or directory (repeatable)")
	flag.Parse()
	if err := run(*guard, *template, *supFile, rules); err != nil {
		fmt.Fprintln(os.Stderr, "guardcheck:", err)
		os.Exit(1)
	}
}

func run(guard, template, supFile string, rules []string) error {
	if template == "" || len(rules) == 0 {
		return errors.New("-template and at least one -rules are required")
	}
	sups, err := readSuppressions(supFile)
	if err != nil {
		return err
	}
	args := []string{"validate", "--data", template, "--output-format", "sarif", "--show-summary", "none", "--structured"}
	for _, r := range rules {
		args = append(args, "--rules", r)
	}
	var out, errOut bytes.Buffer
	cmd := exec.Command(guard, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var exit *exec.ExitError
	// cfn-guard exits 19 when a rule fails, 0 when none does; anything else is its
	// own failure.
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 19) {
		return fmt.Errorf("%s: %v: %s", guard, err, errOut.String())
	}
	findings, err := parseSARIF(out.Bytes())
	if err != nil {
		return err
	}
	used := make([]bool, len(sups))
	var failing []finding
	accepted := 0
	for _, f := range findings {
		i := slices.IndexFunc(sups, func(s suppression) bool { return s.matches(f) })
		if i < 0 {
			failing = append(failing, f)
			continue
		}
		used[i] = true
		accepted++
	}
	fmt.Printf("cfn-guard: %d rule sets on %s: %d findings, %d accepted in %s, %d failing\n",
		len(rules), template, len(findings), accepted, supFile, len(failing))
	for i, s := range sups {
		if !used[i] {
			fmt.Printf("note: suppression of %s for %v matched nothing; remove it if the template changed for good\n", s.Rule, s.Resources)
		}
	}
	for _, f := range failing {
		fmt.Printf("FAIL %s on %s: %s\n", f.Rule, f.Resource, f.Message)
	}
	if len(failing) > 0 {
		return fmt.Errorf("%d findings: fix the template, or accept each in %s with a reason", len(failing), supFile)
	}
	return nil
}

func readSuppressions(file string) ([]suppression, error) {
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var sups []suppression
	if err := json.Unmarshal(b, &sups); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	for i, s := range sups {
		if s.Rule == "" || len(s.Resources) == 0 || strings.TrimSpace(s.Reason) == "" {
			return nil, fmt.Errorf("%s: entry %d needs a rule, resources and a reason", file, i)
		}
		for _, p := range s.Resources {
			if _, err := path.Match(p, ""); err != nil {
				return nil, fmt.Errorf("%s: entry %d: pattern %q: %w", file, i, p, err)
			}
		}
	}
	return sups, nil
}

func (s suppression) matches(f finding) bool {
	if s.Rule != f.Rule {
		return false
	}
	for _, p := range s.Resources {
		if ok, _ := path.Match(p, f.Resource); ok {
			return true
		}
	}
	return false
}

// resourcePath finds the resource a SARIF message is about.
var resourcePath = regexp.MustCompile(`/Resources/([^/\[\s\]]+)`)

// parseSARIF turns cfn-guard's SARIF report into one finding per rule and
// resource (a rule reports every clause it checked).
func parseSARIF(b []byte) ([]finding, error) {
	var report struct {
		Runs []struct {
			Results []struct {
				RuleID  string `json:"ruleId"`
				Message struct {
					Text string `json:"text"`
				} `json:"message"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b, &report); err != nil {
		return nil, fmt.Errorf("cfn-guard's SARIF report: %w", err)
	}
	seen := map[[2]string]bool{}
	var out []finding
	for _, run := range report.Runs {
		for _, r := range run.Results {
			res := "(template)"
			if m := resourcePath.FindStringSubmatch(r.Message.Text); m != nil {
				res = m[1]
			}
			k := [2]string{r.RuleID, res}
			if seen[k] {
				continue
			}
			seen[k] = true
			msg := strings.TrimSpace(r.Message.Text)
			if len(msg) > 240 {
				// The message quotes the whole resource (inline code included).
				msg = msg[:240] + "…"
			}
			out = append(out, finding{Rule: r.RuleID, Resource: res, Message: msg})
		}
	}
	slices.SortFunc(out, func(a, b finding) int { return strings.Compare(a.Rule+a.Resource, b.Rule+b.Resource) })
	return out, nil
}
