package bootstrap

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/fakeprovider"
	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/state"
)

func TestNewRequest(t *testing.T) {
	cr := &config.Credential{Name: "x", ClientID: "my app", AuthorizeURL: "https://idp.example/auth?tenant=7",
		Scopes: []string{"profile", "db:read"}}
	r, err := NewRequest(cr, "http://127.0.0.1:8976/cb", true)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(r.URL)
	q := u.Query()
	if u.Host != "idp.example" || u.Path != "/auth" || q.Get("tenant") != "7" || q.Get("response_type") != "code" ||
		q.Get("client_id") != "my app" || q.Get("redirect_uri") != "http://127.0.0.1:8976/cb" || q.Get("scope") != "profile db:read" ||
		q.Get("state") != r.State || len(r.State) < 20 || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") != oauth2.S256ChallengeFromVerifier(r.Verifier) || len(r.Verifier) < 43 {
		t.Fatalf("URL %s (request %+v)", r.URL, r)
	}
	r2, _ := NewRequest(cr, "", false)
	q2, _ := url.ParseQuery(strings.SplitN(r2.URL, "?", 2)[1])
	if q2.Has("code_challenge") || q2.Has("redirect_uri") || r2.Verifier != "" || r2.State == r.State {
		t.Errorf("second request: %s", r2.URL)
	}
	if _, err := NewRequest(&config.Credential{Name: "x"}, "", false); err == nil {
		t.Error("no authorize_url accepted")
	}
}

// flow runs Authorize in the background, storing with Store.
type flow struct {
	out  *lines
	done chan struct{}
	tok  grants.Token
	err  error
}

func startAuthorize(t *testing.T, cfg *config.Config, opts AuthorizeOptions) *flow {
	t.Helper()
	cr := &cfg.Credentials[0]
	f := &flow{out: newLines(t), done: make(chan struct{})}
	opts.Out = f.out
	if opts.ListenTimeout == 0 {
		opts.ListenTimeout = 20 * time.Second
	}
	opts.Store = func(ctx context.Context, tok grants.Token) error {
		_, err := Store(ctx, cfg, cr.Name, FromToken(tok), StoreOptions{})
		return err
	}
	go func() {
		defer close(f.done)
		f.tok, f.err = Authorize(context.Background(), cr, client(t, cr), opts)
	}()
	return f
}

func (f *flow) wait(t *testing.T) {
	t.Helper()
	select {
	case <-f.done:
	case <-time.After(20 * time.Second):
		t.Fatal("Authorize did not return")
	}
}

func basicConfig(t *testing.T, f *fake) *config.Config {
	return loadConfig(t, `name = "basic-app"
provider = "basic"
client_id = "pub"
token_url = "`+f.URL+`/auth/token"
authorize_url = "`+f.URL+`/auth/authorize"
redirect_uri = "http://127.0.0.1:0/callback"
scopes = ["profile", "todos"]`)
}

func TestAuthorizeLoopbackBasicTech(t *testing.T) {
	opts := fakeprovider.BasicTechOptions()
	opts.OmitExpiresIn = true // the expiry must come from the JWT's exp
	f := startFake(t, opts)
	f.AddClient("pub", "")
	cfg := basicConfig(t, f)
	fl := startAuthorize(t, cfg, AuthorizeOptions{})
	authURL := fl.out.next(t)
	if !strings.HasPrefix(authURL, f.URL+"/auth/authorize?") || !strings.Contains(authURL, "code_challenge_method=S256") {
		t.Fatalf("first line %q is not the authorization URL", authURL)
	}
	loc := consent(t, authURL)
	if loc.Host == "127.0.0.1:0" || loc.Path != "/callback" {
		t.Fatalf("redirect to %s; want the listener's real port", loc)
	}
	status, page := follow(t, loc)
	fl.wait(t)
	if fl.err != nil || status != 200 || !strings.Contains(page, "Authorized") {
		t.Fatalf("err %v, page %d %q", fl.err, status, page)
	}
	if fl.tok.ExpirySource != "jwt" || fl.tok.ExpiresAt.Sub(fl.tok.IssuedAt).Round(time.Minute) != time.Hour {
		t.Errorf("expiry %v from %q", fl.tok.ExpiresAt, fl.tok.ExpirySource)
	}
	rec, err := stored(t, cfg, "basic-app")
	if err != nil {
		t.Fatal(err)
	}
	live := f.CurrentRefreshToken("pub")
	if rec.Generation != 1 || rec.Status != state.StatusOK || rec.Intent != nil || len(live) != 1 || rec.RefreshToken.Reveal() != live[0] ||
		rec.Scope != "profile todos" || !f.ActiveAccessToken(rec.AccessToken.Reveal()) {
		t.Errorf("stored %+v (live %d)", rec, len(live))
	}
	if page, tokens := page, []string{rec.AccessToken.Reveal(), rec.RefreshToken.Reveal()}; contains(page, tokens[0]) || contains(page, tokens[1]) {
		t.Error("the browser page shows a token")
	}
}

