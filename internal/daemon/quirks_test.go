package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/logging"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/syncbuf"
	"github.com/tokend/tokend/internal/testkit"
)

// TestKeptFieldsAndRefreshTokenExpiryThroughTheDaemon: a GitHub/OIDC-shaped
// provider answers with refresh_token_expires_in, id_token and instance_url
// (the id_token only on the first answer). The kept fields reach the json
// file sink under extra_fields and survive an answer that omits one; the
// refresh token's expiry is in the record and the status JSON; neither the
// id_token nor a token appears in a log line or the status JSON.
func TestKeptFieldsAndRefreshTokenExpiryThroughTheDaemon(t *testing.T) {
	const idToken = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJzZWNyZXQtaWQtdG9rZW4ifQ.c2ln"
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		i := n.Add(1)
		if r.PostForm.Get("refresh_token") != fmt.Sprintf("ghr_%d_secretvalue", i-1) {
			w.WriteHeader(200) // GitHub: errors with HTTP 200
			_, _ = fmt.Fprint(w, `{"error":"bad_refresh_token","error_description":"The refresh token passed is incorrect or expired."}`)
			return
		}
		body := map[string]any{"access_token": fmt.Sprintf("ghu_%d_secretvalue", i), "expires_in": 2, "token_type": "bearer",
			"refresh_token": fmt.Sprintf("ghr_%d_secretvalue", i), "refresh_token_expires_in": 15811200, "instance_url": "https://acme.example"}
		if i == 1 {
			body["id_token"] = idToken
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	}))
	defer srv.Close()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "seed"), "ghr_0_secretvalue\n")
	sinkPath := filepath.Join(dir, "gh.json")
	cfgPath := filepath.Join(dir, "tokend.toml")
	write(t, cfgPath, fmt.Sprintf("[state]\ndir = %q\n\n[[credential]]\nname = \"gh\"\ntoken_url = %q\nclient_id = \"gh\"\nclient_secret = \"gh-secret-value\"\n"+
		"refresh_token_file = %q\nextra_fields = [\"instance_url\", \"id_token\"]\n  [[credential.sink]]\n  type = \"file\"\n  path = %q\n  format = \"json\"\n",
		filepath.Join(dir, "state"), srv.URL+"/token", filepath.Join(dir, "seed"), sinkPath))
	cfg, err := LoadConfig(context.Background(), cfgPath, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	log, _ := logging.New(logs, "debug")
	d, err := New(cfg, log, scheduler.Options{MinInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	testkit.WaitUntil(t, "three refreshes", 15*time.Second, func() bool {
		sts := d.Scheduler().Snapshot()
		return len(sts) == 1 && sts[0].Generation >= 3
	})
	sts := d.Scheduler().Snapshot()
	statusJSON, _ := json.Marshal(sts)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	var doc struct {
		AccessToken string            `json:"access_token"`
		Extra       map[string]string `json:"extra_fields"`
	}
	raw, err := os.ReadFile(sinkPath)
	if err != nil || json.Unmarshal(raw, &doc) != nil {
		t.Fatalf("sink: %v %s", err, raw)
	}
	if doc.Extra["instance_url"] != "https://acme.example" || doc.Extra["id_token"] != idToken {
		t.Fatalf("sink extra_fields = %v, want both kept (id_token from the first answer)", doc.Extra)
	}
	if st := sts[0]; st.RefreshTokenExpiresAt.Before(time.Now().Add(180*24*time.Hour)) || !strings.Contains(string(statusJSON), `"refresh_token_expires_at"`) {
		t.Fatalf("status: %s", statusJSON)
	}
	st, err := state.Open(filepath.Join(dir, "state"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := st.Load(context.Background(), "gh")
	_ = st.Close()
	if err != nil || rec.Extra["id_token"].Reveal() != idToken || rec.RefreshTokenExpiresAt.IsZero() {
		t.Fatalf("record: %+v %v", rec, err)
	}
	for _, s := range []string{idToken, "secret-id-token", "ghu_", "ghr_", "gh-secret-value"} {
		if strings.Contains(logs.String(), s) || strings.Contains(string(statusJSON), s) {
			t.Fatalf("%q appears in the logs or the status JSON", s)
		}
	}
}
