package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const rulesPath = "prometheus/tokend-rules.yaml"

// promtool asks the project's script for promtool (Debian's prometheus
// package, or a build from the pinned module).
func promtool(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("../scripts/prometheus-bin", "promtool")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/prometheus-bin promtool: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func TestAlertRulesPassPromtoolCheckAndUnitTests(t *testing.T) {
	bin := promtool(t)
	if out, err := exec.Command(bin, "check", "rules", rulesPath).CombinedOutput(); err != nil || !strings.Contains(string(out), "SUCCESS: 7 rules found") {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "test", "rules", "tests.yaml")
	cmd.Dir = "prometheus"
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// TestAlertRuleUnitTestsCatchABrokenRule is the negative control: the same
// unit tests against rules with one expression broken must fail.
func TestAlertRuleUnitTestsCatchABrokenRule(t *testing.T) {
	bin := promtool(t)
	rules, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile("prometheus/tests.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ from, to string }{
		{`tokend_credential_status{status="needs_reauth"} == 1`, `tokend_credential_status{status="needs_reauth"} == 2`},
		{`tokend_sink_ok == 0`, `tokend_sink_ok == 1`},
		{`< 15 * 60`, `< 5 * 60`},
		{`tokend_credential_last_success_timestamp_seconds < 5 * 60`, `tokend_credential_last_success_timestamp_seconds < 0`},
		{`result="error"`, `result="ok"`},
	} {
		if !strings.Contains(string(rules), c.from) {
			t.Fatalf("rules lack %q", c.from)
		}
		dir := t.TempDir()
		broken := strings.Replace(string(rules), c.from, c.to, 1)
		if err := os.WriteFile(filepath.Join(dir, "tokend-rules.yaml"), []byte(broken), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tests.yaml"), tests, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "test", "rules", "tests.yaml")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("rules with %q instead of %q pass the unit tests:\n%s", c.to, c.from, out)
		}
	}
}

// TestAlertRulesUseTokendsMetricNames checks every tokend_* name in the
// rules against internal/metrics, and that every alert has a runbook.
func TestAlertRulesUseTokendsMetricNames(t *testing.T) {
	rules, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	files, _ := filepath.Glob("../internal/metrics/*.go")
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			src.Write(b)
		}
	}
	used := regexp.MustCompile(`tokend_[a-z_]+`).FindAllString(string(rules), -1)
	slices.Sort(used)
	used = slices.Compact(used)
	if len(used) < 6 {
		t.Fatalf("rules use only %v", used)
	}
	for _, name := range used {
		if !strings.Contains(src.String(), `"`+name+`"`) {
			t.Errorf("the rules use %s, which internal/metrics does not export", name)
		}
	}
	alerts := strings.Count(string(rules), "- alert: ")
	if runbooks := strings.Count(string(rules), "\n          runbook: "); alerts != 7 || runbooks != alerts {
		t.Errorf("%d alerts, %d runbook annotations", alerts, runbooks)
	}
}
