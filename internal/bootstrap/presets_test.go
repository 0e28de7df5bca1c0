package bootstrap

// End-to-end per preset: a fake that enforces the provider's documented wire
// format, bootstrap with the real commands' code, then at least 50 refreshes
// (or re-authentications) through the real daemon (bbolt store, file sink,
// scheduler) and the documented error cases.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/daemon"
	"github.com/tokend/tokend/internal/fakeprovider"
	"github.com/tokend/tokend/internal/logging"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/state"
)

const rounds = 50

// running is a daemon started on cfg.
type running struct {
	d    *daemon.Daemon
	stop func()
}

func runDaemon(t *testing.T, cfg *config.Config) *running {
	t.Helper()
	log, _ := logging.New(os.Stderr, "error")
	d, err := daemon.New(cfg, log, scheduler.Options{MinInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	r := &running{d: d}
	r.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon Run: %v", err)
		}
		r.stop = func() {}
	}
	t.Cleanup(func() { r.stop() })
	return r
}

// await polls the credential's status until ok reports true.
func (r *running) await(t *testing.T, name, what string, ok func(scheduler.CredentialStatus) bool) scheduler.CredentialStatus {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, st := range r.d.Snapshot() {
			if st.Name == name && ok(st) {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: timed out waiting for %s; status %+v", name, what, r.d.Snapshot())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// refreshRounds forces n refreshes one after the other and returns the
// final status.
func (r *running) refreshRounds(t *testing.T, name string, n int) scheduler.CredentialStatus {
	t.Helper()
	st := r.await(t, name, "ok", func(s scheduler.CredentialStatus) bool { return s.Status == state.StatusOK && allSinksOK(s) })
	for i := 0; i < n; i++ {
		want := st.Generation + 1
		if err := r.d.RefreshNow(name); err != nil {
			t.Fatal(err)
		}
		st = r.await(t, name, "the next generation", func(s scheduler.CredentialStatus) bool {
			return s.Generation >= want && s.Status == state.StatusOK && allSinksOK(s)
		})
	}
	return st
}

func allSinksOK(s scheduler.CredentialStatus) bool {
	for _, sk := range s.Sinks {
		if !sk.OK || sk.Generation != s.Generation {
			return false
		}
	}
	return true
}

// sinkToken reads the JSON file sink of the test config.
func sinkToken(t *testing.T, cfg *config.Config) (tok string, exp time.Time) {
	t.Helper()
	path, _ := cfg.Credentials[0].Sinks[0].Target()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		AccessToken string    `json:"access_token"`
		ExpiresAt   time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v.AccessToken, v.ExpiresAt
}

// checkChain asserts that the refresh tokens presented form one chain: each
// one presented once, each the one issued just before.
func checkChain(t *testing.T, f *fake) {
	t.Helper()
	presented, issued := f.Presented(), f.IssuedRefreshTokens()
	if len(presented) < rounds || len(issued) != len(presented)+1 {
		t.Fatalf("presented %d, issued %d", len(presented), len(issued))
	}
	for i, p := range presented {
		if p != issued[i] {
			t.Fatalf("refresh %d presented %s…, want the token issued before it", i, p[:8])
		}
	}
}

func TestPresetBasicTechEndToEnd(t *testing.T) {
	opts := fakeprovider.BasicTechOptions()
	opts.OmitExpiresIn = true // the daemon must schedule from the JWT's exp
	f := startFake(t, opts)
	f.AddClient("pub", "")
	cfg := basicConfig(t, f)
	cfg.Status = &config.Status{Listen: "127.0.0.1:0"} // the admin API, for re-authorizing while it runs
	fl := startAuthorize(t, cfg, AuthorizeOptions{})
	follow(t, consent(t, fl.out.next(t)))
	fl.wait(t)
	if fl.err != nil {
		t.Fatal(fl.err)
	}
	r := runDaemon(t, cfg)
	st := r.refreshRounds(t, "basic-app", rounds)
	if st.Generation != rounds+1 {
		t.Errorf("generation %d, want %d", st.Generation, rounds+1)
	}
	if life := time.Until(st.ExpiresAt); life < 55*time.Minute || life > time.Hour {
		t.Errorf("expires in %v; want about an hour from the JWT", life)
	}
	if next := time.Until(st.NextRefresh); next < 30*time.Minute || next > 45*time.Minute {
		t.Errorf("next refresh in %v; want when about a third of the hour is left", next)
	}
	at, _ := sinkToken(t, cfg)
	if !f.ActiveAccessToken(at) {
		t.Error("the sink holds a token the provider does not know")
	}
	if s := f.Stats(); s.Refreshes != rounds || s.Reuses != 0 || s.CodeExchanges != 1 || s.Rejected != 0 {
		t.Errorf("provider stats %+v", s) // Rejected would count a form body or a missing PKCE verifier
	}
	checkChain(t, f)

	// Documented error: a refresh token the provider no longer accepts is
	// permanent; re-authorizing while the daemon runs goes through its
	// admin API and brings the credential back.
	f.FailNext(fakeprovider.Failure{Code: "invalid_grant", Description: "refresh token revoked"})
	_ = r.d.RefreshNow("basic-app")
	st = r.await(t, "basic-app", "needs_reauth", func(s scheduler.CredentialStatus) bool { return s.Status == state.StatusNeedsReauth })
	if st.LastError == nil || st.LastError.Code != "invalid_grant" || st.LastError.Class != "permanent" {
		t.Errorf("last error %+v", st.LastError)
	}
	cli := *cfg // the CLI's view: the port the daemon really listens on
	cli.Status = &config.Status{Listen: r.d.StatusAddr()}
	if cli.Status.Listen == "" {
		t.Fatal("the daemon has no status server")
	}
	fl = startAuthorize(t, &cli, AuthorizeOptions{})
	follow(t, consent(t, fl.out.next(t)))
	fl.wait(t)
	if fl.err != nil {
		t.Fatalf("authorize through the running daemon: %v", fl.err)
	}
	st = r.await(t, "basic-app", "ok again", func(s scheduler.CredentialStatus) bool { return s.Status == state.StatusOK && allSinksOK(s) })
	if at, _ := sinkToken(t, cfg); !f.ActiveAccessToken(at) || st.Generation != rounds+2 {
		t.Errorf("after re-authorization: generation %d", st.Generation)
	}
}

func TestPresetBasiqEndToEnd(t *testing.T) {
	const key = "NGE4YjEyMzQtNWM2ZC00ZTdmOmExYjJjM2Q0ZTVmNg=="
	b := fakeprovider.NewBasiq(0, nil)
	b.AddKey(key)
	srv := httptest.NewServer(b.Handler())
	t.Cleanup(srv.Close)
	keyFile := filepath.Join(t.TempDir(), "basiq.key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig(t, `name = "basiq-server"
provider = "basiq"
api_url = "`+srv.URL+`"
api_key_file = "`+keyFile+`"
scopes = ["SERVER_ACCESS"]`)
	r := runDaemon(t, cfg)
	// No refresh token: the daemon authenticates at once, then again on demand.
	st := r.refreshRounds(t, "basiq-server", rounds)
	if st.Generation != rounds+1 || b.Issued() != rounds+1 {
		t.Fatalf("generation %d, issued %d", st.Generation, b.Issued())
	}
	for i, req := range b.Requests() {
		if req.Authorization != "Basic "+key || req.Version != "2.0" || req.Body != "scope=SERVER_ACCESS" ||
			req.ContentType != "application/x-www-form-urlencoded" {
			t.Fatalf("request %d: %+v", i, req)
		}
	}
	at, exp := sinkToken(t, cfg)
	if !b.ValidToken(at) || time.Until(exp) < 59*time.Minute {
		t.Errorf("sink token valid %v, expires in %v", b.ValidToken(at), time.Until(exp))
	}

	// Documented errors through the preset: 500 is transient, 403
	// access-denied (account disabled) and 404 (account deleted) permanent.
	b.FailNext(http.StatusInternalServerError)
	gen := st.Generation
	_ = r.d.RefreshNow("basiq-server")
	st = r.await(t, "basiq-server", "backoff", func(s scheduler.CredentialStatus) bool { return s.Status == state.StatusBackoff })
	if st.LastError == nil || st.LastError.Class != "transient" || st.LastError.Code != "internal_server_error" {
		t.Errorf("500: %+v", st.LastError)
	}
	_ = r.d.RefreshNow("basiq-server")
	r.await(t, "basiq-server", "recovery", func(s scheduler.CredentialStatus) bool { return s.Status == state.StatusOK && s.Generation == gen+1 })
	for _, tc := range []struct {
		account fakeprovider.BasiqAccount
		code    string
	}{{fakeprovider.BasiqDisabled, "access_denied"}, {fakeprovider.BasiqDeleted, "parameter_not_valid"}} {
		b.SetAccount(key, tc.account)
		_ = r.d.RefreshNow("basiq-server")
		st = r.await(t, "basiq-server", "needs_reauth", func(s scheduler.CredentialStatus) bool { return s.Status == state.StatusNeedsReauth })
		if st.LastError == nil || st.LastError.Class != "permanent" || st.LastError.Code != tc.code {
			t.Errorf("account %v: %+v", tc.account, st.LastError)
		}
		if strings.Contains(st.LastError.Description, key) {
			t.Error("the API key appears in the stored error")
		}
		b.SetAccount(key, fakeprovider.BasiqActive) // the operator fixes the account
		_ = r.d.RefreshNow("basiq-server")
		r.await(t, "basiq-server", "ok", func(s scheduler.CredentialStatus) bool { return s.Status == state.StatusOK })
	}
}

func TestPresetApicbaseEndToEnd(t *testing.T) {
	f := startFake(t, fakeprovider.ApicbaseOptions())
	f.AddClient("apic", "apic-secret")
	cfg := apicbaseConfig(t, f, `redirect_uri = "http://127.0.0.1:0/cb"`)
	fl := startAuthorize(t, cfg, AuthorizeOptions{})
	loc := consent(t, fl.out.next(t))
	f.clk.Add(50 * time.Second) // still inside the one-minute window
	if status, _ := follow(t, loc); status != http.StatusOK {
		t.Fatalf("callback page %d", status)
	}
	fl.wait(t)
	if fl.err != nil {
		t.Fatal(fl.err)
	}
	r := runDaemon(t, cfg)
	st := r.refreshRounds(t, "apicbase", rounds)
	if st.Generation != rounds+1 || time.Until(st.ExpiresAt) < 6*24*time.Hour {
		t.Errorf("generation %d, expires %v", st.Generation, st.ExpiresAt)
	}
	if s := f.Stats(); s.Refreshes != rounds || s.Reuses != 0 || s.Rejected != 0 {
		t.Errorf("provider stats %+v", s)
	}
	checkChain(t, f)

	// Documented error: someone else (a developer with a copy) refreshes
	// with the same single-use token; the daemon's copy is then spent and the
	// provider answers invalid_grant.
	live := f.CurrentRefreshToken("apic")
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {live[0]}, "client_id": {"apic"}, "client_secret": {"apic-secret"}}
	resp, err := http.PostForm(f.URL+"/oauth/token/", form)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("out-of-band refresh: %v %v", err, resp.Status)
	}
	_ = resp.Body.Close()
	_ = r.d.RefreshNow("apicbase")
	st = r.await(t, "apicbase", "needs_reauth", func(s scheduler.CredentialStatus) bool { return s.Status == state.StatusNeedsReauth })
	if st.LastError == nil || st.LastError.Code != "invalid_grant" {
		t.Errorf("last error %+v", st.LastError)
	}
}

func TestApicbaseExpiryFromIntrospection(t *testing.T) {
	opts := fakeprovider.ApicbaseOptions()
	opts.OmitExpiresIn = true
	f := startFake(t, opts)
	f.AddClient("apic", "apic-secret")
	cfg := apicbaseConfig(t, f, `default_lifetime = "1h"`)
	im, err := ParseImport([]byte(f.IssueRefreshToken("apic", "accounts library")), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Store(context.Background(), cfg, "apicbase", im.Token, StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	r := runDaemon(t, cfg)
	st := r.await(t, "apicbase", "first refresh", func(s scheduler.CredentialStatus) bool { return s.Status == state.StatusOK && s.Generation == 2 })
	if life := time.Until(st.ExpiresAt); life < 6*24*time.Hour {
		t.Errorf("expires in %v: introspection's exp (7 days) was not used over default_lifetime (1h)", life)
	}
	if f.Stats().Introspections != 1 {
		t.Errorf("introspections = %d", f.Stats().Introspections)
	}
}
