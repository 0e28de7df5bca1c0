package state

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/tokend/tokend/internal/secret"
)

// TestDiscoveryDocuments: stored per issuer, durable across a reopen,
// ErrNotFound before the first save, and invisible to the record listing.
func TestDiscoveryDocuments(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoadDiscovery(ctx, "https://idp.example"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("before any save: %v", err)
	}
	if err := s.SaveDiscovery(ctx, "https://idp.example", []byte(`{"token_endpoint":"https://idp.example/t"}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveDiscovery(ctx, "", []byte("{}")); err == nil {
		t.Fatal("empty issuer accepted")
	}
	if err := s.Save(ctx, Record{Credential: "a", RefreshToken: secret.New("r")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	doc, err := s.LoadDiscovery(ctx, "https://idp.example")
	if err != nil || string(doc) != `{"token_endpoint":"https://idp.example/t"}` {
		t.Fatalf("after reopen: %q %v", doc, err)
	}
	recs, err := s.List(ctx)
	if err != nil || len(recs) != 1 || recs[0].Credential != "a" {
		t.Fatalf("List = %+v, %v; want only the credential record", recs, err)
	}
}
