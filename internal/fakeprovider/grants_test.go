package fakeprovider

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRotation200WithoutReuse(t *testing.T) {
	p, tokenURL := newTestProvider(t, Options{})
	p.AddClient("app", "s3cret")
	rt := p.IssueRefreshToken("app", "read  write")
	seen := map[string]bool{rt: true}
	for i := range 200 {
		res := mustRefresh(t, tokenURL, "app", "s3cret", rt)
		next := res.str("refresh_token")
		if seen[next] {
			t.Fatalf("rotation %d returned a refresh token seen before", i)
		}
		seen[next] = true
		if !hasPrefix(next, "rt_") || !hasPrefix(res.str("access_token"), "at_") {
			t.Fatalf("rotation %d: malformed tokens %s", i, res.Raw)
		}
		if res.str("token_type") != "Bearer" || res.Body["expires_in"] != float64(30) || res.str("scope") != "read write" {
			t.Fatalf("rotation %d: body %s", i, res.Raw)
		}
		if res.Header.Get("Content-Type") != "application/json" || res.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("rotation %d: headers %v", i, res.Header)
		}
		if !p.ActiveAccessToken(res.str("access_token")) {
			t.Fatalf("rotation %d: fresh access token not active", i)
		}
		if got := p.CurrentRefreshToken("app"); !slices.Equal(got, []string{next}) {
			t.Fatalf("rotation %d: live tokens %d, want exactly the new one", i, len(got))
		}
		rt = next
	}
	st := p.Stats()
	if st.Refreshes != 200 || st.Reuses != 0 || st.FamiliesRevoked != 0 || st.Rejected != 0 || st.TokenRequests != 200 {
		t.Errorf("stats = %+v", st)
	}
	pres := p.Presented()
	if len(pres) != 200 || len(seen) != 201 {
		t.Errorf("presented %d, distinct tokens %d", len(pres), len(seen))
	}
	issued := p.IssuedRefreshTokens()
	if len(issued) != 201 || issued[200] != rt || !slices.Equal(pres, issued[:200]) {
		t.Errorf("presented tokens are not exactly the issued ones in order")
	}
}

func TestReuseRevokesTheWholeFamily(t *testing.T) {
	p, tokenURL := newTestProvider(t, Options{})
	p.AddClient("app", "s")
	rt0 := p.IssueRefreshToken("app", "read")
	other := p.IssueRefreshToken("app", "read")
	r1 := mustRefresh(t, tokenURL, "app", "s", rt0)
	r2 := mustRefresh(t, tokenURL, "app", "s", r1.str("refresh_token"))
	newest, at2 := r2.str("refresh_token"), r2.str("access_token")

	wantError(t, refresh(t, tokenURL, "app", "s", rt0), 400, "invalid_grant")
	if st := p.Stats(); st.Reuses != 1 || st.FamiliesRevoked != 1 || st.Rejected != 1 {
		t.Fatalf("after reuse stats = %+v", st)
	}
	if p.ActiveAccessToken(at2) || p.ActiveAccessToken(r1.str("access_token")) {
		t.Error("access tokens of a revoked family are still active")
	}
	wantError(t, refresh(t, tokenURL, "app", "s", newest), 400, "invalid_grant")
	if got := p.CurrentRefreshToken("app"); !slices.Equal(got, []string{other}) {
		t.Errorf("live tokens after revocation: %d, want only the other family's", len(got))
	}
	// Presenting a used token again is one more reuse, not one more revocation.
	wantError(t, refresh(t, tokenURL, "app", "s", r1.str("refresh_token")), 400, "invalid_grant")
	if st := p.Stats(); st.Reuses != 2 || st.FamiliesRevoked != 1 || st.Refreshes != 2 {
		t.Errorf("stats = %+v", st)
	}
	// The other family of the same client is untouched.
	mustRefresh(t, tokenURL, "app", "s", other)
}

func TestTokensAreBoundToTheirClient(t *testing.T) {
	p, tokenURL := newTestProvider(t, Options{})
	p.AddClient("a", "sa")
	p.AddClient("b", "sb")
	rtA := p.IssueRefreshToken("a", "")
	wantError(t, refresh(t, tokenURL, "b", "sb", rtA), 400, "invalid_grant")
	wantError(t, refresh(t, tokenURL, "a", "sa", "rt_unknown"), 400, "invalid_grant")
	// B's attempt consumed nothing: A still refreshes, and no reuse was counted.
	mustRefresh(t, tokenURL, "a", "sa", rtA)
	if st := p.Stats(); st.Reuses != 0 || st.FamiliesRevoked != 0 || st.Rejected != 2 {
		t.Errorf("stats = %+v", st)
	}
	if len(p.CurrentRefreshToken("b")) != 0 || len(p.CurrentRefreshToken("a")) != 1 {
		t.Error("live tokens attributed to the wrong client")
	}
}

