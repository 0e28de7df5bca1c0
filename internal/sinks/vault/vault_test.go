package vault_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/sinks"
	vaultsink "github.com/tokend/tokend/internal/sinks/vault"
	"github.com/tokend/tokend/internal/vaultclient"
	"github.com/tokend/tokend/internal/vaulttest"
)

func fields() map[string]string {
	return (&vaultsink.Config{}).FieldNames()
}

// apiSink is the KV v2 sink of credential "api" at secret/tokend/api
// through c, with the default field names.
func apiSink(t *testing.T, c *vaultclient.Client) *vaultsink.Sink {
	t.Helper()
	s, err := vaultsink.New(context.Background(), vaultsink.Options{Client: c, Credential: "api", Mount: "secret", Path: "tokend/api", KVVersion: 2, Fields: fields()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tok(gen uint64, value string, exp time.Time) sinks.Token {
	return sinks.Token{Credential: "api", AccessToken: secret.New(value), TokenType: "Bearer", Scope: "read",
		ExpiresAt: exp, Generation: gen}
}

func read(t *testing.T, srv *vaulttest.Server, path string) map[string]any {
	t.Helper()
	sec, err := srv.Client().Logical().Read(path)
	if err != nil || sec == nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	if d, ok := sec.Data["data"].(map[string]any); ok {
		return d
	}
	return sec.Data
}

func TestKVv2WriteCheckAndSet(t *testing.T) {
	srv := vaulttest.Start(t)
	c := srv.TokendClient(srv.RootToken)
	ctx := context.Background()
	f := fields()
	f["access_token"] = "token"
	s, err := vaultsink.New(ctx, vaultsink.Options{Client: c, Credential: "api", Mount: "secret", Path: "tokend/api", KVVersion: 2, Fields: f})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := s.Write(ctx, tok(2, "at-2", exp)); err != nil {
		t.Fatal(err)
	}
	d := read(t, srv, "secret/data/tokend/api")
	if d["token"] != "at-2" || d["expires_at"] != "2030-01-02T03:04:05Z" || d["token_type"] != "Bearer" || d["scope"] != "read" {
		t.Fatalf("data: %v", d)
	}
	if _, ok := d["access_token"]; ok {
		t.Fatal("default field name used despite fields.access_token")
	}
	if fmt.Sprint(d["generation"]) != "2" {
		t.Fatalf("generation in the data: %v", d["generation"])
	}
	// A stale writer (older generation) and a duplicate are both skipped.
	for _, old := range []sinks.Token{tok(1, "at-1", exp), tok(2, "at-2-dup", exp)} {
		if err := s.Write(ctx, old); err != nil {
			t.Fatal(err)
		}
	}
	v, _, _ := c.KVMetadata(ctx, "secret", "tokend/api")
	if d := read(t, srv, "secret/data/tokend/api"); d["token"] != "at-2" || v != 1 {
		t.Fatalf("stale write landed: version %d token %v", v, d["token"])
	}
	if err := s.Write(ctx, tok(3, "at-3", exp.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if d := read(t, srv, "secret/data/tokend/api"); d["token"] != "at-3" {
		t.Fatalf("newer write lost: %v", d["token"])
	}
	// Someone else wrote meanwhile (version moved on without our metadata):
	// cas makes the sink re-read, and a newer generation still wins.
	srv.Write("secret/data/tokend/api", map[string]any{"data": map[string]any{"token": "manual"}})
	if err := s.Write(ctx, tok(4, "at-4", exp)); err != nil {
		t.Fatal(err)
	}
	if d := read(t, srv, "secret/data/tokend/api"); d["token"] != "at-4" {
		t.Fatalf("after an outside write: %v", d["token"])
	}
}

func TestKVv1Write(t *testing.T) {
	srv := vaulttest.Start(t)
	srv.MountKV("kv1", 1)
	c := srv.TokendClient(srv.RootToken)
	ctx := context.Background()
	s, err := vaultsink.New(ctx, vaultsink.Options{Client: c, Credential: "api", Mount: "kv1", Path: "apps/api", KVVersion: 1, Fields: fields()})
	if err != nil {
		t.Fatal(err)
	}
	if s.String() != "vault kv1/apps/api" {
		t.Fatalf("String() = %q", s.String())
	}
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	if err := s.Write(ctx, tok(5, "v1-5", exp)); err != nil {
		t.Fatal(err)
	}
	// An older token (earlier expiry) does not replace a newer one.
	if err := s.Write(ctx, tok(4, "v1-4", exp.Add(-time.Minute))); err != nil {
		t.Fatal(err)
	}
	d := read(t, srv, "kv1/apps/api")
	if d["access_token"] != "v1-5" || d["expires_at"] != exp.UTC().Format(time.RFC3339) {
		t.Fatalf("kv1 data: %v", d)
	}
}

func TestStartupChecksNameCredentialAndPath(t *testing.T) {
	srv := vaulttest.Start(t)
	srv.MountKV("kv1", 1)
	srv.Policy("reader", `path "secret/data/tokend/*" { capabilities = ["read"] }
path "secret/metadata/tokend/*" { capabilities = ["read"] }`)
	root := srv.TokendClient(srv.RootToken)
	reader := srv.TokendClient(srv.Token([]string{"reader"}, nil))
	ctx := context.Background()
	cases := []struct {
		name string
		c    *vaultclient.Client
		o    vaultsink.Options
		want string
	}{
		{"wrong mount", root, vaultsink.Options{Mount: "nosuch", Path: "x", KVVersion: 2}, "nosuch"},
		{"v1 sink on a v2 mount", root, vaultsink.Options{Mount: "secret", Path: "x", KVVersion: 1}, "KV version 2 but the sink has kv_version = 1"},
		{"v2 sink on a v1 mount", root, vaultsink.Options{Mount: "kv1", Path: "x", KVVersion: 2}, "KV version 1 but the sink has kv_version = 2"},
		{"policy denies the write", reader, vaultsink.Options{Mount: "secret", Path: "tokend/api", KVVersion: 2}, "policy allows none of [create update] on secret/data/tokend/api"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Client, tc.o.Credential, tc.o.Fields = tc.c, "api", fields()
			_, err := vaultsink.New(ctx, tc.o)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, `credential "api"`) || !strings.Contains(msg, tc.o.Mount+"/") || !strings.Contains(msg, tc.want) {
				t.Fatalf("error %q lacks credential, path or %q", msg, tc.want)
			}
		})
	}
}

// TestVaultDownSealedAndBack: failures name credential and path and leave
// nothing half-done; once Vault is back (a fresh dev server: in-memory
// storage starts empty) the next write lands.
func TestVaultDownSealedAndBack(t *testing.T) {
	srv := vaulttest.Start(t)
	c := srv.TokendClient(srv.RootToken)
	ctx := context.Background()
	s := apiSink(t, c)
	exp := time.Now().Add(time.Hour)
	if err := s.Write(ctx, tok(1, "at-1", exp)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Client().Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	err := s.Write(ctx, tok(2, "at-2", exp))
	if err == nil || !strings.Contains(err.Error(), "vault is sealed") || !strings.Contains(err.Error(), `credential "api" at secret/data/tokend/api`) {
		t.Fatalf("sealed: %v", err)
	}
	srv.Stop()
	err = s.Write(ctx, tok(2, "at-2", exp))
	if err == nil || !strings.Contains(err.Error(), `credential "api" at secret/data/tokend/api`) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("down: %v", err)
	}
	srv.Restart()
	if err := s.Write(ctx, tok(2, "at-2", exp)); err != nil {
		t.Fatal(err)
	}
	if d := read(t, srv, "secret/data/tokend/api"); d["access_token"] != "at-2" {
		t.Fatalf("after restart: %v", d)
	}
}
