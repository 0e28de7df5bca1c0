package fakeprovider

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestClientAuthentication(t *testing.T) {
	const oddID, oddSecret = "app:1 ü", "s+cr%t/&=:"
	rawBasic := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	cases := []struct {
		name      string
		client    string // owner of the refresh token
		params    map[string]string
		basic     string
		status    int
		code      string
		challenge bool // WWW-Authenticate: Basic expected
	}{
		{name: "basic", client: "conf", basic: basicAuth("conf", "cs"), status: 200},
		{name: "basic with matching client_id", client: "conf", basic: basicAuth("conf", "cs"), params: map[string]string{"client_id": "conf"}, status: 200},
		{name: "client_secret_post", client: "conf", params: map[string]string{"client_id": "conf", "client_secret": "cs"}, status: 200},
		{name: "basic form-encodes id and secret", client: oddID, basic: basicAuth(oddID, oddSecret), status: 200},
		{name: "basic without form encoding", client: oddID, basic: rawBasic(oddID + ":" + oddSecret), status: 401, code: "invalid_client", challenge: true},
		{name: "both methods", client: "conf", basic: basicAuth("conf", "cs"), params: map[string]string{"client_id": "conf", "client_secret": "cs"}, status: 400, code: "invalid_request"},
		{name: "basic and other client_id", client: "conf", basic: basicAuth("conf", "cs"), params: map[string]string{"client_id": "pub"}, status: 400, code: "invalid_request"},
		{name: "basic wrong secret", client: "conf", basic: basicAuth("conf", "nope"), status: 401, code: "invalid_client", challenge: true},
		{name: "basic unknown client", client: "conf", basic: basicAuth("ghost", "cs"), status: 401, code: "invalid_client", challenge: true},
		{name: "basic malformed", client: "conf", basic: "Basic !!!", status: 401, code: "invalid_client", challenge: true},
		{name: "bearer instead of basic", client: "conf", basic: "Bearer xyz", status: 401, code: "invalid_client", challenge: true},
		{name: "post wrong secret", client: "conf", params: map[string]string{"client_id": "conf", "client_secret": "nope"}, status: 401, code: "invalid_client"},
		{name: "post without secret", client: "conf", params: map[string]string{"client_id": "conf"}, status: 401, code: "invalid_client"},
		{name: "no authentication", client: "conf", status: 401, code: "invalid_client"},
		{name: "public client_id only", client: "pub", params: map[string]string{"client_id": "pub"}, status: 200},
		{name: "public with a secret", client: "pub", params: map[string]string{"client_id": "pub", "client_secret": "x"}, status: 401, code: "invalid_client"},
		{name: "public via basic", client: "pub", basic: basicAuth("pub", ""), status: 401, code: "invalid_client", challenge: true},
	}
	p, tokenURL := newTestProvider(t, Options{})
	p.AddClient("conf", "cs")
	p.AddClient("pub", "")
	p.AddClient(oddID, oddSecret)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			params := map[string]string{"grant_type": "refresh_token", "refresh_token": p.IssueRefreshToken(tc.client, "")}
			for k, v := range tc.params {
				params[k] = v
			}
			res := send(t, tokenURL, params, req{basic: tc.basic})
			if tc.status == 200 {
				if res.Status != 200 || !hasPrefix(res.str("refresh_token"), "rt_") {
					t.Fatalf("status %d body %s", res.Status, res.Raw)
				}
				return
			}
			wantError(t, res, tc.status, tc.code)
			if got := res.Header.Get("WWW-Authenticate"); (got != "") != tc.challenge || (tc.challenge && !strings.HasPrefix(got, "Basic")) {
				t.Errorf("WWW-Authenticate = %q, want challenge %v", got, tc.challenge)
			}
		})
	}
}

