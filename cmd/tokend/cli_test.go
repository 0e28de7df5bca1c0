package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runBin runs the built binary with env added to the test's environment.
func runBin(t *testing.T, bin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// TestCLIConventions drives the real binary: positional arguments a command
// does not take are refused, -h/--help go to stdout with exit 0, -c and
// TOKEND_CONFIG choose the config, --log-format picks the log format, and
// --version/version show the module version and VCS revision.
func TestCLIConventions(t *testing.T) {
	bin := buildBinary(t)
	example, err := filepath.Abs("../../tokend.toml")
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"TOKEND_CONFIG="} // the test's own environment must not choose the config

	// A positional argument is refused, not ignored for /etc/tokend/tokend.toml.
	for _, args := range [][]string{{"validate", "tokend.toml"}, {"run", "tokend.toml"}, {"status", "x"}, {"reload", "x"},
		{"version", "x"}, {"demo", "x"}, {"store", "check", "x"}} {
		code, out, stderr := runBin(t, bin, env, args...)
		if code != 2 || out != "" || !strings.Contains(stderr, "unexpected argument \""+args[len(args)-1]+"\"") ||
			strings.Contains(stderr, "/etc/tokend") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, stderr)
		}
	}
	if _, _, stderr := runBin(t, bin, env, "validate", "tokend.toml"); !strings.Contains(stderr, "--config tokend.toml or -c tokend.toml") {
		t.Errorf("validate FILE gives no hint: %q", stderr)
	}

	// -h and --help: usage on stdout, exit 0, nothing on stderr.
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}, {"validate", "-h"}, {"run", "--help"}, {"store", "-h"}, {"store", "check", "-h"}, {"completion", "-h"}} {
		code, out, stderr := runBin(t, bin, env, args...)
		if code != 0 || !strings.Contains(out, "Usage: tokend") || stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, stderr)
		}
	}
	if code, out, stderr := runBin(t, bin, env); code != 2 || out != "" || !strings.Contains(stderr, "Usage: tokend") {
		t.Errorf("no arguments: exit %d, stdout %q, stderr %q", code, out, stderr)
	}

	// -c and TOKEND_CONFIG.
	if code, out, stderr := runBin(t, bin, env, "validate", "--offline", "-c", example); code != 0 || !strings.Contains(out, example+": OK") {
		t.Errorf("validate -c: exit %d %q %q", code, out, stderr)
	}
	if code, out, stderr := runBin(t, bin, []string{"TOKEND_CONFIG=" + example}, "validate", "--offline"); code != 0 || !strings.Contains(out, example+": OK") {
		t.Errorf("TOKEND_CONFIG: exit %d %q %q", code, out, stderr)
	}
	missing := filepath.Join(t.TempDir(), "missing.toml")
	if code, _, stderr := runBin(t, bin, []string{"TOKEND_CONFIG=" + example}, "validate", "--config", missing); code != 1 || !strings.Contains(stderr, "missing.toml") {
		t.Errorf("--config over TOKEND_CONFIG: exit %d %q", code, stderr)
	}

	// --log-format: the same failure in JSON and in console form.
	if code, _, stderr := runBin(t, bin, env, "run", "-c", missing, "--log-format", "json"); code != 1 || !strings.HasPrefix(stderr, `{"level":"error"`) {
		t.Errorf("--log-format json: exit %d %q", code, stderr)
	}
	if code, _, stderr := runBin(t, bin, append(env, "NO_COLOR=1"), "run", "-c", missing, "--log-format", "console"); code != 1 ||
		!strings.Contains(stderr, "\tERROR\tinvalid config; not starting") || strings.Contains(stderr, "\x1b[") {
		t.Errorf("--log-format console: exit %d %q", code, stderr)
	}
	if code, _, stderr := runBin(t, bin, env, "run", "-c", example, "--log-format", "xml"); code != 2 || !strings.Contains(stderr, `invalid log format "xml"`) {
		t.Errorf("--log-format xml: exit %d %q", code, stderr)
	}

	// --version and version: module version, VCS revision, Go version.
	code, v1, _ := runBin(t, bin, env, "--version")
	code2, v2, _ := runBin(t, bin, env, "version")
	if code != 0 || code2 != 0 || v1 != v2 || !strings.HasPrefix(v1, "tokend ") || !strings.Contains(v1, "(revision ") || !strings.Contains(v1, ", go1.") {
		t.Fatalf("--version %d %q; version %d %q", code, v1, code2, v2)
	}
	// The same facts as the toolchain reads from the binary (go version -m).
	// (A build inside a git worktree, or with -buildvcs=false, has no VCS
	// stamp: then the revision is "unknown".)
	meta, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	mod, rev, goVer := "", "unknown", strings.Fields(string(meta))[1]
	for _, line := range strings.Split(string(meta), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "mod":
			mod = f[2]
		case len(f) == 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.revision="):
			rev = strings.TrimPrefix(f[1], "vcs.revision=")
		}
	}
	if want := "tokend " + mod + " (revision " + rev; mod == "" || !strings.HasPrefix(v1, want) || !strings.Contains(v1, goVer+")") {
		t.Errorf("version %q; want %q… %s (go version -m:\n%s)", v1, want, goVer, meta)
	}
}

// TestCompletionScripts: tokend completion prints a script per shell that
// lists the subcommands and their flags; the bash one completes in bash.
func TestCompletionScripts(t *testing.T) {
	bin := buildBinary(t)
	for _, sh := range []string{"bash", "zsh", "fish"} {
		code, out, stderr := runBin(t, bin, nil, "completion", sh)
		if code != 0 || !strings.Contains(out, "validate") || !strings.Contains(out, "completion") || !strings.Contains(out, "log-format") {
			t.Errorf("completion %s: exit %d %q %q", sh, code, out, stderr)
		}
	}
	if code, _, stderr := runBin(t, bin, nil, "completion", "tcsh"); code != 2 || !strings.Contains(stderr, `unknown shell "tcsh"`) {
		t.Errorf("completion tcsh: exit %d %q", code, stderr)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("bash is needed to try the bash script: %v", err)
	}
	_, script, _ := runBin(t, bin, nil, "completion", "bash")
	complete := func(words ...string) string {
		t.Helper()
		prog := script + "\nCOMP_WORDS=(" + strings.Join(words, " ") + ")\nCOMP_CWORD=" + itoa(len(words)-1) + "\n_tokend\necho \"${COMPREPLY[*]}\"\n"
		out, err := exec.Command(bash, "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := complete("tokend", "val"); got != "validate" {
		t.Errorf("tokend val<TAB> = %q", got)
	}
	if got := complete("tokend", "run", "--log-f"); got != "--log-format" {
		t.Errorf("tokend run --log-f<TAB> = %q", got)
	}
	if got := complete("tokend", "store", "ch"); got != "check" {
		t.Errorf("tokend store ch<TAB> = %q", got)
	}
}

func itoa(n int) string { return string(rune('0' + n)) }
