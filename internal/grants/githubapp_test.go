package grants

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/fakeprovider"
	"github.com/tokend/tokend/internal/secret"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// gitHubSetup is a strict GitHub fake for app 42 / installation 7890 and a
// client for it with opts' repositories and permissions.
func gitHubSetup(t *testing.T, clk *clock, edit func(*GitHubAppOptions)) (*fakeprovider.GitHubApp, *httptest.Server, *Client) {
	t.Helper()
	gh := fakeprovider.NewGitHubApp("42", "Iv1.abc", "7890", testRSAKey().Public(), time.Hour, clk.Now)
	srv := httptest.NewServer(gh)
	t.Cleanup(srv.Close)
	path, _ := writeKeyPEM(t, testRSAKey())
	o := &GitHubAppOptions{KeyOptions: KeyOptions{PrivateKeyFile: path}, AppID: "42", InstallationID: "7890", APIURL: srv.URL + "/"}
	if edit != nil {
		edit(o)
	}
	resolve(t, o)
	c, err := New(Config{Name: "gh", Grant: GrantGitHubApp, AuthStyle: AuthNone, GrantOptions: o, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return gh, srv, c
}

// apiCall uses tok at the fake's API endpoint and returns the status.
func apiCall(t *testing.T, srv *httptest.Server, tok secret.Secret) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/installation/repositories", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Reveal())
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestGitHubAppMintsAgainstStrictFake: the app JWT passes GitHub's checks
// (RS256 with the app key, iss, iat backdated, exp - iat <= 10 min, the
// headers, the installation path), the answer's expires_at is the expiry,
// each mint is a new token, and an old token stops working at its expiry.
func TestGitHubAppMintsAgainstStrictFake(t *testing.T) {
	clk := &clock{t: time.Now().Truncate(time.Second)}
	gh, srv, c := gitHubSetup(t, clk, func(o *GitHubAppOptions) {
		o.Repositories, o.Permissions = []string{"infra"}, map[string]string{"contents": "read"}
	})
	if want := srv.URL + "/app/installations/7890/access_tokens"; c.Config().TokenURL != want {
		t.Errorf("endpoint %q, want %q", c.Config().TokenURL, want)
	}
	first, err := c.Renew(context.Background(), secret.Secret{})
	if err != nil {
		t.Fatalf("mint: %v (GitHub refused: %v)", err, gh.Rejected())
	}
	if first.ExpirySource != "expires_at" || !first.ExpiresAt.Equal(clk.Now().Add(time.Hour)) || first.TokenType != "Bearer" {
		t.Errorf("token expiry %v (%s), type %q", first.ExpiresAt, first.ExpirySource, first.TokenType)
	}
	body := gh.Bodies()[0]
	if repos, _ := body["repositories"].([]any); len(repos) != 1 || repos[0] != "infra" || body["permissions"].(map[string]any)["contents"] != "read" {
		t.Errorf("body %v", body)
	}
	if apiCall(t, srv, first.AccessToken) != http.StatusOK {
		t.Fatal("fresh token refused by the API")
	}
	clk.Advance(50 * time.Minute) // tokend mints again ahead of expiry
	second, err := c.Renew(context.Background(), secret.Secret{})
	if err != nil {
		t.Fatal(err)
	}
	if second.AccessToken.Reveal() == first.AccessToken.Reveal() {
		t.Error("the same token minted twice")
	}
	clk.Advance(11 * time.Minute) // past the first token's hour
	if apiCall(t, srv, first.AccessToken) != http.StatusUnauthorized || apiCall(t, srv, second.AccessToken) != http.StatusOK {
		t.Error("after the first token's expiry: old should be refused, new accepted")
	}
	if r := gh.Rejected(); len(r) != 1 { // the expired token's API call
		t.Errorf("rejections %v", r)
	}
}

// TestGitHubAppClientIDAsIssuer: with no app_id, the client id is the
// JWT's iss, which GitHub accepts too.
func TestGitHubAppClientIDAsIssuer(t *testing.T) {
	clk := &clock{t: time.Now().Truncate(time.Second)}
	gh, _, _ := gitHubSetup(t, clk, nil)
	srv := httptest.NewServer(gh)
	t.Cleanup(srv.Close)
	path, _ := writeKeyPEM(t, testRSAKey())
	o := &GitHubAppOptions{KeyOptions: KeyOptions{PrivateKeyFile: path}, InstallationID: "7890", APIURL: srv.URL}
	resolve(t, o)
	c, err := New(Config{Name: "gh", Grant: GrantGitHubApp, AuthStyle: AuthNone, ClientID: "Iv1.abc", GrantOptions: o, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Renew(context.Background(), secret.Secret{}); err != nil {
		t.Fatalf("%v (%v)", err, gh.Rejected())
	}
}

// TestGitHubAppErrorsClassified: a key GitHub does not know is 401
// permanent, an unknown installation 404 permanent (with GitHub's message),
// a rate limit and a 5xx transient with the wait GitHub asks for; the app
// JWT never appears in an error.
func TestGitHubAppErrorsClassified(t *testing.T) {
	clk := &clock{t: time.Now().Truncate(time.Second)}
	_, _, c := gitHubSetup(t, clk, func(o *GitHubAppOptions) { o.InstallationID = "1" })
	_, err := c.Renew(context.Background(), secret.Secret{})
	if !IsPermanent(err) || !strings.Contains(err.Error(), "not_found (HTTP 404): Not Found") {
		t.Errorf("unknown installation: %v", err)
	}
	_, _, c = gitHubSetup(t, clk, func(o *GitHubAppOptions) { o.AppID = "43" })
	_, err = c.Renew(context.Background(), secret.Secret{})
	if !IsPermanent(err) || !strings.Contains(err.Error(), "bad_credentials (HTTP 401): A JSON web token could not be decoded") {
		t.Errorf("wrong app: %v", err)
	}
	reset := clk.Now().Add(90 * time.Second).Unix()
	for _, tc := range []struct {
		status int
		hdr    map[string]string
		wait   time.Duration
	}{
		{403, map[string]string{"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": strconv.FormatInt(reset, 10)}, 90 * time.Second},
		{429, map[string]string{"Retry-After": "30"}, 30 * time.Second},
		{502, nil, 0},
	} {
		ep := newEndpoint(t, reply{Status: tc.status, Header: tc.hdr, Body: `{"message":"API rate limit exceeded for installation"}`})
		path, _ := writeKeyPEM(t, testRSAKey())
		o := &GitHubAppOptions{KeyOptions: KeyOptions{PrivateKeyFile: path}, AppID: "42", InstallationID: "7", APIURL: ep.URL}
		resolve(t, o)
		c, err := New(Config{Name: "gh", Grant: GrantGitHubApp, AuthStyle: AuthNone, GrantOptions: o, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Renew(context.Background(), secret.Secret{})
		var e *Error
		if !errors.As(err, &e) || e.Class != ClassTransient || e.RetryAfter != tc.wait {
			t.Errorf("HTTP %d: %v", tc.status, err)
		}
		appJWT := strings.TrimPrefix(ep.only(t).Header.Get("Authorization"), "Bearer ")
		if appJWT == "" || strings.Contains(err.Error(), appJWT) {
			t.Errorf("app JWT missing from the request or present in the error")
		}
	}
}

// TestGitHubAppConfigProblems: what validation refuses.
func TestGitHubAppConfigProblems(t *testing.T) {
	var problems []string
	(&GitHubAppOptions{KeyOptions: KeyOptions{SigningAlg: "ES256"}, AppID: "Iv1.x", Repositories: []string{"org/repo"}}).Validate(
		func(field, format string, args ...any) { problems = append(problems, field) })
	if strings.Join(problems, ",") != "private_key_file,signing_alg,installation_id,app_id,repositories" {
		t.Errorf("problems %v", problems)
	}
	o := &GitHubAppOptions{KeyOptions: KeyOptions{PrivateKeyFile: "/k"}, InstallationID: "1"}
	o.Defaults()
	err := Validate(Config{Grant: GrantGitHubApp, AuthStyle: AuthBasic, Scopes: []string{"repo"}, GrantOptions: o})
	for _, want := range []string{"needs app_id", `auth_style "basic" does not apply`, "takes no scopes"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
}

// TestKeyGrantErrorsRedactWhatTheySent: providers that echo the assertion,
// the app JWT, a subject token or a token in their error text never get it
// into tokend's error.
func TestKeyGrantErrorsRedactWhatTheySent(t *testing.T) {
	echo := func(status int, field func(form url.Values, auth string) string, shape string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			b, _ := json.Marshal(field(r.PostForm, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")))
			_, _ = io.WriteString(w, strings.ReplaceAll(shape, "ECHO", string(b[1:len(b)-1])))
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	path, _ := writeKeyPEM(t, testRSAKey())
	jb := &JWTBearerOptions{KeyOptions: KeyOptions{PrivateKeyFile: path}, AssertionIssuer: "i"}
	resolve(t, jb)
	srv := echo(400, func(f url.Values, _ string) string { return f.Get("assertion") }, `{"error":"invalid_grant","error_description":"bad assertion ECHO"}`)
	c := newTestClient(t, srv.URL, func(cfg *Config) { cfg.Grant, cfg.GrantOptions, cfg.AuthStyle = GrantJWTBearer, jb, AuthNone })
	_, err := c.Renew(context.Background(), secret.Secret{})
	if err == nil || strings.Contains(err.Error(), "eyJ") || !strings.Contains(err.Error(), secret.Redacted) {
		t.Errorf("jwt_bearer: %v", err)
	}

	gh := &GitHubAppOptions{KeyOptions: KeyOptions{PrivateKeyFile: path}, AppID: "1", InstallationID: "2"}
	for _, tc := range []struct {
		status int
		shape  string
	}{
		{401, `{"message":"bad JWT ECHO"}`},
		{201, `{"token":"ghs_tok ECHO","expires_at":"x"}`}, // a token with a space: unusable, and not echoed
	} {
		gh.APIURL = echo(tc.status, func(_ url.Values, auth string) string { return auth }, tc.shape).URL
		resolve(t, gh)
		c, err := New(Config{Name: "gh", Grant: GrantGitHubApp, AuthStyle: AuthNone, GrantOptions: gh})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Renew(context.Background(), secret.Secret{})
		if err == nil || strings.Contains(err.Error(), "eyJ") || strings.Contains(err.Error(), "ghs_tok") {
			t.Errorf("github_app HTTP %d: %v", tc.status, err)
		}
	}
}
