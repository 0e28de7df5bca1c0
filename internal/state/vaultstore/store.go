// Package vaultstore keeps tokend's durable records in Vault KV v2 so that
// several replicas can share credentials (state backend "vault").
//
// Layout under the mount: <prefix>/<credential> holds the record (the same
// JSON as the file store, state.EncodeRecord, as KV fields) and
// <prefix>/claims/<credential> holds the refresh claim (owner, expires_at).
// Claims live in their own folder so no credential name can collide with a
// claim key; so does the issuer metadata tokend run falls back to
// (<prefix>/discovery/<sha256 of the issuer>, discovery.go).
//
// Every Save is check-and-set against the version this Store last read or
// wrote for that credential; a mismatch returns an error wrapping
// state.ErrConflict. What a Store remembers per credential, and when a Load
// answers without a request, is in known.go. Claim implements
// scheduler.Claimer: only the holder of a credential's claim spends its
// refresh token. Claim expiry compares the replicas' wall clocks, which must
// agree to well within the claim TTL (NTP).
package vaultstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/vaultclient"
)

// Options configures a Store.
type Options struct {
	Client *vaultclient.Client
	Mount  string // KV v2 mount
	Prefix string // key prefix, e.g. "tokend/state"
	// Owner names this replica in claims; default hostname + random suffix.
	Owner string
	Now   func() time.Time // default time.Now
}

// Store is a state store in Vault KV v2, safe for concurrent use.
type Store struct {
	o Options

	mu    sync.Mutex
	known map[string]*known // per credential (known.go)
}

// Open checks that the mount is KV v2 and that the token may read and write
// records and claims, then returns the Store.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Client == nil {
		return nil, errors.New("vault state store: no vault client")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Owner == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		o.Owner = host + "-" + hex.EncodeToString(b)
	}
	s := &Store{o: o, known: map[string]*known{}}
	where := o.Mount + "/data/" + o.Prefix
	v, err := o.Client.KVVersion(ctx, o.Mount)
	if err != nil {
		return nil, fmt.Errorf("vault state store at %s: checking mount: %w", where, err)
	}
	if v != 2 {
		return nil, fmt.Errorf("vault state store at %s: mount %q is KV version %d; the state store needs KV version 2 (check-and-set)", where, o.Mount, v)
	}
	probe := []string{s.dataPath("x"), s.dataPath("claims/x")}
	caps, err := o.Client.Capabilities(ctx, probe...)
	if err != nil {
		return nil, fmt.Errorf("vault state store at %s: checking policy: %w", where, err)
	}
	for _, p := range probe {
		for _, want := range [][]string{{"read"}, {"create"}, {"update"}} {
			if !vaultclient.HasCapability(caps[p], want...) {
				return nil, fmt.Errorf("vault state store at %s: the vault token's policy does not allow %s on %s/* (it has %v)",
					where, want[0], o.Mount+"/data/"+o.Prefix, caps[p])
			}
		}
	}
	return s, nil
}

// Owner is this replica's name in claims.
func (s *Store) Owner() string { return s.o.Owner }

// Path is where the records live (for logs).
func (s *Store) Path() string { return "vault:" + s.o.Mount + "/data/" + s.o.Prefix }

// Close releases nothing (the Vault client belongs to the daemon); it exists
// for symmetry with the file store.
func (s *Store) Close() error { return nil }

func (s *Store) key(name string) string      { return s.o.Prefix + "/" + name }
func (s *Store) dataPath(name string) string { return s.o.Mount + "/data/" + s.key(name) }
func (s *Store) claimKey(name string) string { return s.o.Prefix + "/claims/" + name }
func (s *Store) errAt(name string) string    { return s.o.Mount + "/data/" + s.key(name) }
func (s *Store) claimAt(name string) string  { return s.o.Mount + "/data/" + s.claimKey(name) }

// Load returns the stored record, or an error wrapping state.ErrNotFound.
// It remembers the version read for the next Save's check-and-set. Right
// after a take that proved this replica the last claimer it answers from
// the record this Store last wrote or read, without a request (known.go).
func (s *Store) Load(ctx context.Context, name string) (state.Record, error) {
	if err := ctx.Err(); err != nil {
		return state.Record{}, err
	}
	if raw := s.cached(name); raw != nil {
		if rec, err := state.DecodeRecord(name, raw); err == nil {
			return rec, nil
		}
	}
	raw, v, err := s.o.Client.KVGetJSON(ctx, s.o.Mount, s.key(name))
	if err != nil {
		return state.Record{}, fmt.Errorf("loading %q from vault %s: %w", name, s.errAt(name), err)
	}
	s.loaded(name, v, raw)
	if raw == nil {
		return state.Record{}, fmt.Errorf("loading %q from vault %s: %w", name, s.errAt(name), state.ErrNotFound)
	}
	rec, err := state.DecodeRecord(name, raw)
	if err != nil {
		return state.Record{}, fmt.Errorf("loading %q from vault %s: %w", name, s.errAt(name), err)
	}
	return rec, nil
}

// Save writes rec with check-and-set against the version this Store last
// read or wrote for the credential. A concurrent change returns an error
// wrapping state.ErrConflict (Load again before retrying). Vault's storage
// backend makes an acknowledged write durable.
func (s *Store) Save(ctx context.Context, rec state.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	name := rec.Credential
	raw, err := state.EncodeRecord(rec)
	if err != nil {
		return fmt.Errorf("saving %q: %w", name, err)
	}
	v, err := s.o.Client.KVPutJSON(ctx, s.o.Mount, s.key(name), raw, s.saveCAS(name))
	if err != nil {
		s.saveFailed(name)
	}
	if vaultclient.IsCASMismatch(err) {
		return fmt.Errorf("saving %q to vault %s: %w", name, s.errAt(name), state.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("saving %q to vault %s: %w", name, s.errAt(name), err)
	}
	s.saved(name, v, raw)
	return nil
}
