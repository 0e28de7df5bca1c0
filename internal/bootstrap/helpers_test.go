package bootstrap

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/fakeprovider"
	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/testkit"
)

// newClock returns an injectable clock for the fake providers, at now.
func newClock() *testkit.Clock { return testkit.NewClock(time.Now()) }

// fake is a preset-shaped fake provider on 127.0.0.1.
type fake struct {
	*fakeprovider.Provider
	URL string
	clk *testkit.Clock
}

func startFake(t *testing.T, opts fakeprovider.Options) *fake {
	t.Helper()
	clk := newClock()
	opts.Now = clk.Now
	p, err := fakeprovider.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(func() { _ = p.Close(); srv.Close() })
	return &fake{Provider: p, URL: srv.URL, clk: clk}
}

// loadConfig writes a config with one credential (body) and a file sink
// into a fresh directory and loads it with secrets resolved.
func loadConfig(t *testing.T, body string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	text := fmt.Sprintf("[state]\ndir = %q\n\n[[credential]]\n%s\n  [[credential.sink]]\n  type = \"file\"\n  path = %q\n  format = \"json\"\n",
		filepath.Join(dir, "state"), body, filepath.Join(dir, "token.json"))
	path := filepath.Join(dir, "tokend.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.ResolveSecrets(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func client(t *testing.T, cr *config.Credential) *grants.Client {
	t.Helper()
	c, err := grants.New(cr.GrantsConfig())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// stored reads the credential's record straight from the state store.
func stored(t *testing.T, cfg *config.Config, name string) (state.Record, error) {
	t.Helper()
	st, err := state.Open(cfg.State.Dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	return st.Load(context.Background(), name)
}

// lines is an io.Writer that hands out what is written, line by line.
type lines struct {
	pw *io.PipeWriter
	ch chan string
}

func newLines(t *testing.T) *lines {
	pr, pw := io.Pipe()
	l := &lines{pw: pw, ch: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			l.ch <- sc.Text()
		}
		close(l.ch)
	}()
	t.Cleanup(func() { _ = pw.Close() })
	return l
}

func (l *lines) Write(p []byte) (int, error) { return l.pw.Write(p) }

// next waits for the next line.
func (l *lines) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-l.ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no output line within 10s")
		return ""
	}
}

// noFollow shows redirects instead of following them, like a test browser
// that wants to step.
var noFollow = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// consent plays the user: it opens the authorization URL at the fake
// provider and returns where the provider redirects the browser.
func consent(t *testing.T, authURL string) *url.URL {
	t.Helper()
	resp, err := noFollow.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorization endpoint answered %d, want a redirect", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// follow GETs the redirect target (tokend's listener) and returns the page.
func follow(t *testing.T, loc *url.URL) (int, string) {
	t.Helper()
	resp, err := noFollow.Get(loc.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// withQuery returns u with key set to value.
func withQuery(u *url.URL, key, value string) *url.URL {
	c := *u
	q := c.Query()
	q.Set(key, value)
	c.RawQuery = q.Encode()
	return &c
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func secretOf(s string) secret.Secret { return secret.New(s) }
