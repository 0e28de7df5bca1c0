package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/fakeprovider"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/syncbuf"
	"github.com/tokend/tokend/internal/testkit"
)

// setup is an Apicbase-shaped fake and a config pointed at it.
type setup struct {
	p        *fakeprovider.Provider
	clk      *testkit.Clock // the fake provider's clock
	cfgPath  string
	stateDir string
	base     string // the fake's base URL
}

// apicbaseSetup starts an Apicbase-shaped fake and writes a config whose
// credential "apicbase" uses the preset, pointed at the fake.
func apicbaseSetup(t *testing.T, extra string) setup {
	t.Helper()
	clk := testkit.NewClock(time.Now())
	opts := fakeprovider.ApicbaseOptions()
	opts.Now = clk.Now
	p, err := fakeprovider.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(func() { _ = p.Close(); srv.Close() })
	p.AddClient("apic", "apic-secret-value")
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "apicbase.secret")
	if err := os.WriteFile(secretFile, []byte("apic-secret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`[state]
dir = %q

[[credential]]
name = "apicbase"
provider = "apicbase"
client_id = "apic"
client_secret_file = %q
token_url = "%[3]s/oauth/token/"
authorize_url = "%[3]s/oauth/authorize/"
introspection_url = "%[3]s/oauth/introspect/"
scopes = ["accounts", "library"]
%[4]s
  [[credential.sink]]
  type = "file"
  path = %[5]q
`, filepath.Join(dir, "state"), secretFile, srv.URL, extra, filepath.Join(dir, "apicbase.token"))
	path := filepath.Join(dir, "tokend.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return setup{p: p, clk: clk, cfgPath: path, stateDir: filepath.Join(dir, "state"), base: srv.URL}
}

// authorizeRun is `tokend authorize` running in-process.
type authorizeRun struct {
	stdout *bufio.Reader
	stderr *bytes.Buffer
	code   chan int
}

func startAuthorizeCmd(t *testing.T, args ...string) *authorizeRun {
	t.Helper()
	pr, pw := io.Pipe()
	r := &authorizeRun{stdout: bufio.NewReader(pr), stderr: &bytes.Buffer{}, code: make(chan int, 1)}
	stderr := &syncbuf.Buffer{}
	go func() {
		code := runAuthorize(args, strings.NewReader(""), pw, stderr)
		_ = pw.Close()
		r.stderr.WriteString(stderr.String())
		r.code <- code
	}()
	return r
}

// firstLine is what the operator copies into a browser.
func (r *authorizeRun) firstLine(t *testing.T) string {
	t.Helper()
	line, err := r.stdout.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the first stdout line: %v", err)
	}
	return strings.TrimSpace(line)
}

func (r *authorizeRun) exit(t *testing.T) (int, string) {
	t.Helper()
	go func() { _, _ = io.Copy(io.Discard, r.stdout) }()
	select {
	case c := <-r.code:
		return c, r.stderr.String()
	case <-time.After(20 * time.Second):
		t.Fatal("tokend authorize did not exit")
		return 0, ""
	}
}

var browser = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// redirectFor opens the authorization URL at the fake provider, which
// consents at once and answers with a redirect to tokend's listener.
func redirectFor(t *testing.T, authURL string) *url.URL {
	t.Helper()
	resp, err := browser.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("authorization endpoint: %d %v", resp.StatusCode, err)
	}
	return loc
}

func visit(t *testing.T, u *url.URL) (int, string) {
	t.Helper()
	resp, err := browser.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func loadRecord(t *testing.T, dir string) (state.Record, error) {
	t.Helper()
	st, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	return st.Load(context.Background(), "apicbase")
}

func TestAuthorizeCommandEndToEnd(t *testing.T) {
	su := apicbaseSetup(t, `redirect_uri = "http://127.0.0.1:0/callback"`)
	p, cfgPath, stateDir := su.p, su.cfgPath, su.stateDir
	run := startAuthorizeCmd(t, "apicbase", "--config", cfgPath, "--listen-timeout", "30s")
	authURL := run.firstLine(t)
	if !strings.Contains(authURL, "/oauth/authorize/?") || !strings.Contains(authURL, "response_type=code") ||
		!strings.Contains(authURL, "scope=accounts+library") {
		t.Fatalf("first stdout line %q", authURL)
	}
	status, page := visit(t, redirectFor(t, authURL)) // a real HTTP redirect to the loopback listener
	code, stderr := run.exit(t)
	if code != 0 || status != 200 || !strings.Contains(page, "Authorized") {
		t.Fatalf("exit %d, page %d %q, stderr:\n%s", code, status, page, stderr)
	}
	rec, err := loadRecord(t, stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Generation != 1 || rec.Status != state.StatusOK || rec.RefreshToken.Reveal() != p.CurrentRefreshToken("apic")[0] ||
		!strings.Contains(stderr, `stored tokens for "apicbase" in the state store; refresh token `+rec.RefreshToken.Fingerprint()) {
		t.Errorf("record %+v\nstderr %s", rec, stderr)
	}
	if strings.Contains(stderr, rec.RefreshToken.Reveal()) || strings.Contains(stderr, rec.AccessToken.Reveal()) {
		t.Error("stderr shows a token")
	}
}

func TestAuthorizeCommandWrongStateAndExpiredCode(t *testing.T) {
	su := apicbaseSetup(t, `redirect_uri = "http://localhost:0/callback"`)
	p, clk, cfgPath, stateDir := su.p, su.clk, su.cfgPath, su.stateDir

	run := startAuthorizeCmd(t, "--config", cfgPath, "apicbase")
	loc := redirectFor(t, run.firstLine(t))
	q := loc.Query()
	q.Set("state", "attacker-state")
	loc.RawQuery = q.Encode()
	status, page := visit(t, loc)
	code, stderr := run.exit(t)
	if code != 1 || status != 400 || !strings.Contains(stderr, "state mismatch") || !strings.Contains(page, "Nothing was stored") {
		t.Fatalf("wrong state: exit %d, page %d %q, stderr %s", code, status, page, stderr)
	}

	run = startAuthorizeCmd(t, "apicbase", "--config", cfgPath)
	loc = redirectFor(t, run.firstLine(t))
	clk.Add(61 * time.Second) // Apicbase codes expire after one minute
	status, page = visit(t, loc)
	code, stderr = run.exit(t)
	if code != 1 || status != http.StatusBadGateway || !strings.Contains(stderr, "invalid_grant") || !strings.Contains(page, "invalid_grant") {
		t.Fatalf("expired code: exit %d, page %d %q, stderr %s", code, status, page, stderr)
	}
	if _, err := loadRecord(t, stateDir); err == nil {
		t.Error("a record was stored")
	}
	if s := p.Stats(); s.CodeExchanges != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestImportAndIntrospectCommands(t *testing.T) {
	su := apicbaseSetup(t, "")
	p, cfgPath, stateDir := su.p, su.cfgPath, su.stateDir
	// An Apicbase-style token JSON issued by hand, on stdin.
	rt := p.IssueRefreshToken("apic", "accounts library")
	var out, errb bytes.Buffer
	if code := runImport([]string{"apicbase", "--config", cfgPath}, strings.NewReader(rt+"\n"), &out, &errb); code != 0 {
		t.Fatalf("import refresh token: %d %s", code, errb.String())
	}
	rec, _ := loadRecord(t, stateDir)
	if rec.RefreshToken.Reveal() != rt || rec.Status != state.StatusPending || rec.Generation != 1 {
		t.Fatalf("record after import %+v", rec)
	}
	// A token JSON from a file, replacing it.
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"apic"}, "client_secret": {"apic-secret-value"}}
	resp, err := http.PostForm(su.base+"/oauth/token/", form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	file := filepath.Join(t.TempDir(), "token.json")
	if err := os.WriteFile(file, body, 0o600); err != nil {
		t.Fatal(err)
	}
	errb.Reset()
	if code := runImport([]string{"apicbase", "--config", cfgPath, "--from-file", file}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("import JSON: %d %s", code, errb.String())
	}
	rec, _ = loadRecord(t, stateDir)
	if rec.Generation != 2 || rec.Status != state.StatusOK || rec.AccessToken.IsZero() || time.Until(rec.ExpiresAt) < 6*24*time.Hour {
		t.Fatalf("record after JSON import %+v", rec)
	}
	// Never from argv.
	if code := runImport([]string{"apicbase", "--config", cfgPath, "rt-on-the-command-line"}, strings.NewReader(""), &out, &errb); code != 2 {
		t.Errorf("token on the command line: exit %d", code)
	}

	// introspect: the stored access token is active.
	code, stdout, stderr := run("introspect", "apicbase", "--config", cfgPath)
	if code != 0 || !strings.Contains(stdout, "access_token is active") || !strings.Contains(stdout, "scope:      accounts library") {
		t.Fatalf("introspect: %d %q %q", code, stdout, stderr)
	}
	// The refresh token is spent elsewhere: inactive → exit 3, marked needs_reauth.
	form.Set("refresh_token", rec.RefreshToken.Reveal())
	if resp, err := http.PostForm(su.base+"/oauth/token/", form); err != nil || resp.StatusCode != 200 {
		t.Fatalf("out-of-band refresh: %v", err)
	}
	code, stdout, _ = run("introspect", "apicbase", "--config", cfgPath, "--refresh-token")
	if code != exitInactive || !strings.Contains(stdout, "needs re-authorization") {
		t.Fatalf("inactive refresh token: %d %q", code, stdout)
	}
	if rec, _ := loadRecord(t, stateDir); rec.Status != state.StatusNeedsReauth || rec.LastError == nil || rec.LastError.Code != "inactive_refresh_token" {
		t.Errorf("not marked needs_reauth: %+v", rec)
	}
}
