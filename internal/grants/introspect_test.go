package grants

import (
	"context"
	"errors"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/secret"
)

func introspectClient(t *testing.T, e *endpoint, edit func(*Config)) *Client {
	t.Helper()
	return newTestClient(t, e.URL, func(cfg *Config) {
		cfg.Grant = GrantRefreshToken
		cfg.IntrospectionURL = e.URL + "/oauth/introspect/"
		cfg.AuthStyle = AuthPost
		cfg.DefaultLifetime = time.Hour
		if edit != nil {
			edit(cfg)
		}
	})
}

func TestIntrospectRequestAndAnswer(t *testing.T) {
	exp := testNow.Add(6 * 24 * time.Hour).Unix()
	e := newEndpoint(t, reply{Body: `{"active":true,"scope":"library sales","exp":` + unixStr(exp) +
		`,"client_id":"client-id","username":"ops@example.com"}`})
	c := introspectClient(t, e, func(cfg *Config) { cfg.Body = BodyJSON }) // introspection stays form (RFC 7662 §2.1)
	if !c.CanIntrospect() {
		t.Fatal("CanIntrospect = false")
	}
	in, err := c.Introspect(context.Background(), secret.New("at-to-check"), "access_token")
	if err != nil {
		t.Fatal(err)
	}
	if !in.Active || in.Scope != "library sales" || in.Username != "ops@example.com" || in.ClientID != "client-id" ||
		!in.ExpiresAt.Equal(time.Unix(exp, 0)) {
		t.Errorf("introspection = %+v", in)
	}
	r := e.only(t)
	v, _ := url.ParseQuery(r.Body)
	if r.Path != "/oauth/introspect/" || r.Method != "POST" || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Errorf("request %s %s %s", r.Method, r.Path, r.Header.Get("Content-Type"))
	}
	if v.Get("token") != "at-to-check" || v.Get("token_type_hint") != "access_token" ||
		v.Get("client_id") != "client-id" || v.Get("client_secret") != "client-secret-value" || v.Has("grant_type") {
		t.Errorf("body = %v", v)
	}
}

func TestIntrospectBasicAuthAndInactive(t *testing.T) {
	e := newEndpoint(t, reply{Body: `{"active":false}`})
	c := introspectClient(t, e, func(cfg *Config) { cfg.AuthStyle = AuthBasic })
	in, err := c.Introspect(context.Background(), secret.New("rt-x"), "")
	if err != nil || in.Active {
		t.Fatalf("got %+v, %v; want inactive, no error", in, err)
	}
	r := e.only(t)
	v, _ := url.ParseQuery(r.Body)
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Basic ") || v.Has("client_secret") || v.Has("token_type_hint") {
		t.Errorf("basic-auth introspection request: header %q body %v", r.Header.Get("Authorization"), v)
	}
}

func TestIntrospectErrors(t *testing.T) {
	tests := []struct {
		name  string
		rep   reply
		code  string
		class Class
	}{
		{"invalid client", reply{Status: 401, Body: `{"error":"invalid_client","error_description":"bad at-secret-token"}`}, "invalid_client", ClassPermanent},
		{"no active member", reply{Body: `{"scope":"x"}`}, CodeInvalidResponse, ClassTransient},
		{"html", reply{Body: `<html>`, Type: "text/html"}, CodeInvalidResponse, ClassTransient},
		{"unavailable", reply{Status: 503, Body: ``, Header: map[string]string{"Retry-After": "7"}}, CodeHTTPStatus, ClassTransient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEndpoint(t, tc.rep)
			c := introspectClient(t, e, nil)
			_, err := c.Introspect(context.Background(), secret.New("at-secret-token"), "access_token")
			var ge *Error
			if !errors.As(err, &ge) || ge.Code != tc.code || ge.Class != tc.class || ge.Endpoint != "introspection" {
				t.Fatalf("err = %#v", err)
			}
			if s := err.Error(); !strings.Contains(s, "introspection endpoint") || strings.Contains(s, "at-secret-token") ||
				strings.Contains(s, "client-secret-value") {
				t.Errorf("error text %q", s)
			}
			if tc.rep.Status == 503 && ge.RetryAfter != 7*time.Second {
				t.Errorf("RetryAfter = %v", ge.RetryAfter)
			}
		})
	}
	c := newTestClient(t, "http://127.0.0.1:1", nil)
	if _, err := c.Introspect(context.Background(), secret.New("x"), ""); !errors.Is(err, ErrNoIntrospection) || !IsPermanent(err) {
		t.Errorf("without introspection_url: %v", err)
	}
	if _, err := New(Config{Name: "x", Grant: GrantRefreshToken, TokenURL: "https://a.example/t", IntrospectionURL: "http://a.example/i"}); err == nil ||
		!strings.Contains(err.Error(), "introspection_url uses http://") {
		t.Errorf("insecure introspection_url accepted: %v", err)
	}
}

func TestFillExpiry(t *testing.T) {
	exp := testNow.Add(7 * 24 * time.Hour)
	e := newEndpoint(t, reply{Body: `{"active":true,"exp":` + unixStr(exp.Unix()) + `}`})
	c := introspectClient(t, e, nil)
	ctx := context.Background()
	def := Token{AccessToken: secret.New("at"), IssuedAt: testNow, ExpiresAt: testNow.Add(time.Hour), ExpirySource: "default"}

	got, err := c.FillExpiry(ctx, def)
	if err != nil || !got.ExpiresAt.Equal(exp) || got.ExpirySource != "introspection" {
		t.Fatalf("FillExpiry = %+v, %v", got, err)
	}
	// A token whose response said expires_in is left alone, without a call.
	known := def
	known.ExpirySource = "expires_in"
	if got, err := c.FillExpiry(ctx, known); err != nil || !reflect.DeepEqual(got, known) || e.count() != 1 {
		t.Errorf("expires_in token: %+v %v (requests %d)", got, err, e.count())
	}
	// Inactive or failing introspection keeps the default and says why.
	for _, rep := range []reply{{Body: `{"active":false}`}, {Status: 500}, {Body: `{"active":true}`}} {
		e := newEndpoint(t, rep)
		c := introspectClient(t, e, nil)
		got, err := c.FillExpiry(ctx, def)
		if err == nil || !reflect.DeepEqual(got, def) {
			t.Errorf("reply %+v: got %+v, err %v; want the token unchanged and an error", rep, got, err)
		}
	}
	// Without an introspection endpoint nothing happens.
	plain := newTestClient(t, "http://127.0.0.1:1", nil)
	if got, err := plain.FillExpiry(ctx, def); err != nil || !reflect.DeepEqual(got, def) {
		t.Errorf("no endpoint: %+v %v", got, err)
	}
}

func unixStr(n int64) string { return strconv.FormatInt(n, 10) }
