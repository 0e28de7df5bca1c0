package status

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/state"
)

// call makes one raw HTTP request and returns status, content type and body.
func call(t *testing.T, ts *testServer, method, path, auth, body string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+ts.srv.Addr()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

func TestReadEndpoints(t *testing.T) {
	ts := startServer(t, "127.0.0.1:0", healthyBackend())

	code, ct, body := call(t, ts, "GET", "/healthz", "", "")
	if code != 200 || string(body) != "ok\n" || !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("/healthz: %d %q %q", code, ct, body)
	}

	code, ct, body = call(t, ts, "GET", "/readyz", "", "")
	r := decode[ReadyReport](t, body)
	if code != 200 || ct != "application/json" || !r.Ready || !r.StoreOpen || r.Credentials != 2 || len(r.NotReady) != 0 {
		t.Fatalf("/readyz healthy: %d %s", code, body)
	}

	code, _, body = call(t, ts, "GET", "/v1/credentials", "", "")
	list := decode[[]scheduler.CredentialStatus](t, body)
	if code != 200 || len(list) != 2 || list[0].Name != "app" || list[0].Status != state.StatusOK || list[0].Generation != 3 ||
		!list[0].ExpiresAt.Equal(testNow.Add(time.Hour)) || list[0].Sinks[0].Name != "file:/run/tokend/app.json" ||
		list[1].LastError == nil || list[1].LastError.Code != "network" || list[1].Attempt != 2 {
		t.Fatalf("/v1/credentials: %d %s", code, body)
	}
	// Field names are the documented ones.
	raw := decode[[]map[string]any](t, body)
	for _, k := range []string{"name", "status", "expires_at", "next_refresh", "generation", "token_fingerprint", "sinks"} {
		if _, ok := raw[0][k]; !ok {
			t.Errorf("credential JSON lacks %q: %s", k, body)
		}
	}
	if _, ok := raw[0]["last_error"]; ok {
		t.Error("last_error present without an error")
	}

	code, _, body = call(t, ts, "GET", "/v1/credentials/svc", "", "")
	if one := decode[scheduler.CredentialStatus](t, body); code != 200 || one.Name != "svc" || one.Status != state.StatusBackoff {
		t.Fatalf("/v1/credentials/svc: %d %s", code, body)
	}
	code, _, body = call(t, ts, "GET", "/v1/credentials/nope", "", "")
	if e := decode[errorBody](t, body); code != 404 || e.Error != `unknown credential "nope"` {
		t.Fatalf("unknown credential: %d %s", code, body)
	}

	code, _, body = call(t, ts, "GET", "/metrics", "", "")
	if code != 200 || string(body) != metricsBody {
		t.Fatalf("/metrics: %d %q", code, body)
	}
	if code, _, _ = call(t, ts, "POST", "/healthz", "", ""); code != http.StatusMethodNotAllowed {
		t.Fatalf("POST /healthz: %d", code)
	}
	if code, _, _ = call(t, ts, "GET", "/v1/reload", "", ""); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET /v1/reload: %d", code)
	}
}

