package grants

import (
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/secret"
)

func TestAuthStyleWireFormat(t *testing.T) {
	const (
		id  = "my id:ü%"
		sec = "s3:cr%t ü+/"
	)
	tests := []struct {
		name       string
		style      AuthStyle
		secret     string
		wantAuth   string            // exact Authorization header; "" = none
		wantBody   map[string]string // besides grant_type
		absentBody []string
	}{
		{
			name:  "basic escapes id and secret per RFC 6749 2.3.1",
			style: AuthBasic, secret: sec,
			// QueryEscape: space→+, ":"→%3A, "%"→%25, ü→%C3%BC, "+"→%2B, "/"→%2F.
			wantAuth:   "Basic " + base64.StdEncoding.EncodeToString([]byte("my+id%3A%C3%BC%25:s3%3Acr%25t+%C3%BC%2B%2F")),
			absentBody: []string{"client_id", "client_secret"},
		},
		{
			name: "default style is basic", style: "", secret: "plain",
			wantAuth:   "Basic " + base64.StdEncoding.EncodeToString([]byte("my+id%3A%C3%BC%25:plain")),
			absentBody: []string{"client_id", "client_secret"},
		},
		{
			name: "post", style: AuthPost, secret: sec,
			wantBody: map[string]string{"client_id": id, "client_secret": sec},
		},
		{
			name: "none", style: AuthNone, secret: "",
			wantBody:   map[string]string{"client_id": id},
			absentBody: []string{"client_secret"},
		},
		{
			name: "none never sends a configured secret", style: AuthNone, secret: sec,
			wantBody:   map[string]string{"client_id": id},
			absentBody: []string{"client_secret"},
		},
		{
			name: "basic_raw sends the secret as given", style: AuthBasicRaw, secret: "NjMxZ:not/re+encoded==",
			wantAuth:   "Basic NjMxZ:not/re+encoded==",
			absentBody: []string{"client_id", "client_secret"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := newEndpoint(t, reply{Body: okBody})
			c := newTestClient(t, ep.URL, func(cfg *Config) {
				cfg.AuthStyle, cfg.ClientID, cfg.ClientSecret = tt.style, id, secret.New(tt.secret)
			})
			if _, err := c.ClientCredentials(context.Background()); err != nil {
				t.Fatalf("ClientCredentials: %v", err)
			}
			r := ep.only(t)
			if r.Method != "POST" || r.Path != "/oauth/token" {
				t.Errorf("request %s %s", r.Method, r.Path)
			}
			if got := r.Header.Get("Content-Type"); got != "application/x-www-form-urlencoded" {
				t.Errorf("Content-Type = %q", got)
			}
			if got := r.Header.Get("Accept"); got != "application/json" {
				t.Errorf("Accept = %q", got)
			}
			if got := r.Header.Get("Authorization"); got != tt.wantAuth {
				t.Errorf("Authorization = %q, want %q", got, tt.wantAuth)
			}
			form, err := url.ParseQuery(r.Body)
			if err != nil {
				t.Fatalf("body %q: %v", r.Body, err)
			}
			if form.Get("grant_type") != "client_credentials" {
				t.Errorf("grant_type = %q", form.Get("grant_type"))
			}
			for k, v := range tt.wantBody {
				if form.Get(k) != v {
					t.Errorf("body %s = %q, want %q", k, form.Get(k), v)
				}
			}
			for _, k := range tt.absentBody {
				if form.Has(k) {
					t.Errorf("body has %s, want none", k)
				}
			}
			// The secret is sent at most once, in exactly one place.
			if tt.secret != "" && tt.style != AuthNone {
				n := strings.Count(form.Get("client_secret"), tt.secret)
				if strings.Contains(decodeBasic(r.Header.Get("Authorization")), url.QueryEscape(tt.secret)) ||
					r.Header.Get("Authorization") == "Basic "+tt.secret {
					n++
				}
				if n != 1 {
					t.Errorf("secret sent %d times", n)
				}
			}
		})
	}
}

// decodeBasic returns the decoded credentials of a Basic header, or "".
func decodeBasic(h string) string {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Basic "))
	if err != nil {
		return ""
	}
	return string(b)
}