func TestAuthorizeWrongStateStoresNothing(t *testing.T) {
	f := startFake(t, fakeprovider.BasicTechOptions())
	f.AddClient("pub", "")
	cfg := basicConfig(t, f)
	fl := startAuthorize(t, cfg, AuthorizeOptions{})
	loc := consent(t, fl.out.next(t))
	status, page := follow(t, withQuery(loc, "state", "forged-state"))
	fl.wait(t)
	if !errors.Is(fl.err, ErrStateMismatch) || status != http.StatusBadRequest || !strings.Contains(page, "state parameter does not match") {
		t.Fatalf("err %v, page %d %q", fl.err, status, page)
	}
	if _, err := stored(t, cfg, "basic-app"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("something was stored: %v", err)
	}
	if st := f.Stats(); st.CodeExchanges != 0 || st.TokenRequests != 0 {
		t.Errorf("the code was exchanged despite the state mismatch: %+v", st)
	}
}

func apicbaseConfig(t *testing.T, f *fake, extra string) *config.Config {
	return loadConfig(t, `name = "apicbase"
provider = "apicbase"
client_id = "apic"
client_secret = "apic-secret"
token_url = "`+f.URL+`/oauth/token/"
authorize_url = "`+f.URL+`/oauth/authorize/"
introspection_url = "`+f.URL+`/oauth/introspect/"
scopes = ["accounts", "library"]
`+extra)
}

func TestAuthorizeExpiredCode(t *testing.T) {
	f := startFake(t, fakeprovider.ApicbaseOptions())
	f.AddClient("apic", "apic-secret")
	cfg := apicbaseConfig(t, f, `redirect_uri = "http://localhost:0/cb"`)
	fl := startAuthorize(t, cfg, AuthorizeOptions{})
	loc := consent(t, fl.out.next(t))
	f.clk.Add(61 * time.Second) // Apicbase: "The authorization code is only valid for one minute."
	status, page := follow(t, loc)
	fl.wait(t)
	var ge *grants.Error
	if !errors.As(fl.err, &ge) || ge.Code != "invalid_grant" || status != http.StatusBadGateway || !strings.Contains(page, "invalid_grant") {
		t.Fatalf("err %v, page %d %q", fl.err, status, page)
	}
	if _, err := stored(t, cfg, "apicbase"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("something was stored: %v", err)
	}
}

func TestAuthorizeProviderRefusal(t *testing.T) {
	f := startFake(t, fakeprovider.ApicbaseOptions())
	f.AddClient("apic", "apic-secret")
	cfg := apicbaseConfig(t, f, `redirect_uri = "http://127.0.0.1:0/cb"`)
	fl := startAuthorize(t, cfg, AuthorizeOptions{})
	loc := consent(t, fl.out.next(t))
	q := url.Values{"error": {"access_denied"}, "error_description": {"the user said no\n"}, "state": {loc.Query().Get("state")}}
	refused := *loc
	refused.RawQuery = q.Encode()
	status, page := follow(t, &refused)
	fl.wait(t)
	if fl.err == nil || !strings.Contains(fl.err.Error(), "refused the authorization: access_denied: the user said no?") ||
		status != http.StatusBadRequest || !strings.Contains(page, "access_denied") {
		t.Fatalf("err %v, page %d %q", fl.err, status, page)
	}
}

