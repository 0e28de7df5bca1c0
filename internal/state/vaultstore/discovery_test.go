package vaultstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/vaulttest"
)

// TestDiscoveryDocuments: issuer metadata kept in Vault per issuer, shared
// by replicas, replaced by a newer document, ErrNotFound before the first.
func TestDiscoveryDocuments(t *testing.T) {
	srv := vaulttest.Start(t)
	c := srv.TokendClient(srv.RootToken)
	ctx := context.Background()
	a, b := open(t, c, "a", nil), open(t, c, "b", nil)
	const issuer = "https://idp.example/realms/main"
	if _, err := a.LoadDiscovery(ctx, issuer); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("before any save: %v", err)
	}
	for _, doc := range []string{`{"token_endpoint":"https://idp.example/t1"}`, `{"token_endpoint":"https://idp.example/t2"}`} {
		if err := a.SaveDiscovery(ctx, issuer, []byte(doc)); err != nil {
			t.Fatal(err)
		}
		if got, err := b.LoadDiscovery(ctx, issuer); err != nil || string(got) != doc {
			t.Fatalf("replica b read %q, %v; want %q", got, err, doc)
		}
	}
	if err := b.SaveDiscovery(ctx, issuer, []byte(`{"token_endpoint":"https://idp.example/t2"}`)); err != nil {
		t.Fatalf("saving the same document again: %v", err)
	}
	if _, err := a.LoadDiscovery(ctx, "https://other.example"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("another issuer: %v", err)
	}
}
