package bootstrap

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/sinks"
	"github.com/tokend/tokend/internal/sinks/envfile"
	"github.com/tokend/tokend/internal/sinks/file"
	"github.com/tokend/tokend/internal/state"
)

func fileSink(path, format string) config.Sink {
	return config.Sink{Type: "file", Options: &file.Config{FileKeys: sinks.FileKeys{Path: path}, Format: format}}
}

func envSink(path string) config.Sink {
	return config.Sink{Type: "envfile", Options: &envfile.Config{FileKeys: sinks.FileKeys{Path: path}}}
}

// TestTokenFromSink (moved from cmd/tokend): the first file sink is read,
// raw or json; no file sink or a json sink without access_token is an error.
func TestTokenFromSink(t *testing.T) {
	dir := t.TempDir()
	raw, js := filepath.Join(dir, "a.token"), filepath.Join(dir, "a.json")
	if err := os.WriteFile(raw, []byte("at-raw"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(js, []byte(`{"access_token":"at-json","token_type":"Bearer"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sinks []config.Sink
		want  string
	}{
		{[]config.Sink{envSink("x"), fileSink(raw, "raw")}, "at-raw"},
		{[]config.Sink{fileSink(js, "json")}, "at-json"},
		{[]config.Sink{envSink("x")}, ""},
		{[]config.Sink{fileSink(raw, "json")}, ""},
	} {
		tok, err := accessTokenFromSinks(&config.Credential{Sinks: tc.sinks})
		if tok.Reveal() != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("%+v: %q %v", tc.sinks, tok.Reveal(), err)
		}
	}
}

// TestReadCurrentFromStoreAndSink: with no daemon the token comes from the
// (encrypted) state store, which stays open for MarkNeedsReauth; with the
// store held, the access token comes from the file sink and the refresh
// token cannot be read.
func TestReadCurrentFromStoreAndSink(t *testing.T) {
	cfg := loadConfig(t, genericCred+"\n[[credential.sink]]\ntype = \"file\"\npath = \""+filepath.Join(t.TempDir(), "app.token")+"\"\n")
	cfg.State.EncryptionKeyFile = filepath.Join(t.TempDir(), "state.key")
	if err := os.WriteFile(cfg.State.EncryptionKeyFile, bytes.Repeat([]byte{5}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	cr, _ := cfg.Credential("app")
	ctx := context.Background()
	st, err := OpenLocal(cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, state.Record{Credential: "app", RefreshToken: secret.New("rt-stored"), AccessToken: secret.New("at-stored"),
		Generation: 4, Status: state.StatusOK}); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()

	for refresh, want := range map[bool]string{false: "at-stored", true: "rt-stored"} {
		cur, err := ReadCurrent(ctx, cfg, cr, refresh)
		if err != nil || cur.Token.Reveal() != want || cur.Record == nil || cur.Record.Generation != 4 || cur.Store == nil {
			t.Fatalf("refresh=%v: %+v %v", refresh, cur, err)
		}
		if refresh {
			now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
			if err := MarkNeedsReauth(ctx, cur.Store, *cur.Record, now); err != nil {
				t.Fatal(err)
			}
		}
		_ = cur.Store.Close()
	}
	held, err := OpenLocal(cfg, 0) // the "daemon"; it reads the sealed record with the configured key
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	rec, err := held.Load(ctx, "app")
	if err != nil || rec.Status != state.StatusNeedsReauth || rec.LastError == nil || rec.LastError.Code != "inactive_refresh_token" ||
		rec.LastError.Class != "permanent" || rec.RefreshToken.Reveal() != "rt-stored" {
		t.Fatalf("after MarkNeedsReauth: %+v %v", rec, err)
	}

	if _, err := ReadCurrent(ctx, cfg, cr, true); err == nil || !strings.Contains(err.Error(), "stop it first") {
		t.Errorf("refresh token with the store held: %v", err)
	}
	if _, err := ReadCurrent(ctx, cfg, cr, false); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("access token with the store held and no sink file yet: %v", err)
	}
	sinkPath, _ := cr.Sinks[0].Target()
	if err := os.WriteFile(sinkPath, []byte("at-from-sink"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cur, err := ReadCurrent(ctx, cfg, cr, false); err != nil || cur.Token.Reveal() != "at-from-sink" || cur.Record != nil || cur.Store != nil {
		t.Errorf("access token from the sink: %+v %v", cur, err)
	}
	// The vault backend is a daemon's: never opened here.
	vcfg := *cfg
	vcfg.State.Backend = "vault"
	if _, err := OpenLocal(&vcfg, 0); !errors.Is(err, state.ErrLocked) {
		t.Errorf("vault backend: %v, want ErrLocked", err)
	}
}
