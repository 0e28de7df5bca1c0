package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// writeLoadConfig writes a config whose credentials are the given TOML
// bodies (a client_credentials credential each, with a file sink) and
// returns its path; mode lets a test make the file group-readable.
func writeLoadConfig(t *testing.T, mode os.FileMode, creds ...string) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "[state]\ndir = %q\n", filepath.Join(dir, "state"))
	for i, body := range creds {
		fmt.Fprintf(&b, "\n[[credential]]\ngrant = \"client_credentials\"\nclient_id = \"c%d\"\n%s\n  [[credential.sink]]\n  type = \"file\"\n  path = %q\n",
			i, body, filepath.Join(dir, fmt.Sprintf("token-%d", i)))
	}
	path := filepath.Join(dir, "tokend.toml")
	if err := os.WriteFile(path, []byte(b.String()), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

func loadStage(err error) LoadStage {
	var le *LoadError
	if errors.As(err, &le) {
		return le.Stage
	}
	return 0
}

// TestLoadConfigReportsEveryProblemOfAStep: each step returns all of its
// problems at once, as a *LoadError naming the step; the config's warnings
// reach Warn before a later step fails; SecretsUnreadable receives
// unreadable secrets instead of failing.
func TestLoadConfigReportsEveryProblemOfAStep(t *testing.T) {
	ctx := context.Background()
	invalid := writeLoadConfig(t, 0o600, "name = \"a\"\ntoken_url = \"ftp://x\"\nclient_secret = \"s\"", "name = \"b\"\nclient_secret = \"s\"\nbogus_key = 1")
	var warned []string
	warn := func(w string) { warned = append(warned, w) }
	_, err := LoadConfig(ctx, invalid, LoadOptions{Warn: warn})
	if loadStage(err) != StageLoad || !strings.Contains(err.Error(), "ftp") || !strings.Contains(err.Error(), "bogus_key") || len(warned) != 0 {
		t.Fatalf("invalid config: stage %d, %v, warned %q", loadStage(err), err, warned)
	}

	dir := t.TempDir()
	secrets := writeLoadConfig(t, 0o644, // group-readable with an inline secret: a warning
		"name = \"inline\"\ntoken_url = \"https://idp.example/token\"\nclient_secret = \"inline-secret-value\"",
		fmt.Sprintf("name = \"f1\"\ntoken_url = \"https://idp.example/token\"\nclient_secret_file = %q", filepath.Join(dir, "missing-1")),
		fmt.Sprintf("name = \"f2\"\ntoken_url = \"https://idp.example/token\"\nclient_secret_file = %q", filepath.Join(dir, "missing-2")))
	_, err = LoadConfig(ctx, secrets, LoadOptions{Warn: warn})
	if loadStage(err) != StageSecrets || !strings.Contains(err.Error(), `credential "f1"`) || !strings.Contains(err.Error(), `credential "f2"`) {
		t.Fatalf("unreadable secrets: stage %d, %v", loadStage(err), err)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], `credential "inline": client_secret: is inline`) || strings.Contains(warned[0], "inline-secret-value") {
		t.Fatalf("warnings before the secrets failed: %q", warned)
	}

	warned = nil
	var unreadable error
	cfg, err := LoadConfig(ctx, secrets, LoadOptions{Warn: warn, SecretsUnreadable: func(err error) { unreadable = err }})
	if err != nil || len(cfg.Credentials) != 3 || cfg.Credentials[0].Secret.Reveal() != "inline-secret-value" {
		t.Fatalf("unreadable secrets handed over: %v", err)
	}
	if len(warned) != 1 || unreadable == nil || !strings.Contains(unreadable.Error(), `credential "f1"`) || !strings.Contains(unreadable.Error(), `credential "f2"`) {
		t.Fatalf("unreadable secrets handed over: warned %q, unreadable %v", warned, unreadable)
	}
	if _, err := LoadConfig(ctx, secrets, LoadOptions{Credential: "nope"}); loadStage(err) != StageCredential ||
		err.Error() != fmt.Sprintf("no credential %q in %s", "nope", secrets) {
		t.Fatalf("unknown credential: stage %d, %v", loadStage(err), err)
	}
	if _, err := LoadConfig(ctx, filepath.Join(dir, "absent.toml"), LoadOptions{}); loadStage(err) != StageLoad || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: stage %d, %v", loadStage(err), err)
	}
}

// TestLoadConfigDiscovery: issuers are discovered for every credential, only
// for LoadOptions.Credential, or (Offline) not at all; a failing issuer is a StageDiscovery
// error naming its credential.
func TestLoadConfigDiscovery(t *testing.T) {
	var good, bad atomic.Int32
	var goodURL string
	goodSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		good.Add(1)
		if r.URL.Path != "/.well-known/oauth-authorization-server" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": goodURL, "token_endpoint": goodURL + "/token"})
	}))
	defer goodSrv.Close()
	goodURL = goodSrv.URL
	badSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bad.Add(1)
		http.NotFound(w, r)
	}))
	defer badSrv.Close()
	path := writeLoadConfig(t, 0o600,
		fmt.Sprintf("name = \"a\"\nissuer = %q\nclient_secret = \"s\"", goodURL),
		fmt.Sprintf("name = \"b\"\nissuer = %q\nclient_secret = \"s\"", badSrv.URL))
	ctx := context.Background()

	cfg, err := LoadConfig(ctx, path, LoadOptions{Offline: true})
	if err != nil || cfg.Credentials[0].TokenURL != "" || good.Load()+bad.Load() != 0 {
		t.Fatalf("offline: %v, issuers asked %d times", err, good.Load()+bad.Load())
	}
	cfg, err = LoadConfig(ctx, path, LoadOptions{Credential: "a"})
	if err != nil || cfg.Credentials[0].TokenURL != goodURL+"/token" || cfg.Credentials[1].TokenURL != "" || bad.Load() != 0 {
		t.Fatalf("credential a only: %v, bad issuer asked %d times", err, bad.Load())
	}
	_, err = LoadConfig(ctx, path, LoadOptions{})
	if loadStage(err) != StageDiscovery || !strings.Contains(err.Error(), `credential "b": discovery`) || bad.Load() == 0 {
		t.Fatalf("every credential: stage %d, %v", loadStage(err), err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := LoadConfig(cancelled, path, LoadOptions{Credential: "a"}); loadStage(err) != StageDiscovery {
		t.Fatalf("cancelled context: stage %d, %v", loadStage(err), err)
	}
}
