package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := realMain(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelpAndUnknownCommands(t *testing.T) {
	if code, _, stderr := run(); code != 2 || !strings.Contains(stderr, "Commands:") {
		t.Fatalf("no args: %d %q", code, stderr)
	}
	for _, c := range commands() {
		if code, stdout, _ := run(c.name, "-h"); code != 0 || !strings.Contains(stdout, "Usage: tokend "+c.name) {
			t.Errorf("%s -h: exit %d, %q", c.name, code, stdout)
		}
	}
	if code, _, _ := run("frobnicate"); code != 2 {
		t.Fatalf("unknown command exit %d", code)
	}
	if code, out, _ := run("version"); code != 0 || !strings.HasPrefix(out, "tokend ") {
		t.Fatalf("version: %d %q", code, out)
	}
}

func TestValidate(t *testing.T) {
	if code, out, _ := run("validate", "--offline", "--config", "../../tokend.toml"); code != 0 || !strings.Contains(out, "OK (2 credentials)") {
		t.Fatalf("shipped example: %d %q", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(bad, []byte("[state]\ndir = \"/x\"\nbogus = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run("validate", "--config", bad)
	if code != 1 || !strings.Contains(stderr, bad+":3: state.bogus: unknown key") || !strings.Contains(stderr, "no [[credential]]") {
		t.Fatalf("bad config: %d %q", code, stderr)
	}
	if code, _, _ := run("run", "--config", bad); code != 1 {
		t.Fatalf("run with a bad config: exit %d", code)
	}
}