func TestReadyzNamesWhatIsNotReady(t *testing.T) {
	ts := startServer(t, "127.0.0.1:0", healthyBackend())
	ts.b.set(func(b *fakeBackend) {
		b.sts[1].ExpiresAt = testNow.Add(-time.Minute) // backoff with no time left
		b.sts = append(b.sts, scheduler.CredentialStatus{Name: "gone", Status: state.StatusNeedsReauth,
			LastError: &state.ErrorInfo{Class: "permanent", Code: "invalid_grant"}})
	})
	code, _, body := call(t, ts, "GET", "/readyz", "", "")
	r := decode[ReadyReport](t, body)
	if code != 503 || r.Ready || len(r.NotReady) != 2 || r.NotReady[0].Name != "svc" || r.NotReady[1].Name != "gone" ||
		!strings.Contains(r.NotReady[0].Reason, "expired") || !strings.Contains(r.NotReady[1].Reason, "invalid_grant") ||
		r.NotReady[1].Status != state.StatusNeedsReauth {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	// A closed store is not ready even with healthy credentials.
	ts.b.set(func(b *fakeBackend) { b.sts = healthyBackend().sts; b.storeOpen = false })
	code, _, body = call(t, ts, "GET", "/readyz", "", "")
	if r := decode[ReadyReport](t, body); code != 503 || r.StoreOpen || len(r.NotReady) != 0 {
		t.Fatalf("/readyz store closed: %d %s", code, body)
	}
}

func TestAdminEndpointsRequireTheToken(t *testing.T) {
	ts := startServer(t, "127.0.0.1:0", healthyBackend())
	good := "Bearer " + ts.admin.Reveal()
	for _, ep := range []struct{ path, body string }{
		{"/v1/credentials/app/refresh", ""},
		{"/v1/reload", ""},
		{"/v1/credentials/app/import", `{"refresh_token":"rt-x"}`},
	} {
		for _, auth := range []string{"", "Bearer wrong", "Basic " + ts.admin.Reveal(), "Bearer " + ts.admin.Reveal()[:63]} {
			code, _, body := call(t, ts, "POST", ep.path, auth, ep.body)
			if code != 401 || !strings.Contains(string(body), "admin token required") {
				t.Fatalf("POST %s with %q: %d %s", ep.path, auth, code, body)
			}
		}
	}
	if ts.b.reloads != 0 || len(ts.b.refreshed) != 0 || len(ts.b.imported) != 0 {
		t.Fatal("a rejected admin request reached the backend")
	}
	for _, e := range ts.logs.All() {
		if strings.Contains(e.Message+e.ContextMap()["path"].(string), ts.admin.Reveal()[:16]) {
			t.Fatal("the admin token reached the log")
		}
	}
	if n := ts.logs.FilterMessage("admin request rejected: missing or wrong bearer token").Len(); n != 12 {
		t.Fatalf("%d rejections logged, want 12", n)
	}

	code, _, body := call(t, ts, "POST", "/v1/credentials/app/refresh", good, "")
	if a := decode[ActionResponse](t, body); code != 202 || a.Credential != "app" || len(ts.b.refreshed) != 1 {
		t.Fatalf("refresh: %d %s", code, body)
	}
	if code, _, _ = call(t, ts, "POST", "/v1/credentials/nope/refresh", good, ""); code != 404 {
		t.Fatalf("refresh unknown: %d", code)
	}

	code, _, body = call(t, ts, "POST", "/v1/reload", good, "")
	if a := decode[ActionResponse](t, body); code != 200 || a.Result != "reloaded" || len(a.Credentials) != 2 {
		t.Fatalf("reload: %d %s", code, body)
	}
	ts.b.set(func(b *fakeBackend) { b.reloadErr = errTest("credential \"x\".token_url: is required") })
	code, _, body = call(t, ts, "POST", "/v1/reload", good, "")
	if e := decode[errorBody](t, body); code != 422 || !strings.Contains(e.Error, "token_url: is required") {
		t.Fatalf("invalid reload: %d %s", code, body)
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }

func TestImportEndpoint(t *testing.T) {
	ts := startServer(t, "127.0.0.1:0", healthyBackend())
	good := "Bearer " + ts.admin.Reveal()
	exp := testNow.Add(time.Hour)
	body := `{"refresh_token":"rt-imported-secret","access_token":"at-imported-secret","token_type":"Bearer","scope":"read","expires_at":"` +
		exp.Format(time.RFC3339) + `"}`
	code, _, resp := call(t, ts, "POST", "/v1/credentials/app/import", good, body)
	st := decode[scheduler.CredentialStatus](t, resp)
	if code != 200 || st.Name != "app" || st.Generation != 4 {
		t.Fatalf("import: %d %s", code, resp)
	}
	got := ts.b.imported["app"]
	if got.RefreshToken.Reveal() != "rt-imported-secret" || got.AccessToken.Reveal() != "at-imported-secret" ||
		got.TokenType != "Bearer" || got.Scope != "read" || !got.ExpiresAt.Equal(exp) {
		t.Fatalf("backend got %+v", got)
	}
	if strings.Contains(string(resp), "imported-secret") {
		t.Fatal("a token in the import answer")
	}
	for _, e := range ts.logs.All() {
		for _, v := range e.ContextMap() {
			if s, ok := v.(string); ok && strings.Contains(s, "imported-secret") {
				t.Fatal("an imported token reached the log")
			}
		}
	}
	for _, c := range []struct {
		body string
		code int
		want string
	}{
		{`{}`, 400, "refresh_token or access_token is required"},
		{``, 400, "empty body"},
		{`{"refresh_token":"rt-secret-1","extra":1}`, 400, `unknown field "extra"`},
		{`{"refresh_token":"rt-secret-1","expires_at":"tomorrow"}`, 400, "RFC 3339"},
		{`{"refresh_token":rt-secret-1}`, 400, "not valid JSON"},
		{`{"refresh_token":1}`, 400, "wrong type"},
		{`{"refresh_token":"` + strings.Repeat("x", maxBody) + `"}`, 400, "too large"},
	} {
		code, _, resp := call(t, ts, "POST", "/v1/credentials/app/import", good, c.body)
		e := decode[errorBody](t, resp)
		if code != c.code || !strings.Contains(e.Error, c.want) || strings.Contains(e.Error, "secret-1") {
			t.Errorf("import %.40q: %d %s", c.body, code, resp)
		}
	}
	if code, _, _ := call(t, ts, "POST", "/v1/credentials/nope/import", good, body); code != 404 {
		t.Fatalf("import unknown: %d", code)
	}
	ts.b.set(func(b *fakeBackend) { b.sts[1].Status = state.StatusRefreshing })
	if code, _, resp := call(t, ts, "POST", "/v1/credentials/svc/import", good, body); code != 409 || !strings.Contains(string(resp), "try again") {
		t.Fatalf("import while refreshing: %d %s", code, resp)
	}
}

func TestReadiness(t *testing.T) {
	now := testNow
	tok := "0a1b2c3d"
	for _, c := range []struct {
		name  string
		st    scheduler.CredentialStatus
		ready bool
	}{
		{"ok", scheduler.CredentialStatus{Status: state.StatusOK, TokenFP: tok, ExpiresAt: now.Add(time.Hour)}, true},
		{"refreshing with time left", scheduler.CredentialStatus{Status: state.StatusRefreshing, TokenFP: tok, ExpiresAt: now.Add(time.Minute)}, true},
		{"first refresh in flight", scheduler.CredentialStatus{Status: state.StatusRefreshing, TokenFP: "none"}, false},
		{"backoff with time left", scheduler.CredentialStatus{Status: state.StatusBackoff, TokenFP: tok, ExpiresAt: now.Add(time.Second)}, true},
		{"backoff, unknown expiry", scheduler.CredentialStatus{Status: state.StatusBackoff, TokenFP: tok}, true},
		{"backoff, expired", scheduler.CredentialStatus{Status: state.StatusBackoff, TokenFP: tok, ExpiresAt: now}, false},
		{"backoff, never had a token", scheduler.CredentialStatus{Status: state.StatusBackoff, TokenFP: "none"}, false},
		{"backoff, no fingerprint", scheduler.CredentialStatus{Status: state.StatusBackoff}, false},
		{"needs reauth", scheduler.CredentialStatus{Status: state.StatusNeedsReauth, TokenFP: tok, ExpiresAt: now.Add(time.Hour)}, false},
		{"pending", scheduler.CredentialStatus{Status: state.StatusPending}, false},
	} {
		c.st.Name = "c"
		r := Readiness(true, []scheduler.CredentialStatus{c.st}, now)
		if r.Ready != c.ready || (len(r.NotReady) == 0) != c.ready {
			t.Errorf("%s: %+v", c.name, r)
		}
		if !c.ready && r.NotReady[0].Reason == "" {
			t.Errorf("%s: no reason", c.name)
		}
	}
	if r := Readiness(false, nil, now); r.Ready {
		t.Error("ready with the store closed")
	}
}
