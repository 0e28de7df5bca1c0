package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const unitPath = "../systemd/tokend.service"

// unit is a parsed unit file: section -> key -> every value, in order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a key=value line: %q", path, n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// TestUnitDirectives asserts every directive the service depends on, so a
// lost hardening line fails here even where systemd-analyze cannot tell.
func TestUnitDirectives(t *testing.T) {
	u := parseUnit(t, unitPath)
	svc := u["Service"]
	want := map[string]string{
		"Type":                     "notify",
		"NotifyAccess":             "main",
		"ExecStart":                "/usr/local/bin/tokend run --config /etc/tokend/tokend.toml",
		"ExecReload":               "/bin/kill -HUP $MAINPID",
		"User":                     "tokend",
		"Group":                    "tokend",
		"StateDirectory":           "tokend",
		"StateDirectoryMode":       "0700",
		"ConfigurationDirectory":   "tokend",
		"RuntimeDirectory":         "tokend",
		"RuntimeDirectoryPreserve": "yes",
		"UMask":                    "0077",
		"NoNewPrivileges":          "yes",
		"ProtectSystem":            "strict",
		"ProtectHome":              "yes",
		"PrivateTmp":               "yes",
		"PrivateDevices":           "yes",
		"PrivateUsers":             "yes",
		"ProtectHostname":          "yes",
		"ProtectClock":             "yes",
		"ProtectKernelTunables":    "yes",
		"ProtectKernelModules":     "yes",
		"ProtectKernelLogs":        "yes",
		"ProtectControlGroups":     "yes",
		"ProtectProc":              "invisible",
		"ProcSubset":               "pid",
		"CapabilityBoundingSet":    "",
		"AmbientCapabilities":      "",
		"RestrictAddressFamilies":  "AF_INET AF_INET6 AF_UNIX",
		"RestrictNamespaces":       "yes",
		"RestrictRealtime":         "yes",
		"RestrictSUIDSGID":         "yes",
		"LockPersonality":          "yes",
		"MemoryDenyWriteExecute":   "yes",
		"SystemCallArchitectures":  "native",
		"Restart":                  "on-failure",
	}
	for k, v := range want {
		got, ok := svc[k]
		if !ok || got[len(got)-1] != v {
			t.Errorf("[Service] %s = %q, want %q", k, got, v)
		}
	}
	if f := svc["SystemCallFilter"]; len(f) < 1 || f[0] != "@system-service" {
		t.Errorf("SystemCallFilter = %q, want @system-service first", f)
	}
	// The watchdog must exist; stopping must outlast shutdown_grace (30s).
	for _, k := range []string{"WatchdogSec", "TimeoutStopSec"} {
		if _, ok := svc[k]; !ok {
			t.Errorf("[Service] %s missing", k)
		}
	}
	if d := systemdDuration(t, svc["TimeoutStopSec"][0]); d <= 30*time.Second {
		t.Errorf("TimeoutStopSec %s does not outlast the default shutdown_grace of 30s", d)
	}
	if u["Install"]["WantedBy"][0] != "multi-user.target" {
		t.Error("[Install] WantedBy=multi-user.target missing")
	}
}

func systemdDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(strings.ReplaceAll(s, "min", "m"))
	if err != nil {
		t.Fatalf("duration %q: %v", s, err)
	}
	return d
}

// buildTokend builds the binary the unit's ExecStart names, into a temp dir.
func buildTokend(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "tokend")
	if out, err := exec.Command(goBin, "build", "-o", bin, "../cmd/tokend").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// unitWithBinary writes a copy of the unit whose ExecStart is bin, because
// systemd-analyze verify checks that the binary exists.
func unitWithBinary(t *testing.T, bin string) string {
	t.Helper()
	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.ReplaceAll(b, []byte("/usr/local/bin/tokend"), []byte(bin))
	p := filepath.Join(t.TempDir(), "tokend.service")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func systemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze is required to check the unit (apt-get install systemd): %v", err)
	}
	return p
}

// TestUnitVerifies runs systemd-analyze verify: no warnings at all (unknown
// keys are only warnings there, so any output fails the test).
func TestUnitVerifies(t *testing.T) {
	sa := systemdAnalyze(t)
	unitFile := unitWithBinary(t, buildTokend(t))
	out, err := exec.Command(sa, "verify", unitFile).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// And it does catch mistakes: a misspelled directive is reported.
	b, _ := os.ReadFile(unitFile)
	bad := filepath.Join(t.TempDir(), "tokend.service")
	if err := os.WriteFile(bad, bytes.Replace(b, []byte("ProtectHome=yes"), []byte("ProtectHomes=yes"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command(sa, "verify", bad).CombinedOutput(); !bytes.Contains(out, []byte("ProtectHomes")) {
		t.Fatalf("verify did not report a misspelled key: %s", out)
	}
}

var exposureRE = regexp.MustCompile(`Overall exposure level for tokend\.service: (\d+\.\d) (\S+)`)

// TestUnitSecurityExposure runs systemd-analyze security offline on the
// unit and requires an exposure level of OK or better.
func TestUnitSecurityExposure(t *testing.T) {
	sa := systemdAnalyze(t)
	unitFile := unitWithBinary(t, buildTokend(t))
	out, _ := exec.Command(sa, "security", "--offline=yes", "--no-pager", unitFile).CombinedOutput()
	m := exposureRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	level := string(m[2])
	t.Logf("systemd-analyze security: exposure %.1f %s", score, level)
	if level != "OK" && level != "SAFE" && level != "PERFECT" {
		t.Fatalf("exposure %.1f %s, want OK or better\n%s", score, level, out)
	}
	if score > 1.5 {
		t.Fatalf("exposure %.1f regressed (it was 1.1)", score)
	}
}