func TestRequestEncodings(t *testing.T) {
	p, tokenURL := newTestProvider(t, Options{})
	p.AddClient("app", "s")
	rt := p.IssueRefreshToken("app", "")
	// JSON body with client_secret_post.
	res := send(t, tokenURL, map[string]string{"grant_type": "refresh_token", "refresh_token": rt, "client_id": "app", "client_secret": "s"}, req{json: true})
	if res.Status != 200 {
		t.Fatalf("JSON body: %d %s", res.Status, res.Raw)
	}
	rt = res.str("refresh_token")
	// Form body with a charset parameter.
	res = send(t, tokenURL, map[string]string{"grant_type": "refresh_token", "refresh_token": rt}, req{basic: basicAuth("app", "s"), contentType: "application/x-www-form-urlencoded; charset=utf-8"})
	if res.Status != 200 {
		t.Fatalf("form body: %d %s", res.Status, res.Raw)
	}
	rt = res.str("refresh_token")

	raw := func(s string) *string { return &s }
	auth := basicAuth("app", "s")
	bad := []struct {
		name   string
		r      req
		status int
	}{
		{"GET", req{basic: auth, method: http.MethodGet}, 405},
		{"text/plain", req{basic: auth, contentType: "text/plain"}, 400},
		{"no content type", req{basic: auth, contentType: ";"}, 400},
		{"repeated form parameter", req{basic: auth, rawBody: raw("grant_type=refresh_token&refresh_token=" + rt + "&refresh_token=" + rt)}, 400},
		{"malformed form", req{basic: auth, rawBody: raw("grant_type=%zz")}, 400},
		{"JSON number", req{basic: auth, json: true, rawBody: raw(`{"grant_type":"refresh_token","refresh_token":"` + rt + `","n":1}`)}, 400},
		{"JSON repeated key", req{basic: auth, json: true, rawBody: raw(`{"grant_type":"refresh_token","refresh_token":"` + rt + `","refresh_token":"x"}`)}, 400},
		{"JSON array", req{basic: auth, json: true, rawBody: raw(`["grant_type"]`)}, 400},
		{"JSON trailing data", req{basic: auth, json: true, rawBody: raw(`{"grant_type":"refresh_token","refresh_token":"` + rt + `"}{}`)}, 400},
		{"JSON nested", req{basic: auth, json: true, rawBody: raw(`{"grant_type":{"a":"b"}}`)}, 400},
		{"huge body", req{basic: auth, rawBody: raw("grant_type=refresh_token&pad=" + strings.Repeat("a", maxBodyBytes))}, 400},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, send(t, tokenURL, map[string]string{"grant_type": "refresh_token", "refresh_token": rt}, tc.r), tc.status, "invalid_request")
		})
	}
	res = send(t, tokenURL+"?client_secret=s", map[string]string{"grant_type": "refresh_token", "refresh_token": rt, "client_id": "app"}, req{})
	wantError(t, res, 400, "invalid_request")
	if res := send(t, tokenURL, nil, req{method: http.MethodGet}); res.Header.Get("Allow") != "POST" {
		t.Errorf("405 without Allow: POST")
	}
	// None of the refused requests consumed the token.
	mustRefresh(t, tokenURL, "app", "s", rt)
	if st := p.Stats(); st.Reuses != 0 || st.Refreshes != 3 {
		t.Errorf("stats = %+v", st)
	}
}

func TestInjectedFailuresFIFO(t *testing.T) {
	p, tokenURL := newTestProvider(t, Options{})
	p.AddClient("app", "s")
	rt := p.IssueRefreshToken("app", "")
	p.FailNext(Failure{Status: 503, RetryAfter: "7"})
	p.FailNext(Failure{Code: "invalid_grant", Description: "injected"})
	p.FailNext(Failure{Status: 502, Body: "<html>bad gateway</html>", ContentType: "text/html"})
	p.FailNext(Failure{Body: `{"error":"server_error"}`})
	p.FailNext(Failure{Status: 429, Code: "slow_down", RetryAfter: "Wed, 21 Oct 2037 07:28:00 GMT"})

	res := refresh(t, tokenURL, "app", "s", rt)
	wantError(t, res, 503, "temporarily_unavailable")
	if res.Header.Get("Retry-After") != "7" {
		t.Errorf("Retry-After = %q", res.Header.Get("Retry-After"))
	}
	res = refresh(t, tokenURL, "app", "s", rt)
	wantError(t, res, 400, "invalid_grant")
	if res.str("error_description") != "injected" {
		t.Errorf("description: %s", res.Raw)
	}
	res = refresh(t, tokenURL, "app", "s", rt)
	if res.Status != 502 || res.Raw != "<html>bad gateway</html>" || res.Header.Get("Content-Type") != "text/html" {
		t.Errorf("raw body failure: %d %q %q", res.Status, res.Raw, res.Header.Get("Content-Type"))
	}
	res = refresh(t, tokenURL, "app", "s", rt)
	if res.Status != 200 || res.str("error") != "server_error" {
		t.Errorf("200 with error body: %d %s", res.Status, res.Raw)
	}
	res = refresh(t, tokenURL, "app", "s", rt)
	wantError(t, res, 429, "slow_down")
	if res.Header.Get("Retry-After") != "Wed, 21 Oct 2037 07:28:00 GMT" {
		t.Errorf("Retry-After = %q", res.Header.Get("Retry-After"))
	}
	// The queue is empty and the token was never consumed.
	mustRefresh(t, tokenURL, "app", "s", rt)
	st := p.Stats()
	if st.Injected != 5 || st.TokenRequests != 6 || st.Refreshes != 1 || st.Rejected != 0 || len(p.Presented()) != 1 {
		t.Errorf("stats = %+v, presented %d", st, len(p.Presented()))
	}
}

