package vaultstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/state/vaultstore"
	"github.com/tokend/tokend/internal/vaultclient"
	"github.com/tokend/tokend/internal/vaulttest"
)

func open(t *testing.T, c *vaultclient.Client, owner string, now func() time.Time) *vaultstore.Store {
	t.Helper()
	s, err := vaultstore.Open(context.Background(), vaultstore.Options{Client: c, Mount: "secret", Prefix: "tokend/state", Owner: owner, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSaveLoadAndConflict(t *testing.T) {
	srv := vaulttest.Start(t)
	c := srv.TokendClient(srv.RootToken)
	ctx := context.Background()
	a, b := open(t, c, "a", nil), open(t, c, "b", nil)
	if _, err := a.Load(ctx, "api"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("missing record: %v", err)
	}
	_, _ = b.Load(ctx, "api")
	exp := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	rec := state.Record{Credential: "api", RefreshToken: secret.New("rt-1"), AccessToken: secret.New("at-1"),
		TokenType: "Bearer", ExpiresAt: exp, Generation: 1 << 40, Status: state.StatusOK,
		Intent: &state.Intent{Generation: 7, StartedAt: exp}}
	if err := a.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got, err := b.Load(ctx, "api")
	if err != nil || !got.RefreshToken.Equal(rec.RefreshToken) || got.Generation != rec.Generation || !got.ExpiresAt.Equal(exp) ||
		got.Intent == nil || got.Intent.Generation != 7 || got.Status != state.StatusOK {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	// b read version 1; a writes version 2; b's save must fail check-and-set.
	rec.Generation++
	if err := a.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	stale := got
	stale.RefreshToken = secret.New("rt-stale")
	err = b.Save(ctx, stale)
	if !errors.Is(err, state.ErrConflict) || !strings.Contains(err.Error(), "secret/data/tokend/state/api") {
		t.Fatalf("stale save: %v", err)
	}
	if cur, _ := a.Load(ctx, "api"); !cur.RefreshToken.Equal(secret.New("rt-1")) || cur.Generation != rec.Generation {
		t.Fatal("the stale save overwrote the record")
	}
	// After re-loading, b may save.
	if _, err := b.Load(ctx, "api"); err != nil {
		t.Fatal(err)
	}
	if err := b.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
}

func TestClaims(t *testing.T) {
	srv := vaulttest.Start(t)
	c := srv.TokendClient(srv.RootToken)
	ctx := context.Background()
	now := time.Now()
	clock := func() time.Time { return now }
	a, b := open(t, c, "replica-a", clock), open(t, c, "replica-b", clock)
	relA, err := a.Claim(ctx, "api", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Claim(ctx, "api", time.Minute); !errors.Is(err, state.ErrClaimed) || !strings.Contains(err.Error(), "replica-a") {
		t.Fatalf("second claim: %v", err)
	}
	if _, err := b.Claim(ctx, "other", time.Minute); err != nil {
		t.Fatalf("claims are per credential: %v", err)
	}
	relA()
	relA() // idempotent
	relB, err := b.Claim(ctx, "api", time.Minute)
	if err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	// b dies holding the claim: once it expires a takes it over, and b's
	// late release does not clear a's claim.
	now = now.Add(2 * time.Minute)
	relA, err = a.Claim(ctx, "api", time.Minute)
	if err != nil {
		t.Fatalf("taking over an expired claim: %v", err)
	}
	relB()
	if _, err := b.Claim(ctx, "api", time.Minute); !errors.Is(err, state.ErrClaimed) {
		t.Fatalf("a late release cleared the new holder's claim: %v", err)
	}
	relA()
}

func TestOpenChecks(t *testing.T) {
	srv := vaulttest.Start(t)
	srv.MountKV("kv1", 1)
	srv.Policy("elsewhere", `path "secret/data/other/*" { capabilities = ["create", "read", "update"] }`)
	ctx := context.Background()
	root := srv.TokendClient(srv.RootToken)
	_, err := vaultstore.Open(ctx, vaultstore.Options{Client: root, Mount: "kv1", Prefix: "tokend/state"})
	if err == nil || !strings.Contains(err.Error(), "needs KV version 2") || !strings.Contains(err.Error(), "kv1/data/tokend/state") {
		t.Fatalf("kv1 mount: %v", err)
	}
	denied := srv.TokendClient(srv.Token([]string{"elsewhere"}, nil))
	_, err = vaultstore.Open(ctx, vaultstore.Options{Client: denied, Mount: "secret", Prefix: "tokend/state"})
	if err == nil || !strings.Contains(err.Error(), "policy does not allow read on secret/data/tokend/state/*") {
		t.Fatalf("denied: %v", err)
	}
}