func TestJSONBodyWithScopesParamsAndHeaders(t *testing.T) {
	ep := newEndpoint(t, reply{Body: okBody})
	c := newTestClient(t, ep.URL, func(cfg *Config) {
		cfg.Grant = GrantRefreshToken
		cfg.AuthStyle = AuthPost
		cfg.Body = BodyJSON
		cfg.Scopes = []string{"read", "write"}
		cfg.Params = map[string]string{"audience": "https://api.example"}
		cfg.Headers = map[string]string{"basiq-version": "2.0"}
	})
	if _, err := c.Renew(context.Background(), secret.New("rt-old")); err != nil {
		t.Fatalf("Renew: %v", err)
	}
	r := ep.only(t)
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := r.Header.Get("Basiq-Version"); got != "2.0" {
		t.Errorf("basiq-version = %q", got)
	}
	want := map[string]string{
		"grant_type": "refresh_token", "refresh_token": "rt-old", "scope": "read write",
		"audience": "https://api.example", "client_id": "client-id", "client_secret": "client-secret-value",
	}
	got := mustJSON(t, r.Body)
	if len(got) != len(want) {
		t.Errorf("body has %d fields, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("body %s = %q, want %q", k, got[k], v)
		}
	}
}

func TestFormBodyExtraParamsHeadersScopes(t *testing.T) {
	ep := newEndpoint(t, reply{Body: okBody})
	c := newTestClient(t, ep.URL, func(cfg *Config) {
		cfg.AuthStyle = AuthBasicRaw
		cfg.ClientSecret = secret.New("QVBJLUtFWQ==")
		cfg.Scopes = []string{"SERVER_ACCESS"}
		cfg.Params = map[string]string{"resource": "r1", "client_id": "sent-as-param"}
		cfg.Headers = map[string]string{"basiq-version": "2.0", "Accept": "application/vnd.x+json"}
	})
	if _, err := c.ClientCredentials(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := ep.only(t)
	form, _ := url.ParseQuery(r.Body)
	want := url.Values{"grant_type": {"client_credentials"}, "scope": {"SERVER_ACCESS"}, "resource": {"r1"}, "client_id": {"sent-as-param"}}
	if form.Encode() != want.Encode() {
		t.Errorf("body = %q, want %q", form.Encode(), want.Encode())
	}
	if r.Header.Get("Basiq-Version") != "2.0" || r.Header.Get("Accept") != "application/vnd.x+json" {
		t.Errorf("headers = %v", r.Header)
	}
	if r.Header.Get("Authorization") != "Basic QVBJLUtFWQ==" {
		t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
	}
}

func TestGrantRequests(t *testing.T) {
	tests := []struct {
		name string
		call func(*Client) (Token, error)
		want url.Values
	}{
		{"refresh", func(c *Client) (Token, error) { return c.Refresh(context.Background(), secret.New("rt-1")) },
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt-1"}}},
		{"client credentials", func(c *Client) (Token, error) { return c.ClientCredentials(context.Background()) },
			url.Values{"grant_type": {"client_credentials"}}},
		{"code with PKCE", func(c *Client) (Token, error) {
			return c.ExchangeCode(context.Background(), secret.New("code-1"), "https://app/cb", "verifier-1")
		}, url.Values{"grant_type": {"authorization_code"}, "code": {"code-1"}, "redirect_uri": {"https://app/cb"}, "code_verifier": {"verifier-1"}}},
		{"code without verifier or redirect", func(c *Client) (Token, error) {
			return c.ExchangeCode(context.Background(), secret.New("code-2"), "", "")
		}, url.Values{"grant_type": {"authorization_code"}, "code": {"code-2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := newEndpoint(t, reply{Body: okBody})
			if _, err := tt.call(newTestClient(t, ep.URL, nil)); err != nil {
				t.Fatal(err)
			}
			if got := ep.only(t).Body; got != tt.want.Encode() {
				t.Errorf("body = %q, want %q", got, tt.want.Encode())
			}
		})
	}
}

func TestRenewDispatch(t *testing.T) {
	tests := []struct {
		grant     Grant
		rt        string
		wantGrant string // "" = no request
	}{
		{GrantRefreshToken, "rt-1", "refresh_token"},
		{GrantAuthorizationCode, "rt-1", "refresh_token"},
		{GrantClientCredentials, "ignored", "client_credentials"},
		{GrantClientCredentials, "", "client_credentials"},
		{GrantRefreshToken, "", ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.grant)+"/"+tt.rt, func(t *testing.T) {
			ep := newEndpoint(t, reply{Body: okBody})
			c := newTestClient(t, ep.URL, func(cfg *Config) { cfg.Grant = tt.grant })
			_, err := c.Renew(context.Background(), secret.New(tt.rt))
			if tt.wantGrant == "" {
				var e *Error
				if !errors.As(err, &e) || e.Code != "no_refresh_token" || !IsPermanent(err) || !errors.Is(err, ErrNoRefreshToken) {
					t.Fatalf("err = %v, want permanent no_refresh_token", err)
				}
				if ep.count() != 0 {
					t.Fatal("a request was sent without a refresh token")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			form, _ := url.ParseQuery(ep.only(t).Body)
			if form.Get("grant_type") != tt.wantGrant {
				t.Errorf("grant_type = %q, want %q", form.Get("grant_type"), tt.wantGrant)
			}
			if tt.grant == GrantClientCredentials && form.Has("refresh_token") {
				t.Error("client_credentials sent a refresh token")
			}
		})
	}
	ep := newEndpoint(t, reply{Body: okBody})
	_, err := newTestClient(t, ep.URL, nil).ExchangeCode(context.Background(), secret.Secret{}, "", "")
	if !IsPermanent(err) || !errors.Is(err, ErrNoAuthorizationCode) || ep.count() != 0 {
		t.Errorf("empty code: err = %v, requests = %d", err, ep.count())
	}
}

func TestRefreshTokenRotation(t *testing.T) {
	tests := []struct {
		name, body, wantRT string
	}{
		{"rotated", `{"access_token":"at-2","refresh_token":"rt-2","expires_in":60}`, "rt-2"},
		{"absent keeps old", `{"access_token":"at-2","expires_in":60}`, ""},
		{"empty string keeps old", `{"access_token":"at-2","refresh_token":"","expires_in":60}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := newEndpoint(t, reply{Body: tt.body})
			c := newTestClient(t, ep.URL, func(cfg *Config) { cfg.Grant = GrantRefreshToken })
			tok, err := c.Renew(context.Background(), secret.New("rt-1"))
			if err != nil {
				t.Fatal(err)
			}
			if tok.RefreshToken.Reveal() != tt.wantRT || tok.RefreshToken.IsZero() != (tt.wantRT == "") {
				t.Errorf("RefreshToken = %q, want %q", tok.RefreshToken.Reveal(), tt.wantRT)
			}
			if tok.AccessToken.Reveal() != "at-2" || tok.TokenType != "Bearer" {
				t.Errorf("token = %q %q", tok.AccessToken.Reveal(), tok.TokenType)
			}
			if !tok.IssuedAt.Equal(testNow) || !tok.ExpiresAt.Equal(testNow.Add(time.Minute)) || tok.ExpirySource != "expires_in" {
				t.Errorf("times = %v %v %q", tok.IssuedAt, tok.ExpiresAt, tok.ExpirySource)
			}
		})
	}
}

func TestDefaultLifetimeThroughClient(t *testing.T) {
	ep := newEndpoint(t, reply{Body: `{"access_token":"opaque"}`})
	c := newTestClient(t, ep.URL, func(cfg *Config) { cfg.DefaultLifetime = 15 * time.Minute })
	tok, err := c.ClientCredentials(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !tok.ExpiresAt.Equal(testNow.Add(15*time.Minute)) || tok.ExpirySource != "default" {
		t.Errorf("ExpiresAt = %v (%s)", tok.ExpiresAt, tok.ExpirySource)
	}
}

func TestBasicRawNeedsUsableSecret(t *testing.T) {
	for _, sec := range []string{"", "key\r\nX-Injected: 1"} {
		ep := newEndpoint(t, reply{Body: okBody})
		c := newTestClient(t, ep.URL, func(cfg *Config) { cfg.AuthStyle, cfg.ClientSecret = AuthBasicRaw, secret.New(sec) })
		_, err := c.ClientCredentials(context.Background())
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeInvalidConfig || !IsPermanent(err) || ep.count() != 0 {
			t.Errorf("secret %q: err = %v, requests = %d", sec, err, ep.count())
		}
		if sec != "" && strings.Contains(err.Error(), "key") {
			t.Errorf("error leaks the secret: %v", err)
		}
	}
}
