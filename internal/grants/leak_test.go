package grants

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/secret"
)

// The values tokend sends or receives in the leak tests. Every one of them is
// echoed back by some misbehaving provider below.
const (
	leakClientSecret = "CS-8f3a9c-client-sécret"
	leakRefresh      = "RT-4b1d77-refresh-value"
	leakCode         = "CODE-aa11-authorization"
	leakVerifier     = "VERIFIER-bb22-pkce-value"
	leakAccess       = "AT-echo-77ee-access-value"
	leakNewRefresh   = "RT-new-99ff-rotated-value"
)

var leakValues = []string{leakClientSecret, leakRefresh, leakCode, leakVerifier, leakAccess, leakNewRefresh}

// echoEndpoint is a misbehaving provider: it replaces {SENT} in its reply
// with every credential value it received (body fields, the raw and the
// decoded Authorization header), so the test proves tokend redacts them.
func echoEndpoint(t *testing.T, rep reply) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		var sent []string
		for _, k := range []string{"refresh_token", "code", "code_verifier", "client_secret", "client_assertion"} {
			if v := form.Get(k); v != "" {
				sent = append(sent, v)
			}
		}
		if auth := strings.TrimPrefix(r.Header.Get("Authorization"), "Basic "); auth != "" {
			sent = append(sent, auth)
			if dec, err := base64.StdEncoding.DecodeString(auth); err == nil {
				if _, pw, ok := strings.Cut(string(dec), ":"); ok {
					pw, _ = url.QueryUnescape(pw)
					sent = append(sent, pw)
				}
			}
		}
		echo := strings.Join(sent, " ")
		if rep.Type == "application/x-www-form-urlencoded" {
			echo = url.QueryEscape(echo)
		}
		if rep.Type != "" {
			w.Header().Set("Content-Type", rep.Type)
		}
		w.WriteHeader(rep.Status)
		_, _ = io.WriteString(w, strings.ReplaceAll(rep.Body, "{SENT}", echo))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestErrorsNeverContainSecrets(t *testing.T) {
	pad := strings.Repeat("p", maxDescription-5) // a secret straddling the 200-character cut
	issued := leakAccess + " " + leakNewRefresh
	scenarios := []reply{
		{Status: 400, Body: `{"error":"invalid_grant","error_description":"you sent {SENT}, revoked"}`},
		{Status: 400, Body: `{"error":"{SENT}","error_description":"{SENT}"}`},
		{Status: 400, Body: `{"error":"invalid_grant","error_description":"` + pad + `{SENT}"}`},
		{Status: 401, Type: "application/x-www-form-urlencoded", Body: "error=invalid_client&error_description={SENT}"},
		{Status: 403, Body: `{"type":"list","data":[{"type":"error","code":"access-denied","title":"{SENT}","detail":"key {SENT}"}]}`},
		{Status: 200, Body: `{"access_token":"` + leakAccess + `","refresh_token":"` + leakNewRefresh + `","error":"server_error","error_description":"issued ` + issued + ` for {SENT}"}`},
		{Status: 200, Body: `{"access_token":"` + leakAccess + `","error":"` + leakAccess + `"}`},
		{Status: 200, Body: `{"refresh_token":"` + leakNewRefresh + `","expires_in":60}`},
		{Status: 200, Body: `{"access_token":"` + leakAccess + `\n","refresh_token":"` + leakNewRefresh + `"}`},
		{Status: 200, Type: "text/html", Body: "<html>{SENT} " + issued + "</html>"},
		{Status: 500, Type: "text/html", Body: "<html>{SENT} " + issued + "</html>"},
		{Status: 400, Body: `{"error":"invalid_request","access_token":"` + leakAccess + `","error_description":"` + leakAccess + `"}`},
		{Status: 400, Body: `{"error":"invalid_grant","error_description":"{SENT}` + strings.Repeat(" ", maxBodySize) + `"}`},
	}
	calls := map[string]func(*Client) error{
		"refresh": func(c *Client) error { _, err := c.Refresh(context.Background(), secret.New(leakRefresh)); return err },
		"code": func(c *Client) error {
			_, err := c.ExchangeCode(context.Background(), secret.New(leakCode), "https://app/cb", leakVerifier)
			return err
		},
	}
	for _, style := range []AuthStyle{AuthBasic, AuthPost, AuthBasicRaw} {
		for name, call := range calls {
			for i, rep := range scenarios {
				t.Run(fmt.Sprintf("%s/%s/%d", style, name, i), func(t *testing.T) {
					srv := echoEndpoint(t, rep)
					c := newTestClient(t, srv.URL, func(cfg *Config) {
						cfg.AuthStyle, cfg.ClientSecret = style, secret.New(leakClientSecret)
					})
					err := call(c)
					if err == nil {
						t.Fatal("want an error")
					}
					assertNoLeak(t, err)
				})
			}
		}
	}
}

