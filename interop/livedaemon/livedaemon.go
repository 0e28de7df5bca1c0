// Package livedaemon runs the real tokend binary against the strict fake
// provider for the interop module's ecosystem tests (the status page in a
// browser, Prometheus alerts): three credentials in three states, and every
// secret they involve, so a test can prove none of them leaks.
package livedaemon

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/fakeprovider"
	"github.com/tokend/tokend/internal/syncbuf"
)

// The credentials Start configures, in config order.
const (
	Healthy = "billing-app" // refresh_token grant, refreshed once at start
	Service = "reports-svc" // client_credentials grant
	Revoked = "legacy-crm"  // its refresh token was already used: the provider revokes the family, tokend marks it needs_reauth
)

// Daemon is a running tokend. Its fields are read-only.
type Daemon struct {
	Bin      string // the tokend binary built from this tree
	Dir      string
	Config   string // path of tokend.toml
	Listen   string // the [status] listen: "127.0.0.1:PORT" or "unix:/path"
	Provider *fakeprovider.Provider
	Logs     *syncbuf.Buffer // the daemon's stderr
	secrets  []string
}

// Build builds tokend from this source tree into dir and returns its path.
func Build(t testing.TB, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to build tokend: %v", err)
	}
	bin := filepath.Join(dir, "tokend")
	build := exec.Command(goBin, "build", "-o", bin, "./cmd/tokend")
	build.Dir = RepoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// RepoRoot is the root of the tokend source tree (the directory of go.work).
func RepoRoot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOWORK").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == "off" {
		t.Fatalf("locating the repository through go.work: %v %q", err, out)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// Start builds tokend and runs it with the three credentials (Healthy,
// Service, Revoked) against a fresh strict fake provider, its status server
// on a free loopback port (unix false) or a unix socket (unix true). It
// returns once every credential has left the pending state; the daemon is
// killed at the end of the test.
func Start(t testing.TB, unix bool) *Daemon {
	t.Helper()
	dir := t.TempDir()
	d := &Daemon{Bin: Build(t, t.TempDir()), Dir: dir, Config: filepath.Join(dir, "tokend.toml"), Logs: &syncbuf.Buffer{}}
	p, err := fakeprovider.New(fakeprovider.Options{AccessTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	base, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	d.Provider = p
	d.Listen = "unix:" + filepath.Join(dir, "status.sock")
	if !unix {
		d.Listen = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "[state]\ndir = %q\n\n[status]\nlisten = %q\n", filepath.Join(dir, "state"), d.Listen)
	for _, name := range []string{Healthy, Service, Revoked} {
		secret := "cs-" + name + "-9f3a7c1e5d"
		p.AddClient(name, secret)
		d.secrets = append(d.secrets, secret)
		fmt.Fprintf(&cfg, "\n[[credential]]\nname = %q\ntoken_url = %q\nclient_id = %q\nclient_secret = %q\n", name, base+"/token", name, secret)
		if name == Service {
			cfg.WriteString("grant = \"client_credentials\"\n")
		} else {
			rt := p.IssueRefreshToken(name, "read")
			if name == Revoked {
				useRefreshToken(t, base+"/token", name, secret, rt)
			}
			rtFile := filepath.Join(dir, name+".rt")
			if err := os.WriteFile(rtFile, []byte(rt+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&cfg, "refresh_token_file = %q\n", rtFile)
		}
		fmt.Fprintf(&cfg, "  [[credential.sink]]\n  type = \"file\"\n  path = %q\n", filepath.Join(dir, name+".token"))
	}
	if err := os.WriteFile(d.Config, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(d.Bin, "run", "--config", d.Config)
	cmd.Stderr = d.Logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	// Every credential settled: none pending or refreshing any more.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, _ := exec.Command(d.Bin, "status", "--config", d.Config).Output()
		if strings.Contains(string(out), Revoked) && !strings.Contains(string(out), "pending") && !strings.Contains(string(out), "refreshing") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for tokend's credentials to settle:\n%s\nlog:\n%s", out, d.Logs.String())
		}
	}
	return d
}

// useRefreshToken redeems rt once, as a thief would: presenting it again
// afterwards is a reuse, and the strict provider revokes the family.
func useRefreshToken(t testing.TB, tokenURL, id, secret, rt string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("using the refresh token of %s beforehand: HTTP %d", id, resp.StatusCode)
	}
}

// Secrets returns every secret the daemon has seen so far: client secrets,
// every refresh token the provider issued, the access tokens in the sinks,
// and the admin token. None may appear in a page, log or metric.
func (d *Daemon) Secrets(t testing.TB) []string {
	t.Helper()
	out := append([]string{}, d.secrets...)
	out = append(out, d.Provider.IssuedRefreshTokens()...)
	files := []string{config.AdminTokenPath(filepath.Join(d.Dir, "state"))}
	for _, name := range []string{Healthy, Service, Revoked} {
		files = append(files, filepath.Join(d.Dir, name+".token")) // raw format: the access token alone
	}
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err == nil && strings.TrimSpace(string(b)) != "" {
			out = append(out, strings.TrimSpace(string(b)))
		}
	}
	if len(out) < 2*len(d.secrets) {
		t.Fatalf("too few secrets collected (%d): the leak check would prove little", len(out))
	}
	return out
}

// Leaks returns the secrets of d that appear in text.
func (d *Daemon) Leaks(t testing.TB, text string) []string {
	t.Helper()
	var found []string
	for _, s := range d.Secrets(t) {
		if strings.Contains(text, s) {
			found = append(found, s[:min(6, len(s))]+"…")
		}
	}
	return found
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
