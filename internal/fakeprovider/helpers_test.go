package fakeprovider

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/testkit"
)

// newClock returns the tests' injectable clock, at a fixed start.
func newClock() *testkit.Clock {
	return testkit.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
}

// newTestProvider starts p behind an httptest server on 127.0.0.1 and
// returns the token URL.
func newTestProvider(t *testing.T, opts Options) (*Provider, string) {
	t.Helper()
	p, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(func() {
		if err := p.Close(); err != nil { // first: it interrupts injected delays
			t.Errorf("Close: %v", err)
		}
		srv.Close()
	})
	return p, srv.URL + "/token"
}

// result is a decoded token-endpoint answer.
type result struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (r result) str(key string) string {
	s, _ := r.Body[key].(string)
	return s
}

// req describes how to send a token request.
type req struct {
	basic       string // full Authorization header value
	json        bool   // JSON body instead of form
	contentType string // overrides the body's content type
	method      string // default POST
	rawBody     *string
}

// basicAuth encodes per RFC 6749 §2.3.1 (form-urlencode, then Basic).
func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

func send(t *testing.T, tokenURL string, params map[string]string, o req) result {
	t.Helper()
	res, err := trySend(t, tokenURL, params, o)
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	return res
}

func trySend(t *testing.T, tokenURL string, params map[string]string, o req) (result, error) {
	t.Helper()
	var body []byte
	ct := "application/x-www-form-urlencoded"
	if o.json {
		body, _ = json.Marshal(params)
		ct = "application/json"
	} else {
		v := url.Values{}
		for k, s := range params {
			v.Set(k, s)
		}
		body = []byte(v.Encode())
	}
	if o.rawBody != nil {
		body = []byte(*o.rawBody)
	}
	if o.contentType != "" {
		ct = o.contentType
	}
	method := o.method
	if method == "" {
		method = http.MethodPost
	}
	r, err := http.NewRequestWithContext(t.Context(), method, tokenURL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", ct)
	if o.basic != "" {
		r.Header.Set("Authorization", o.basic)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return result{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{}, err
	}
	res := result{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &res.Body)
	return res, nil
}

// refresh sends a refresh_token grant with Basic client authentication.
func refresh(t *testing.T, tokenURL, id, secret, rt string) result {
	t.Helper()
	return send(t, tokenURL, map[string]string{"grant_type": "refresh_token", "refresh_token": rt}, req{basic: basicAuth(id, secret)})
}

// mustRefresh refreshes and fails the test unless a new refresh token comes back.
func mustRefresh(t *testing.T, tokenURL, id, secret, rt string) result {
	t.Helper()
	res := refresh(t, tokenURL, id, secret, rt)
	if res.Status != http.StatusOK || res.str("refresh_token") == "" {
		t.Fatalf("refresh: status %d body %s", res.Status, res.Raw)
	}
	return res
}

// wantError asserts an OAuth error response.
func wantError(t *testing.T, res result, status int, code string) {
	t.Helper()
	if res.Status != status || res.str("error") != code {
		t.Fatalf("got status %d body %s, want %d %s", res.Status, res.Raw, status, code)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q", ct)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("error Cache-Control = %q", cc)
	}
	if _, leaked := res.Body["access_token"]; leaked {
		t.Errorf("error response carries an access token")
	}
}

func hasPrefix(tok, prefix string) bool {
	return strings.HasPrefix(tok, prefix) && len(tok) == len(prefix)+43 // 32 bytes, unpadded base64url
}
