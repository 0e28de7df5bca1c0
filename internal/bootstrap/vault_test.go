package bootstrap

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/state/vaultstore"
	"github.com/tokend/tokend/internal/vaulttest"
)

// vaultConfig is genericCred with the vault state backend on srv, logged in
// with token.
func vaultConfig(t *testing.T, srv *vaulttest.Server, token string) *config.Config {
	t.Helper()
	cfg := loadConfig(t, genericCred)
	fn := filepath.Join(t.TempDir(), "vault-token")
	if err := os.WriteFile(fn, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Vault = &config.Vault{Address: srv.Addr, Auth: "token", TokenFile: fn}
	cfg.State.Backend, cfg.State.Mount, cfg.State.Prefix = "vault", "secret", "tokend/state"
	cfg.State.ClaimTTL.Duration = 3 * time.Second
	return cfg
}

// replicaStore is the vault state store as a replica named owner opens it.
func replicaStore(t *testing.T, srv *vaulttest.Server, owner string) *vaultstore.Store {
	t.Helper()
	st, err := vaultstore.Open(context.Background(), vaultstore.Options{Client: srv.TokendClient(srv.RootToken),
		Mount: "secret", Prefix: "tokend/state", Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestStoreVaultAsAReplica: with the vault backend Store writes the next
// generation straight to Vault (no daemon), and waits while a replica holds
// the credential's refresh claim instead of writing under it.
func TestStoreVaultAsAReplica(t *testing.T) {
	srv := vaulttest.Start(t)
	cfg := vaultConfig(t, srv, srv.RootToken)
	ctx := context.Background()
	replica := replicaStore(t, srv, "replica-a")
	if err := replica.Save(ctx, state.Record{Credential: "app", RefreshToken: secret.New("rt-old"), Generation: 4, Status: state.StatusNeedsReauth}); err != nil {
		t.Fatal(err)
	}
	if err := Preflight(cfg, StoreOptions{}); err != nil {
		t.Fatalf("Preflight: %v", err)
	}
	where, err := Store(ctx, cfg, "app", scheduler.ImportedToken{RefreshToken: secret.New("rt-1")}, StoreOptions{})
	if err != nil || where != InVault {
		t.Fatalf("Store: %q %v", where, err)
	}
	rec, err := replica.Load(ctx, "app")
	if err != nil || rec.Generation != 5 || rec.RefreshToken.Reveal() != "rt-1" || rec.Status != state.StatusPending {
		t.Fatalf("after Store: %v generation %d status %s", err, rec.Generation, rec.Status)
	}

	// A replica is refreshing (holds the claim): Store does not write.
	_, release, err := replica.HoldClaim(ctx, "app", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Store(ctx, cfg, "app", scheduler.ImportedToken{RefreshToken: secret.New("rt-2")}, StoreOptions{ClaimWait: 600 * time.Millisecond})
	if !errors.Is(err, state.ErrClaimed) || !strings.Contains(err.Error(), "replica-a") {
		t.Fatalf("Store under a held claim: %v", err)
	}
	if rec, _ := replica.Load(ctx, "app"); rec.Generation != 5 {
		t.Fatalf("written under a held claim: generation %d", rec.Generation)
	}
	// It waits for the claim to be released, then writes over what the
	// replica committed meanwhile.
	done := make(chan error, 1)
	go func() {
		_, err := Store(ctx, cfg, "app", scheduler.ImportedToken{RefreshToken: secret.New("rt-3")}, StoreOptions{ClaimWait: 20 * time.Second})
		done <- err
	}()
	time.Sleep(500 * time.Millisecond) // Store is polling the claim
	committed, _ := replica.Load(ctx, "app")
	committed = committed.Refreshed(state.Tokens{RefreshToken: secret.New("rt-replica"), AccessToken: secret.New("at"), ExpiresAt: time.Now().Add(time.Hour)}, time.Now(), time.Now())
	if err := replica.Save(ctx, committed); err != nil {
		t.Fatal(err)
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("Store after the claim was released: %v", err)
	}
	rec, _ = replica.Load(ctx, "app")
	if rec.Generation != 7 || rec.RefreshToken.Reveal() != "rt-3" {
		t.Fatalf("after waiting: generation %d (want 7, over the replica's 6)", rec.Generation)
	}
}

// TestPreflightVaultPolicy: a Vault token whose policy does not cover the
// state store fails before an authorization code is spent.
func TestPreflightVaultPolicy(t *testing.T) {
	srv := vaulttest.Start(t)
	srv.Policy("other", `path "secret/data/other/*" { capabilities = ["read", "create", "update"] }`)
	cfg := vaultConfig(t, srv, srv.Token([]string{"other"}, nil))
	if err := Preflight(cfg, StoreOptions{}); err == nil || !strings.Contains(err.Error(), "policy does not allow") {
		t.Fatalf("Preflight with a token outside the state store: %v", err)
	}
}
