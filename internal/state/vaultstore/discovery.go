package vaultstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/vaultclient"
)

// discoveryKey is where an issuer's last discovered metadata lives:
// <prefix>/discovery/<sha256 of the issuer URL> (a URL is no KV key). The
// policy the store checks at Open (<prefix>/*) covers it.
func (s *Store) discoveryKey(issuer string) string {
	sum := sha256.Sum256([]byte(issuer))
	return s.o.Prefix + "/discovery/" + hex.EncodeToString(sum[:])
}

// SaveDiscovery stores doc, an issuer's metadata as internal/discovery
// encodes it (public information), under issuer, replacing the previous
// one. Two replicas storing at once: one wins, both had the same document
// to store, so a lost check-and-set race is no error.
func (s *Store) SaveDiscovery(ctx context.Context, issuer string, doc []byte) error {
	key := s.discoveryKey(issuer)
	e, err := s.o.Client.KVGet(ctx, s.o.Mount, key)
	if err != nil {
		return fmt.Errorf("saving discovered metadata for %q to vault %s/data/%s: %w", issuer, s.o.Mount, key, err)
	}
	if e.Data != nil && e.Data["issuer"] == issuer && e.Data["document"] == string(doc) {
		return nil
	}
	_, err = s.o.Client.KVPut(ctx, s.o.Mount, key, map[string]any{"issuer": issuer, "document": string(doc)}, e.Version)
	if err != nil && !vaultclient.IsCASMismatch(err) {
		return fmt.Errorf("saving discovered metadata for %q to vault %s/data/%s: %w", issuer, s.o.Mount, key, err)
	}
	return nil
}

// LoadDiscovery returns what SaveDiscovery stored for issuer, or an error
// wrapping state.ErrNotFound.
func (s *Store) LoadDiscovery(ctx context.Context, issuer string) ([]byte, error) {
	key := s.discoveryKey(issuer)
	e, err := s.o.Client.KVGet(ctx, s.o.Mount, key)
	if err != nil {
		return nil, fmt.Errorf("loading discovered metadata for %q from vault %s/data/%s: %w", issuer, s.o.Mount, key, err)
	}
	doc, _ := e.Data["document"].(string)
	if e.Data == nil || e.Data["issuer"] != issuer || doc == "" {
		return nil, fmt.Errorf("no discovered metadata stored for %q: %w", issuer, state.ErrNotFound)
	}
	return []byte(doc), nil
}
