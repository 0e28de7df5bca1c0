package fakeprovider

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// noFollow is an HTTP client that shows redirects instead of following them.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// startPreset serves a provider with opts and returns it and its base URL.
func startPreset(t *testing.T, opts Options) (*Provider, string) {
	t.Helper()
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(func() { _ = p.Close(); srv.Close() })
	return p, srv.URL
}

// authorize GETs the authorization endpoint and returns the response.
func authorize(t *testing.T, endpoint string, q url.Values) *http.Response {
	t.Helper()
	resp, err := noFollow.Get(endpoint + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func s256(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk" // RFC 7636 appendix B

func TestAuthorizeRedirectsWithCodeAndState(t *testing.T) {
	clk := newClock()
	opts := ApicbaseOptions()
	opts.Now = clk.Now
	p, base := startPreset(t, opts)
	p.AddClient("apic", "sec")
	q := url.Values{"response_type": {"code"}, "client_id": {"apic"}, "redirect_uri": {"http://127.0.0.1:9/cb?keep=1"},
		"scope": {"accounts library"}, "state": {"st-123"}}
	resp := authorize(t, base+"/oauth/authorize/", q)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d", resp.StatusCode)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if loc.Host != "127.0.0.1:9" || loc.Path != "/cb" || loc.Query().Get("state") != "st-123" || loc.Query().Get("keep") != "1" || code == "" {
		t.Fatalf("Location = %s", loc)
	}
	exchange := func(code string) result {
		return send(t, base+"/oauth/token/", map[string]string{"grant_type": "authorization_code", "code": code,
			"redirect_uri": "http://127.0.0.1:9/cb?keep=1", "client_id": "apic", "client_secret": "sec"}, req{})
	}
	// Apicbase: codes live one minute.
	clk.Add(time.Minute)
	wantError(t, exchange(code), 400, "invalid_grant")
	resp = authorize(t, base+"/oauth/authorize/", q)
	loc, _ = url.Parse(resp.Header.Get("Location"))
	clk.Add(59 * time.Second)
	res := exchange(loc.Query().Get("code"))
	if res.Status != 200 || res.str("scope") != "accounts library" || res.Body["expires_in"] != float64(7*24*3600) {
		t.Fatalf("exchange: %d %s", res.Status, res.Raw)
	}
	// Form only: the same request as JSON is refused.
	rt := res.str("refresh_token")
	r := send(t, base+"/oauth/token/", map[string]string{"grant_type": "refresh_token", "refresh_token": rt,
		"client_id": "apic", "client_secret": "sec"}, req{json: true})
	wantError(t, r, 400, "invalid_request")
	if st := p.Stats(); st.Authorizations != 2 || st.CodeExchanges != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestAuthorizeWithoutRedirectShowsTheCode(t *testing.T) {
	p, base := startPreset(t, ApicbaseOptions())
	p.AddClient("apic", "sec")
	resp := authorize(t, base+"/oauth/authorize/", url.Values{"response_type": {"code"}, "client_id": {"apic"}})
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `<code id="code">ac_`) || !strings.Contains(string(body), "1m0s") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestAuthorizeErrors(t *testing.T) {
	p, base := startPreset(t, BasicTechOptions())
	p.AddClient("pub", "")
	ep := base + "/auth/authorize"
	good := func() url.Values {
		return url.Values{"response_type": {"code"}, "client_id": {"pub"}, "redirect_uri": {"http://localhost:1/cb"},
			"state": {"s"}, "code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"}}
	}
	for _, tc := range []struct {
		name   string
		edit   func(url.Values)
		status int    // 400 page
		errc   string // or redirect with this error
	}{
		{"unknown client", func(q url.Values) { q.Set("client_id", "ghost") }, 400, ""},
		{"bad redirect", func(q url.Values) { q.Set("redirect_uri", "javascript:alert(1)") }, 400, ""},
		{"token response type", func(q url.Values) { q.Set("response_type", "token") }, 0, "unsupported_response_type"},
		{"no PKCE", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, 0, "invalid_request"},
		{"plain PKCE", func(q url.Values) { q.Set("code_challenge_method", "plain") }, 0, "invalid_request"},
		{"short challenge", func(q url.Values) { q.Set("code_challenge", "abc") }, 0, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := good()
			tc.edit(q)
			resp := authorize(t, ep, q)
			if tc.status != 0 {
				if resp.StatusCode != tc.status || resp.Header.Get("Location") != "" {
					t.Fatalf("status %d location %q", resp.StatusCode, resp.Header.Get("Location"))
				}
				return
			}
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != tc.errc || loc.Query().Get("state") != "s" || loc.Query().Has("code") {
				t.Fatalf("status %d Location %s", resp.StatusCode, loc)
			}
		})
	}
	if resp := authorize(t, ep, good()); resp.StatusCode != http.StatusFound {
		t.Errorf("good request: %d", resp.StatusCode)
	}
}

func TestPKCEVerification(t *testing.T) {
	p, base := startPreset(t, BasicTechOptions())
	p.AddClient("pub", "")
	codeFor := func(challenge string) string {
		q := url.Values{"response_type": {"code"}, "client_id": {"pub"}, "redirect_uri": {"http://127.0.0.1:1/cb"}, "state": {"x"}}
		if challenge != "" {
			q.Set("code_challenge", challenge)
			q.Set("code_challenge_method", "S256")
		}
		loc, _ := url.Parse(authorize(t, base+"/auth/authorize", q).Header.Get("Location"))
		return loc.Query().Get("code")
	}
	exchange := func(code, v string) result {
		return send(t, base+"/auth/token", map[string]string{"grant_type": "authorization_code", "code": code,
			"redirect_uri": "http://127.0.0.1:1/cb", "client_id": "pub", "code_verifier": v}, req{json: true})
	}
	code := codeFor(s256(verifier))
	wantError(t, exchange(code, ""), 400, "invalid_grant")
	wantError(t, exchange(code, strings.Repeat("a", 43)), 400, "invalid_grant")
	wantError(t, exchange(code, "short"), 400, "invalid_request")
	res := exchange(code, verifier) // the failed attempts did not burn the code
	if res.Status != 200 || strings.Count(res.str("access_token"), ".") != 2 {
		t.Fatalf("exchange: %d %s (want a JWT access token)", res.Status, res.Raw)
	}
	// Basic.tech's token endpoint takes JSON only.
	r := send(t, base+"/auth/token", map[string]string{"grant_type": "refresh_token", "refresh_token": res.str("refresh_token"), "client_id": "pub"}, req{})
	wantError(t, r, 400, "invalid_request")
	// A verifier for a code issued without a challenge is refused.
	p2, base2 := startPreset(t, Options{})
	p2.AddClient("pub", "")
	loc, _ := url.Parse(authorize(t, base2+"/authorize", url.Values{"response_type": {"code"}, "client_id": {"pub"}, "redirect_uri": {"http://127.0.0.1:1/cb"}}).Header.Get("Location"))
	r = send(t, base2+"/token", map[string]string{"grant_type": "authorization_code", "code": loc.Query().Get("code"),
		"redirect_uri": "http://127.0.0.1:1/cb", "client_id": "pub", "code_verifier": verifier}, req{})
	wantError(t, r, 400, "invalid_grant")
}

func TestIntrospectEndpoint(t *testing.T) {
	clk := newClock()
	opts := ApicbaseOptions()
	opts.Now = clk.Now
	p, base := startPreset(t, opts)
	p.AddClient("apic", "sec")
	p.AddClient("other", "o")
	rt := p.IssueRefreshToken("apic", "accounts library")
	res := send(t, base+"/oauth/token/", map[string]string{"grant_type": "refresh_token", "refresh_token": rt, "client_id": "apic", "client_secret": "sec"}, req{})
	at, rt2 := res.str("access_token"), res.str("refresh_token")
	introspect := func(tok, auth string, body map[string]string) result {
		params := map[string]string{"token": tok}
		for k, v := range body {
			params[k] = v
		}
		return send(t, base+"/oauth/introspect/", params, req{basic: auth})
	}
	post := map[string]string{"client_id": "apic", "client_secret": "sec"}
	r := introspect(at, "", post)
	if r.Status != 200 || r.Body["active"] != true || r.str("scope") != "accounts library" ||
		int64(r.Body["exp"].(float64)) != clk.Now().Add(7*24*time.Hour).Unix() {
		t.Fatalf("active access token: %s", r.Raw)
	}
	if r := introspect(rt2, basicAuth("apic", "sec"), nil); r.Body["active"] != true || r.str("token_type") != "refresh_token" {
		t.Errorf("live refresh token: %s", r.Raw)
	}
	for name, tok := range map[string]string{"used refresh token": rt, "unknown": "nope"} {
		if r := introspect(tok, "", post); r.Status != 200 || r.Raw != `{"active":false}` {
			t.Errorf("%s: %s", name, r.Raw)
		}
	}
	if r := introspect(at, basicAuth("other", "o"), nil); r.Raw != `{"active":false}` {
		t.Errorf("another client's token: %s", r.Raw)
	}
	clk.Add(7 * 24 * time.Hour)
	if r := introspect(at, "", post); r.Raw != `{"active":false}` {
		t.Errorf("expired: %s", r.Raw)
	}
	wantError(t, introspect(at, "", map[string]string{"client_id": "apic", "client_secret": "bad"}), 401, "invalid_client")
	if st := p.Stats(); st.Introspections != 6 {
		t.Errorf("Introspections = %d, want 6", st.Introspections)
	}
}
