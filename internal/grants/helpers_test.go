package grants

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/secret"
)

// testNow is the injected clock of every test client.
var testNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// request is what the fake endpoint saw.
type request struct {
	Method string
	Path   string
	Header http.Header
	Body   string
}

// reply is what the fake endpoint answers.
type reply struct {
	Status int
	Type   string // Content-Type; "" = application/json
	Body   string
	Header map[string]string
}

// endpoint is a fake token endpoint on 127.0.0.1 that records requests and
// answers with a fixed reply.
type endpoint struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []request
}

func newEndpoint(t *testing.T, rep reply) *endpoint {
	t.Helper()
	e := &endpoint{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.reqs = append(e.reqs, request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: string(b)})
		e.mu.Unlock()
		ct := rep.Type
		if ct == "" {
			ct = "application/json"
		}
		w.Header().Set("Content-Type", ct)
		for k, v := range rep.Header {
			w.Header().Set(k, v)
		}
		status := rep.Status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, rep.Body)
	}))
	t.Cleanup(e.Close)
	return e
}

// only returns the single request the endpoint received.
func (e *endpoint) only(t *testing.T) request {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.reqs) != 1 {
		t.Fatalf("endpoint got %d requests, want 1", len(e.reqs))
	}
	return e.reqs[0]
}

func (e *endpoint) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.reqs)
}

// newTestClient builds a client for url with a fixed clock; edit adjusts cfg.
func newTestClient(t *testing.T, url string, edit func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		Name:         "test-cred",
		Grant:        GrantClientCredentials,
		TokenURL:     url + "/oauth/token",
		ClientID:     "client-id",
		ClientSecret: secret.New("client-secret-value"),
		Now:          func() time.Time { return testNow },
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// okBody is a minimal successful token response.
const okBody = `{"access_token":"at-new-value","token_type":"bearer","expires_in":3600}`

// makeJWT builds an unsigned-looking JWT with the given claims JSON.
func makeJWT(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc([]byte(claims)) + "." + enc([]byte("signature"))
}

// mustJSON decodes a JSON object of strings.
func mustJSON(t *testing.T, s string) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("body %q is not a JSON object of strings: %v", s, err)
	}
	return m
}

func newRT() secret.Secret { return secret.New("rt-current-value") }