func TestNetworkErrorsNeverContainSecrets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newTestClient(t, "http://"+addr, func(cfg *Config) {
		cfg.AuthStyle, cfg.ClientSecret = AuthPost, secret.New(leakClientSecret)
	})
	_, err = c.Refresh(context.Background(), secret.New(leakRefresh))
	if ClassOf(err) != ClassTransient {
		t.Fatalf("err = %v", err)
	}
	assertNoLeak(t, err)
}

// assertNoLeak checks every way an error might be printed or logged.
func assertNoLeak(t *testing.T, err error) {
	t.Helper()
	outs := []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)}
	if e, ok := err.(*Error); ok {
		outs = append(outs, fmt.Sprintf("%+v", *e), e.Description, e.Code)
	}
	for _, out := range outs {
		for _, v := range leakValues {
			// Compare the printable form too: descriptions are reduced to ASCII.
			for _, form := range []string{v, printable(v), v[:10]} {
				if strings.Contains(out, form) {
					t.Fatalf("error output contains %q:\n%s", form, out)
				}
			}
		}
	}
}

// TestAssertionsAndKeysNeverInErrors: the key-based auth styles against the
// same misbehaving providers, which echo the client assertion back in
// every place an error could pick it up: no error holds the assertion
// (whole or its signature), the signing key, the client secret or a
// token of the answer.
func TestAssertionsAndKeysNeverInErrors(t *testing.T) {
	pad := strings.Repeat("p", maxDescription-5)
	scenarios := []reply{
		{Status: 400, Body: `{"error":"invalid_client","error_description":"assertion {SENT} refused"}`},
		{Status: 401, Body: `{"error":"{SENT}","error_description":"` + pad + `{SENT}"}`},
		{Status: 401, Type: "application/x-www-form-urlencoded", Body: "error=invalid_client&error_description={SENT}"},
		{Status: 200, Body: `{"access_token":"` + leakAccess + `","error":"invalid_client","error_description":"{SENT}"}`},
		{Status: 200, Type: "text/html", Body: "<html>{SENT} " + leakAccess + "</html>"},
		{Status: 500, Body: `{"error":"server_error","access_token":"` + leakAccess + `","error_description":"` + leakAccess + ` {SENT}"}`},
	}
	keyFile := keyPEM(t, testKeys().rsa)
	styles := map[AuthStyle]func(*Config){
		AuthPrivateKeyJWT: func(cfg *Config) { cfg.AuthOptions = pkjOptions(t, testKeys().rsa, nil, nil) },
		AuthClientSecretJWT: func(cfg *Config) {
			cfg.ClientSecret = secret.New(leakClientSecret + "-padded-to-32-bytes")
		},
		AuthClientAssertion: func(cfg *Config) {
			p := writeFile(t, t.TempDir(), "token", []byte("eyJ.projected-PT-3c9e.sig-77aa"), 0o644)
			cfg.AuthOptions = &ClientAssertionOptions{ClientAssertionFile: p}
		},
	}
	for style, fixture := range styles {
		for i, rep := range scenarios {
			t.Run(fmt.Sprintf("%s/%d", style, i), func(t *testing.T) {
				srv := echoEndpoint(t, rep)
				var sent string
				c := newTestClient(t, srv.URL, func(cfg *Config) { cfg.AuthStyle = style; fixture(cfg) })
				// Capture what tokend sends, through the same client.
				c.http.Transport = captureAssertion{inner: http.DefaultTransport, seen: &sent}
				_, err := c.ClientCredentials(context.Background())
				if err == nil {
					t.Fatal("want an error")
				}
				assertNoLeak(t, err)
				if sent == "" {
					t.Fatal("no assertion sent")
				}
				sig := sent[strings.LastIndexByte(sent, '.')+1:]
				for _, out := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
					for name, v := range map[string]string{"assertion": sent, "signature": sig, "key": string(keyFile[30:90])} {
						if strings.Contains(out, v) {
							t.Fatalf("error output holds the %s:\n%s", name, out)
						}
					}
				}
			})
		}
	}
}

// captureAssertion records the client_assertion of the request it sends.
type captureAssertion struct {
	inner http.RoundTripper
	seen  *string
}

func (c captureAssertion) RoundTrip(r *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(b))
	*c.seen = form.Get("client_assertion")
	r.Body = io.NopCloser(strings.NewReader(string(b)))
	return c.inner.RoundTrip(r)
}