func TestRefreshScope(t *testing.T) {
	p, tokenURL := newTestProvider(t, Options{})
	p.AddClient("app", "s")
	rt := p.IssueRefreshToken("app", "read write")
	grant := func(rt, scope string) result {
		return send(t, tokenURL, map[string]string{"grant_type": "refresh_token", "refresh_token": rt, "scope": scope}, req{basic: basicAuth("app", "s")})
	}
	wantError(t, grant(rt, "read admin"), 400, "invalid_scope")
	// A refused scope consumes nothing.
	res := grant(rt, "read")
	if res.Status != 200 || res.str("scope") != "read" {
		t.Fatalf("narrowed refresh: %d %s", res.Status, res.Raw)
	}
	// Without scope the refresh gets the original grant back (RFC 6749 §6).
	res = grant(res.str("refresh_token"), "")
	if res.Status != 200 || res.str("scope") != "read write" {
		t.Fatalf("plain refresh: %d %s", res.Status, res.Raw)
	}
	wantError(t, grant(res.str("refresh_token"), "bad\"scope"), 400, "invalid_scope")
	if st := p.Stats(); st.Reuses != 0 || st.Refreshes != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestClientCredentials(t *testing.T) {
	p, tokenURL := newTestProvider(t, Options{})
	p.AddClient("svc", "svc-secret")
	p.AddClient("pub", "")
	res := send(t, tokenURL, map[string]string{"grant_type": "client_credentials", "scope": "metrics", "client_id": "svc", "client_secret": "svc-secret"}, req{})
	if res.Status != 200 || res.str("token_type") != "Bearer" || res.str("scope") != "metrics" || res.Body["expires_in"] != float64(30) {
		t.Fatalf("client_credentials: %d %s", res.Status, res.Raw)
	}
	if _, ok := res.Body["refresh_token"]; ok {
		t.Error("client_credentials returned a refresh token")
	}
	if !hasPrefix(res.str("access_token"), "at_") || !p.ActiveAccessToken(res.str("access_token")) {
		t.Error("client_credentials access token malformed or inactive")
	}
	wantError(t, send(t, tokenURL, map[string]string{"grant_type": "client_credentials", "client_id": "pub"}, req{}), 400, "unauthorized_client")
	if st := p.Stats(); st.ClientCredentials != 1 || st.Rejected != 1 || len(p.IssuedRefreshTokens()) != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestUnsupportedAndMissingGrantType(t *testing.T) {
	p, tokenURL := newTestProvider(t, Options{})
	p.AddClient("app", "s")
	wantError(t, send(t, tokenURL, map[string]string{"grant_type": "password", "username": "u", "password": "p"}, req{basic: basicAuth("app", "s")}), 400, "unsupported_grant_type")
	wantError(t, send(t, tokenURL, map[string]string{}, req{basic: basicAuth("app", "s")}), 400, "invalid_request")
	wantError(t, send(t, tokenURL, map[string]string{"grant_type": "refresh_token"}, req{basic: basicAuth("app", "s")}), 400, "invalid_request")
}

func TestAuthorizationCode(t *testing.T) {
	clk := newClock()
	p, tokenURL := newTestProvider(t, Options{Now: clk.Now})
	p.AddClient("web", "ws")
	exchange := func(code, redirect string) result {
		return send(t, tokenURL, map[string]string{"grant_type": "authorization_code", "code": code, "redirect_uri": redirect}, req{basic: basicAuth("web", "ws")})
	}
	code := p.IssueAuthorizationCode("web", "https://app.example/cb", "openid profile")
	wantError(t, exchange(code, "https://evil.example/cb"), 400, "invalid_grant")
	res := exchange(code, "https://app.example/cb")
	if res.Status != 200 || !hasPrefix(res.str("refresh_token"), "rt_") || res.str("scope") != "openid profile" {
		t.Fatalf("exchange: %d %s", res.Status, res.Raw)
	}
	// The code's family refreshes like any other.
	r2 := mustRefresh(t, tokenURL, "web", "ws", res.str("refresh_token"))
	// A second exchange of the code is refused and revokes what it produced.
	wantError(t, exchange(code, "https://app.example/cb"), 400, "invalid_grant")
	wantError(t, refresh(t, tokenURL, "web", "ws", r2.str("refresh_token")), 400, "invalid_grant")
	if p.ActiveAccessToken(r2.str("access_token")) {
		t.Error("access token survived the code replay")
	}
	late := p.IssueAuthorizationCode("web", "", "")
	clk.Add(codeTTL)
	wantError(t, exchange(late, ""), 400, "invalid_grant")
	if st := p.Stats(); st.CodeExchanges != 1 || st.FamiliesRevoked != 1 || st.Refreshes != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestActiveAccessTokenExpiry(t *testing.T) {
	clk := newClock()
	p, tokenURL := newTestProvider(t, Options{Now: clk.Now})
	p.AddClient("app", "s")
	res := mustRefresh(t, tokenURL, "app", "s", p.IssueRefreshToken("app", ""))
	at := res.str("access_token")
	clk.Add(29 * time.Second)
	if !p.ActiveAccessToken(at) {
		t.Fatal("token inactive before its expiry")
	}
	clk.Add(time.Second)
	if p.ActiveAccessToken(at) {
		t.Fatal("token active at its expiry")
	}
	if p.ActiveAccessToken("at_never_issued") {
		t.Error("unknown token reported active")
	}
	p.SetAccessTTL(5 * time.Second)
	res = mustRefresh(t, tokenURL, "app", "s", res.str("refresh_token"))
	if res.Body["expires_in"] != float64(5) {
		t.Fatalf("expires_in after SetAccessTTL: %s", res.Raw)
	}
	clk.Add(4 * time.Second)
	if !p.ActiveAccessToken(res.str("access_token")) {
		t.Error("5s token inactive after 4s")
	}
	clk.Add(time.Second)
	if p.ActiveAccessToken(res.str("access_token")) {
		t.Error("5s token active after 5s")
	}
}

func TestJWTAccessTokensAndOmittedExpiresIn(t *testing.T) {
	clk := newClock()
	p, tokenURL := newTestProvider(t, Options{Now: clk.Now, JWTAccess: true, OmitExpiresIn: true, AccessTTL: time.Minute})
	p.AddClient("app", "s")
	res := mustRefresh(t, tokenURL, "app", "s", p.IssueRefreshToken("app", "read"))
	if _, ok := res.Body["expires_in"]; ok {
		t.Errorf("expires_in present: %s", res.Raw)
	}
	parts := strings.Split(res.str("access_token"), ".")
	if len(parts) != 3 {
		t.Fatalf("JWT access token has %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("payload: %v", err)
	}
	var claims struct {
		Exp, Iat int64
		ClientID string `json:"client_id"`
		Scope    string
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("claims: %v", err)
	}
	if claims.Exp != clk.Now().Add(time.Minute).Unix() || claims.Iat != clk.Now().Unix() || claims.ClientID != "app" || claims.Scope != "read" {
		t.Errorf("claims = %+v", claims)
	}
	if !p.ActiveAccessToken(res.str("access_token")) {
		t.Error("JWT access token not active")
	}
}

// TestConcurrentFamilies runs 20 families through 10 rotations each in
// parallel (run with -race).
func TestConcurrentFamilies(t *testing.T) {
	p, tokenURL := newTestProvider(t, Options{})
	p.AddClient("app", "s")
	const families, rotations = 20, 10
	finals := make([]string, families)
	var wg sync.WaitGroup
	errs := make(chan error, families)
	for i := range families {
		rt := p.IssueRefreshToken("app", fmt.Sprintf("f%d", i))
		wg.Go(func() {
			for range rotations {
				res, err := trySend(t, tokenURL, map[string]string{"grant_type": "refresh_token", "refresh_token": rt}, req{basic: basicAuth("app", "s")})
				if err != nil || res.Status != http.StatusOK {
					errs <- fmt.Errorf("family %d: status %d err %v", i, res.Status, err)
					return
				}
				rt = res.str("refresh_token")
			}
			finals[i] = rt
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := p.Stats()
	if st.Refreshes != families*rotations || st.Reuses != 0 || st.Rejected != 0 {
		t.Errorf("stats = %+v", st)
	}
	live := p.CurrentRefreshToken("app")
	slices.Sort(live)
	slices.Sort(finals)
	if !slices.Equal(live, finals) {
		t.Errorf("live tokens differ from each family's last token")
	}
	issued := p.IssuedRefreshTokens()
	if len(issued) != families*(rotations+1) || len(slices.Compact(slices.Sorted(slices.Values(issued)))) != len(issued) {
		t.Errorf("issued %d tokens, some duplicated or missing", len(issued))
	}
}

// BenchmarkRefresh measures one rotation over loopback HTTP, in memory.
func BenchmarkRefresh(b *testing.B) {
	p, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler())
	defer srv.Close()
	p.AddClient("app", "s")
	rt := p.IssueRefreshToken("app", "")
	auth := basicAuth("app", "s")
	for b.Loop() {
		body := strings.NewReader("grant_type=refresh_token&refresh_token=" + rt)
		r, _ := http.NewRequest(http.MethodPost, srv.URL+"/token", body)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Authorization", auth)
		resp, err := srv.Client().Do(r)
		if err != nil {
			b.Fatal(err)
		}
		var tr tokenResponse
		err = json.NewDecoder(resp.Body).Decode(&tr)
		_ = resp.Body.Close()
		if err != nil || tr.RefreshToken == "" {
			b.Fatalf("refresh failed: status %d", resp.StatusCode)
		}
		rt = tr.RefreshToken
	}
	if p.Stats().Reuses != 0 {
		b.Fatal("reuse during benchmark")
	}
}
