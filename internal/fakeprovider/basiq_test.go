package fakeprovider

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const basiqKey = "MjQ1ZjE3YmUtZTEyMy00ZDUyOmFiY2RlZg==" // as the dashboard shows it

func basiqSend(t *testing.T, url, auth, version, ctype, body string) (int, map[string]any) {
	t.Helper()
	r, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	if version != "" {
		r.Header.Set("basiq-version", version)
	}
	r.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// basiqCode digs the code out of Basiq's error envelope.
func basiqCode(m map[string]any) string {
	if m["type"] != "list" {
		return ""
	}
	data, _ := m["data"].([]any)
	if len(data) == 0 {
		return ""
	}
	e, _ := data[0].(map[string]any)
	if e["type"] != "error" {
		return ""
	}
	c, _ := e["code"].(string)
	return c
}

func TestBasiqWireFormat(t *testing.T) {
	clk := newClock()
	b := NewBasiq(0, clk.Now)
	b.AddKey(basiqKey)
	srv := httptest.NewServer(b.Handler())
	t.Cleanup(srv.Close)
	url, form := srv.URL+"/token", "application/x-www-form-urlencoded"

	status, m := basiqSend(t, url, "Basic "+basiqKey, "2.0", form, "scope=SERVER_ACCESS")
	tok, _ := m["access_token"].(string)
	if status != 200 || m["token_type"] != "Bearer" || m["expires_in"] != float64(3600) || tok == "" || m["refresh_token"] != nil {
		t.Fatalf("documented request: %d %v", status, m)
	}
	if !b.ValidToken(tok) {
		t.Error("issued token not valid")
	}
	clk.Add(time.Hour)
	if b.ValidToken(tok) {
		t.Error("token valid after expires_in")
	}
	tests := []struct {
		name, auth, version, ctype, body string
		status                           int
		code                             string
	}{
		{"client credentials too", "Basic " + basiqKey, "3.0", form, "grant_type=client_credentials&scope=CLIENT_ACCESS", 200, ""},
		{"key re-encoded", "Basic " + base64.StdEncoding.EncodeToString([]byte(":"+basiqKey)), "2.0", form, "scope=SERVER_ACCESS", 400, "parameter-not-valid"},
		{"no key", "", "2.0", form, "scope=SERVER_ACCESS", 400, "parameter-not-valid"},
		{"no version", "Basic " + basiqKey, "", form, "scope=SERVER_ACCESS", 400, "parameter-not-valid"},
		{"old version", "Basic " + basiqKey, "1.0", form, "scope=SERVER_ACCESS", 400, "parameter-not-valid"},
		{"json body", "Basic " + basiqKey, "2.0", "application/json", `{"scope":"SERVER_ACCESS"}`, 400, "invalid-request"},
		{"bad scope", "Basic " + basiqKey, "2.0", form, "scope=ALL", 400, "invalid-request"},
		{"extra parameter", "Basic " + basiqKey, "2.0", form, "scope=SERVER_ACCESS&client_id=x", 400, "invalid-request"},
		{"other grant", "Basic " + basiqKey, "2.0", form, "grant_type=password&scope=SERVER_ACCESS", 400, "unsupported-grant-type"},
	}
	for _, tc := range tests {
		status, m := basiqSend(t, url, tc.auth, tc.version, tc.ctype, tc.body)
		if status != tc.status || basiqCode(m) != tc.code {
			t.Errorf("%s: %d %v, want %d %s", tc.name, status, m, tc.status, tc.code)
		}
	}
	b.SetAccount(basiqKey, BasiqDisabled)
	if status, m := basiqSend(t, url, "Basic "+basiqKey, "2.0", form, "scope=SERVER_ACCESS"); status != 403 || basiqCode(m) != "access-denied" {
		t.Errorf("disabled: %d %v", status, m)
	}
	b.SetAccount(basiqKey, BasiqDeleted)
	if status, m := basiqSend(t, url, "Basic "+basiqKey, "2.0", form, "scope=SERVER_ACCESS"); status != 404 || basiqCode(m) != "parameter-not-valid" {
		t.Errorf("deleted: %d %v", status, m)
	}
	b.FailNext(500)
	if status, m := basiqSend(t, url, "Basic "+basiqKey, "2.0", form, "scope=SERVER_ACCESS"); status != 500 || basiqCode(m) != "internal-server-error" {
		t.Errorf("injected 500: %d %v", status, m)
	}
	if n := len(b.Requests()); n != 3+len(tests)+1 {
		t.Errorf("recorded %d requests", n)
	}
	if b.Issued() != 2 {
		t.Errorf("Issued = %d, want 2", b.Issued())
	}
}
