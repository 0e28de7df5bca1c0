package fakeprovider

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStateSurvivesRestart(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "provider.json")
	p1, url1 := newTestProvider(t, Options{StateFile: path, Now: clk.Now})
	p1.AddClient("app", "s")
	p1.AddClient("svc", "svc-s")
	rt0 := p1.IssueRefreshToken("app", "read write")
	r1 := mustRefresh(t, url1, "app", "s", rt0)
	doomed := p1.IssueRefreshToken("app", "read")
	doomedNext := mustRefresh(t, url1, "app", "s", doomed).str("refresh_token")
	wantError(t, refresh(t, url1, "app", "s", doomed), 400, "invalid_grant") // revokes that family
	cc := send(t, url1, map[string]string{"grant_type": "client_credentials"}, req{basic: basicAuth("svc", "svc-s")})
	if cc.Status != 200 {
		t.Fatalf("client_credentials: %s", cc.Raw)
	}

	// Every change is on disk before the response: no Close needed.
	p2, url2 := newTestProvider(t, Options{StateFile: path, Now: clk.Now})
	if !p2.ActiveAccessToken(r1.str("access_token")) || !p2.ActiveAccessToken(cc.str("access_token")) {
		t.Error("access tokens lost across restart")
	}
	wantError(t, refresh(t, url2, "app", "s", doomedNext), 400, "invalid_grant") // revocation kept
	wantError(t, refresh(t, url2, "app", "s", rt0), 400, "invalid_grant")        // used mark kept: a reuse
	if st := p2.Stats(); st.Reuses != 2 || st.FamiliesRevoked != 2 || st.Refreshes != 2 || st.ClientCredentials != 1 {
		t.Errorf("stats after restart = %+v", st)
	}
	if len(p2.IssuedRefreshTokens()) != 4 || len(p2.Presented()) != 5 {
		t.Errorf("logs after restart: issued %d presented %d", len(p2.IssuedRefreshTokens()), len(p2.Presented()))
	}

	// A third incarnation sees p2's revocation of the first family too.
	if err := p2.Close(); err != nil {
		t.Fatal(err)
	}
	p3, url3 := newTestProvider(t, Options{StateFile: path, Now: clk.Now})
	wantError(t, refresh(t, url3, "app", "s", r1.str("refresh_token")), 400, "invalid_grant")
	if len(p3.CurrentRefreshToken("app")) != 0 {
		t.Error("revoked families have live tokens after restart")
	}
	// Clients survive: a fresh family works without AddClient.
	mustRefresh(t, url3, "app", "s", p3.IssueRefreshToken("app", ""))

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the state file (no temp leftovers)", len(entries))
	}
	data, _ := os.ReadFile(path)
	var decoded map[string]any
	if err := json.Unmarshal(data, &decoded); err != nil || decoded["version"] != float64(stateVersion) {
		t.Errorf("state file is not versioned JSON: %v", err)
	}
}

func TestLoadState(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	missing := filepath.Join(dir, "missing.json")
	p, err := New(Options{StateFile: missing})
	if err != nil {
		t.Fatalf("missing file: %v", err)
	}
	if st := p.Stats(); st != (Stats{}) || len(p.IssuedRefreshTokens()) != 0 {
		t.Error("missing file did not start empty")
	}
	if _, err := os.Stat(missing); err != nil {
		t.Errorf("New did not write the state file: %v", err)
	}
	corrupt := map[string]string{
		"not JSON":       "{not json",
		"empty":          "",
		"wrong version":  `{"version":99}`,
		"unknown field":  `{"version":1,"surprise":true}`,
		"trailing data":  `{"version":1} {}`,
		"dangling token": `{"version":1,"refresh_tokens":{"rt_x":{"family":"f9"}},"issued_refresh_tokens":["rt_x"]}`,
		"issued list":    `{"version":1,"issued_refresh_tokens":["rt_x"]}`,
		"null client":    `{"version":1,"clients":{"a":null}}`,
	}
	for name, content := range corrupt {
		path := write(strings.ReplaceAll(name, " ", "_")+".json", content)
		if _, err := New(Options{StateFile: path}); err == nil {
			t.Errorf("%s: New succeeded", name)
		} else if !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
	if _, err := New(Options{StateFile: filepath.Join(dir, "no-such-dir", "p.json")}); err == nil {
		t.Error("unwritable state file location accepted")
	}
}

func TestSaveFailureIsReported(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p, tokenURL := newTestProvider(t, Options{StateFile: filepath.Join(dir, "p.json")})
	p.AddClient("app", "s")
	rt := p.IssueRefreshToken("app", "")
	if p.Err() != nil {
		t.Fatalf("Err before failure: %v", p.Err())
	}
	// Replace the directory with a file: every save now fails.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	wantError(t, refresh(t, tokenURL, "app", "s", rt), 500, "server_error")
	if p.Err() == nil {
		t.Error("Err does not report the failed save")
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p.AddClient("other", "o") // the next change saves everything again
	if p.Err() != nil {
		t.Errorf("Err after recovery: %v", p.Err())
	}
}
