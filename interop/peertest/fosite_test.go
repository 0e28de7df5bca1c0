package peertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/storage"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/daemon"
	"github.com/tokend/tokend/internal/logging"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/syncbuf"
)

// fositeServer is fosite's token endpoint (password and refresh_token
// grants, HMAC tokens) over real HTTP on 127.0.0.1.
type fositeServer struct {
	srv      *httptest.Server
	requests atomic.Int64
	refused  atomic.Int64
}

func newFosite(t *testing.T, accessTTL time.Duration) *fositeServer {
	t.Helper()
	cfg := &fosite.Config{
		AccessTokenLifespan:  accessTTL,
		RefreshTokenLifespan: -1, // refresh tokens never expire on their own (like Apicbase)
		GlobalSecret:         []byte("some-super-secret-32-byte-value!"),
		HashCost:             4,
	}
	store := storage.NewExampleStore() // client "my-client"/"foobar", user "peter"/"secret"
	provider := compose.Compose(cfg, store, &compose.CommonStrategy{CoreStrategy: compose.NewOAuth2HMACStrategy(cfg)},
		compose.OAuth2ResourceOwnerPasswordCredentialsFactory, compose.OAuth2RefreshTokenGrantFactory)
	f := &fositeServer{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		ctx := r.Context()
		ar, err := provider.NewAccessRequest(ctx, r, &fosite.DefaultSession{Subject: "peter"})
		if err != nil {
			f.refused.Add(1)
			provider.WriteAccessError(ctx, w, ar, err)
			return
		}
		for _, s := range ar.GetRequestedScopes() {
			ar.GrantScope(s)
		}
		resp, err := provider.NewAccessResponse(ctx, ar)
		if err != nil {
			f.refused.Add(1)
			provider.WriteAccessError(ctx, w, ar, err)
			return
		}
		provider.WriteAccessResponse(ctx, w, ar, resp)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// post sends a token request as a plain client would.
func (f *fositeServer) post(t *testing.T, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("my-client", "foobar")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

type counter struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	lastErr    error
}

func (c *counter) RefreshFinished(_ string, _ time.Duration, err error) {
	if err != nil {
		c.failed.Add(1)
		c.mu.Lock()
		c.lastErr = err
		c.mu.Unlock()
		return
	}
	c.ok.Add(1)
}
func (c *counter) SinkWritten(string, string, error)        {}
func (c *counter) StatusChanged(scheduler.CredentialStatus) {}

// TestFositeRotationsAndRestart: tokend keeps a fosite-issued refresh token
// alive through many rotations and a restart without fosite ever detecting a
// reuse (which would revoke the family and fail every later refresh). Then a
// deliberate replay of an old token shows fosite's detection is live: the
// family is revoked and tokend reports needs_reauth by name.
func TestFositeRotationsAndRestart(t *testing.T) {
	f := newFosite(t, 2*time.Second)
	code, body := f.post(t, url.Values{"grant_type": {"password"}, "username": {"peter"}, "password": {"secret"}, "scope": {"offline photos"}})
	first, _ := body["refresh_token"].(string)
	if code != http.StatusOK || first == "" {
		t.Fatalf("bootstrap with the password grant: HTTP %d", code)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fosite.rt"), []byte(first+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	toml := fmt.Sprintf(`
[state]
dir = %q
[[credential]]
name = "fosite"
token_url = %q
client_id = "my-client"
client_secret = "foobar"
refresh_token_file = %q
  [[credential.sink]]
  type = "file"
  path = %q
`, filepath.Join(dir, "state"), f.srv.URL, filepath.Join(dir, "fosite.rt"), filepath.Join(dir, "fosite.token"))
	cfgPath := filepath.Join(dir, "tokend.toml")
	if err := os.WriteFile(cfgPath, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	run := func(until func(*counter) bool, what string) *counter {
		t.Helper()
		cfg, err := config.Load(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.ResolveSecrets(); err != nil {
			t.Fatal(err)
		}
		log, _ := logging.New(logs, "debug")
		cnt := &counter{}
		d, err := daemon.New(cfg, log, scheduler.Options{Observer: cnt, MinInterval: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		deadline := time.Now().Add(60 * time.Second)
		for !until(cnt) {
			if time.Now().After(deadline) {
				cancel()
				<-done
				t.Fatalf("timed out waiting for %s (ok %d, failed %d, last error %v)", what, cnt.ok.Load(), cnt.failed.Load(), cnt.lastErr)
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return cnt
	}
	const rotations = 24
	a := run(func(c *counter) bool { return c.ok.Load() >= rotations/2 }, "rotations before restart")
	b := run(func(c *counter) bool { return c.ok.Load() >= rotations/2 }, "rotations after restart")
	if a.failed.Load()+b.failed.Load() != 0 || f.refused.Load() != 0 {
		t.Fatalf("fosite refused %d requests; tokend saw %d failed refreshes: a refresh token was reused or lost", f.refused.Load(), a.failed.Load()+b.failed.Load())
	}
	total := a.ok.Load() + b.ok.Load()

	// Replay the very first refresh token, long since rotated: fosite treats
	// it as reuse and revokes the family, so tokend's live token dies too.
	if code, body := f.post(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first}}); code == http.StatusOK {
		t.Fatalf("fosite accepted a rotated refresh token: %v", body["error"])
	}
	c := run(func(c *counter) bool { return c.failed.Load() >= 1 }, "tokend to see the revoked family")
	if c.ok.Load() != 0 {
		t.Fatalf("a refresh succeeded after the family was revoked")
	}
	st, err := state.Open(filepath.Join(dir, "state"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := st.Load(context.Background(), "fosite")
	_ = st.Close()
	if err != nil || rec.Status != state.StatusNeedsReauth || rec.LastError == nil || rec.LastError.Code != "invalid_grant" {
		t.Fatalf("after revocation: status %s, last error %+v (%v)", rec.Status, rec.LastError, err)
	}
	if !strings.Contains(logs.String(), `"credential":"fosite"`) || !strings.Contains(logs.String(), "needs re-authorization") {
		t.Fatal("the revocation was not logged by credential name")
	}
	if strings.Contains(logs.String(), first) || strings.Contains(logs.String(), "foobar") {
		t.Fatal("a token or the client secret appears in the logs")
	}
	t.Logf("fosite peer: %d rotations across a restart, 0 refused; replaying a rotated token revoked the family and tokend reported needs_reauth", total)
}