func TestAfterRotateLosesTheResponse(t *testing.T) {
	p, tokenURL := newTestProvider(t, Options{})
	p.AddClient("app", "s")
	rt := p.IssueRefreshToken("app", "")
	p.FailNext(Failure{AfterRotate: true, Status: 500})
	wantError(t, refresh(t, tokenURL, "app", "s", rt), 500, "server_error")
	live := p.CurrentRefreshToken("app")
	if len(live) != 1 || live[0] == rt || p.Stats().Refreshes != 1 {
		t.Fatalf("the refresh did not happen on the provider side")
	}
	// A client that retries with the token it still holds commits a reuse.
	wantError(t, refresh(t, tokenURL, "app", "s", rt), 400, "invalid_grant")
	if st := p.Stats(); st.Reuses != 1 || st.FamiliesRevoked != 1 {
		t.Errorf("stats = %+v", st)
	}
	wantError(t, refresh(t, tokenURL, "app", "s", live[0]), 400, "invalid_grant")

	// With nothing else set, AfterRotate drops the connection.
	rt = p.IssueRefreshToken("app", "")
	p.FailNext(Failure{AfterRotate: true})
	if _, err := trySend(t, tokenURL, map[string]string{"grant_type": "refresh_token", "refresh_token": rt}, req{basic: basicAuth("app", "s")}); err == nil {
		t.Fatal("lost response: request succeeded")
	}
	if live := p.CurrentRefreshToken("app"); len(live) != 1 || live[0] == rt {
		t.Error("lost response: the refresh did not happen")
	}
}

func TestDisconnectAndDelay(t *testing.T) {
	p, tokenURL := newTestProvider(t, Options{})
	p.AddClient("app", "s")
	rt := p.IssueRefreshToken("app", "")
	params := map[string]string{"grant_type": "refresh_token", "refresh_token": rt}
	p.FailNext(Failure{Disconnect: true})
	if _, err := trySend(t, tokenURL, params, req{basic: basicAuth("app", "s")}); err == nil {
		t.Fatal("disconnect: request succeeded")
	}
	// A delay longer than the client waits: the client times out.
	p.FailNext(Failure{Delay: time.Hour, Status: 503})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	r, _ := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader("grant_type=refresh_token&refresh_token="+rt))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth("app", "s")
	if resp, err := http.DefaultClient.Do(r); !errors.Is(err, context.DeadlineExceeded) {
		if resp != nil {
			_ = resp.Body.Close()
		}
		t.Fatalf("delayed request: err %v, want deadline exceeded", err)
	}
	// A delay alone is a slow provider: the request then succeeds.
	p.FailNext(Failure{Delay: 2 * time.Millisecond})
	start := time.Now()
	mustRefresh(t, tokenURL, "app", "s", rt)
	if time.Since(start) < 2*time.Millisecond {
		t.Error("delay not applied")
	}
	if st := p.Stats(); st.Injected != 3 || st.Refreshes != 1 || st.Reuses != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestStartAndCloseInterruptsDelays(t *testing.T) {
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	p.AddClient("app", "s")
	base, err := p.Start()
	if err != nil || !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("Start = %q, %v", base, err)
	}
	if _, err := p.Start(); err == nil {
		t.Error("second Start succeeded")
	}
	mustRefresh(t, base+"/token", "app", "s", p.IssueRefreshToken("app", ""))
	p.FailNext(Failure{Delay: time.Hour, Status: 503})
	done := make(chan error, 1)
	go func() {
		_, err := trySend(t, base+"/token", map[string]string{"grant_type": "client_credentials"}, req{basic: basicAuth("app", "s")})
		done <- err
	}()
	for p.Stats().Injected == 0 { // wait until the request sits in its delay
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-done; err == nil {
		t.Error("delayed request was answered after Close")
	}
	if time.Since(start) > 2*time.Second {
		t.Error("Close waited for the injected delay")
	}
	if _, err := trySend(t, base+"/token", nil, req{}); err == nil {
		t.Error("server still answers after Close")
	}
	if _, err := p.Start(); err == nil {
		t.Error("Start after Close succeeded")
	}
}

// TestOAuth2LibraryInterop drives the provider with golang.org/x/oauth2 in
// both of its client authentication styles.
func TestOAuth2LibraryInterop(t *testing.T) {
	p, tokenURL := newTestProvider(t, Options{})
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		id, secret := "lib client", "p@ss+w%rd"
		p.AddClient(id, secret)
		cfg := oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: style}}
		rt := p.IssueRefreshToken(id, "")
		tok, err := cfg.TokenSource(t.Context(), &oauth2.Token{RefreshToken: rt}).Token()
		if err != nil {
			t.Fatalf("style %d: %v", style, err)
		}
		if tok.RefreshToken == rt || !p.ActiveAccessToken(tok.AccessToken) || tok.Expiry.IsZero() {
			t.Errorf("style %d: token not rotated or not active", style)
		}
	}
}
