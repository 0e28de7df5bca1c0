package vaultclient_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/vaultclient"
	"github.com/tokend/tokend/internal/vaulttest"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	fn := filepath.Join(dir, name)
	if err := os.WriteFile(fn, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return fn
}

// setupAppRole enables AppRole with a role whose tokens live ttl and at most
// maxTTL, and returns role_id and secret_id files.
func setupAppRole(t *testing.T, srv *vaulttest.Server, ttl, maxTTL string) (roleIDFile, secretIDFile string) {
	t.Helper()
	srv.Write("sys/auth/approle", map[string]any{"type": "approle"})
	srv.Policy("tokend", `path "secret/data/tokend/*" { capabilities = ["create", "read", "update"] }
path "secret/metadata/tokend/*" { capabilities = ["read", "update"] }`)
	srv.Write("auth/approle/role/tokend", map[string]any{"token_policies": "tokend", "token_ttl": ttl, "token_max_ttl": maxTTL})
	roleID := srv.Client()
	sec, err := roleID.Logical().Read("auth/approle/role/tokend/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sid := srv.Write("auth/approle/role/tokend/secret-id", nil)
	dir := t.TempDir()
	return writeFile(t, dir, "role_id", sec.Data["role_id"].(string)), writeFile(t, dir, "secret_id", sid.Data["secret_id"].(string))
}

// TestAppRoleLoginRenewAndRelogin: an AppRole token of 2 s (max 4 s) is
// renewed by the lifetime watcher, and when it reaches its max TTL Run logs
// in again; writes work throughout.
func TestAppRoleLoginRenewAndRelogin(t *testing.T) {
	srv := vaulttest.Start(t)
	roleIDFile, secretIDFile := setupAppRole(t, srv, "2s", "4s")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := vaultclient.New(ctx, vaultclient.Config{Address: srv.Addr, Auth: "approle", RoleIDFile: roleIDFile, SecretIDFile: secretIDFile, Mount: "approle"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := c.API().Token()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		logins, renewals := c.Stats()
		if logins >= 2 && renewals >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 15s: %d logins, %d renewals", logins, renewals)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if c.API().Token() == first {
		t.Fatal("re-login kept the old token")
	}
	if _, err := c.KVPut(ctx, "secret", "tokend/x", map[string]any{"v": "1"}, 0); err != nil {
		t.Fatalf("write with the new token: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestTokenRenewal: a renewable 2 s token from token_file outlives its TTL.
func TestTokenRenewal(t *testing.T) {
	srv := vaulttest.Start(t)
	tok := srv.Token([]string{"default"}, map[string]any{"ttl": "2s", "renewable": true})
	fn := writeFile(t, t.TempDir(), "token", tok)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := vaultclient.New(ctx, vaultclient.Config{Address: srv.Addr, Auth: "token", TokenFile: fn}, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	start := time.Now()
	for time.Since(start) < 4*time.Second {
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := c.API().Auth().Token().LookupSelf(); err != nil {
		t.Fatalf("token expired despite renewal: %v", err)
	}
	if _, renewals := c.Stats(); renewals < 1 {
		t.Fatal("no renewal recorded")
	}
	cancel()
	<-done
}

func TestLoginErrorsNameTheSourceNotTheSecret(t *testing.T) {
	srv := vaulttest.Start(t)
	dir := t.TempDir()
	ctx := context.Background()
	_, err := vaultclient.New(ctx, vaultclient.Config{Address: srv.Addr, Auth: "token", TokenFile: filepath.Join(dir, "missing")}, nil)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "missing")) {
		t.Fatalf("missing token file: %v", err)
	}
	bad := writeFile(t, dir, "bad", "hvs.not-a-real-token-value")
	_, err = vaultclient.New(ctx, vaultclient.Config{Address: srv.Addr, Auth: "token", TokenFile: bad}, nil)
	if err == nil || !strings.Contains(err.Error(), "permission denied") || strings.Contains(err.Error(), "not-a-real-token-value") {
		t.Fatalf("bad token: %v", err)
	}
	roleIDFile, _ := setupAppRole(t, srv, "1m", "2m")
	wrongSecret := writeFile(t, dir, "sid", "00000000-0000-0000-0000-000000000000")
	_, err = vaultclient.New(ctx, vaultclient.Config{Address: srv.Addr, Auth: "approle", RoleIDFile: roleIDFile, SecretIDFile: wrongSecret, Mount: "approle"}, nil)
	if err == nil || !strings.Contains(err.Error(), "approle auth") || strings.Contains(err.Error(), "00000000-0000") {
		t.Fatalf("wrong secret id: %v", err)
	}
	t.Setenv("VAULT_ADDR", "")
	if _, err := vaultclient.New(ctx, vaultclient.Config{Auth: "token"}, nil); err == nil || !strings.Contains(err.Error(), "VAULT_ADDR") {
		t.Fatalf("no address: %v", err)
	}
}