func TestAuthorizePastedCode(t *testing.T) {
	f := startFake(t, fakeprovider.ApicbaseOptions())
	f.AddClient("apic", "apic-secret")
	cfg := apicbaseConfig(t, f, "") // no redirect_uri: Apicbase shows the code on its own page
	in, inW := io.Pipe()
	defer inW.Close()
	fl := startAuthorize(t, cfg, AuthorizeOptions{Code: "-", In: in})
	authURL := fl.out.next(t)
	if strings.Contains(authURL, "code_challenge") || strings.Contains(authURL, "redirect_uri") {
		t.Fatalf("apicbase URL %s: no PKCE and no redirect_uri expected", authURL)
	}
	resp, err := noFollow.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	code := regexp.MustCompile(`<code id="code">([^<]+)</code>`).FindStringSubmatch(string(body))
	if code == nil {
		t.Fatalf("no code on the page: %s", body)
	}
	_, _ = io.WriteString(inW, code[1]+"\n")
	fl.wait(t)
	if fl.err != nil {
		t.Fatal(fl.err)
	}
	rec, err := stored(t, cfg, "apicbase")
	if err != nil || rec.Generation != 1 || rec.RefreshToken.Reveal() != f.CurrentRefreshToken("apic")[0] ||
		rec.ExpiresAt.Sub(rec.IssuedAt) != 7*24*time.Hour {
		t.Fatalf("stored %+v, %v", rec, err)
	}
	// A pasted callback URL whose state differs is refused before any exchange.
	in2, inW2 := io.Pipe()
	defer inW2.Close()
	fl2 := startAuthorize(t, cfg, AuthorizeOptions{Code: "-", In: in2})
	fl2.out.next(t)
	_, _ = io.WriteString(inW2, "http://127.0.0.1:1/cb?code=whatever&state=not-ours\n")
	fl2.wait(t)
	if !errors.Is(fl2.err, ErrStateMismatch) || f.Stats().CodeExchanges != 1 {
		t.Errorf("pasted URL with a foreign state: %v", fl2.err)
	}
}

func TestAuthorizeGivenCode(t *testing.T) {
	f := startFake(t, fakeprovider.ApicbaseOptions())
	f.AddClient("apic", "apic-secret")
	cfg := apicbaseConfig(t, f, "")
	code := f.IssueAuthorizationCode("apic", "", "accounts library")
	fl := startAuthorize(t, cfg, AuthorizeOptions{Code: code})
	fl.wait(t)
	if fl.err != nil || fl.tok.RefreshToken.IsZero() {
		t.Fatalf("given code: %v", fl.err)
	}
	if rec, err := stored(t, cfg, "apicbase"); err != nil || rec.Status != state.StatusOK {
		t.Errorf("stored %+v %v", rec, err)
	}
}

func TestAuthorizeRefusesWhatItCannotListenOn(t *testing.T) {
	f := startFake(t, fakeprovider.ApicbaseOptions())
	for extra, want := range map[string]string{
		``: "no redirect_uri configured",
		`redirect_uri = "https://app.example/cb"`: "not an http:// loopback URL",
		`redirect_uri = "http://127.0.0.1:0/cb"`:  "no redirect arrived within",
	} {
		cfg := apicbaseConfig(t, f, extra)
		cr := &cfg.Credentials[0]
		_, err := Authorize(context.Background(), cr, client(t, cr), AuthorizeOptions{Out: io.Discard, ListenTimeout: 50 * time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", extra, err, want)
		}
	}
}

func TestParsePasted(t *testing.T) {
	for in, want := range map[string][2]string{
		"ac_123":     {"ac_123", ""},
		"  ac_123  ": {"ac_123", ""},
		"https://app.example/cb?code=c1&state=s1":  {"c1", "s1"},
		"code=c2&state=s2":                         {"c2", "s2"},
		"http://127.0.0.1/cb?state=s&code=c3#frag": {"c3", "s"},
	} {
		code, st := parsePasted(in)
		if code != want[0] || st != want[1] {
			t.Errorf("%q: %q %q", in, code, st)
		}
	}
}

func TestAuthorizeNoPKCEAgainstAProviderThatNeedsIt(t *testing.T) {
	f := startFake(t, fakeprovider.BasicTechOptions()) // the fake insists on PKCE
	f.AddClient("pub", "")
	cfg := basicConfig(t, f)
	fl := startAuthorize(t, cfg, AuthorizeOptions{NoPKCE: true})
	authURL := fl.out.next(t)
	if strings.Contains(authURL, "code_challenge") {
		t.Fatalf("--no-pkce URL has a challenge: %s", authURL)
	}
	follow(t, consent(t, authURL)) // the provider redirects back with an error
	fl.wait(t)
	if fl.err == nil || !strings.Contains(fl.err.Error(), "refused the authorization: invalid_request") {
		t.Fatalf("err = %v", fl.err)
	}
}
