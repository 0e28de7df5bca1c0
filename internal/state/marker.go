package state

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/tokend/tokend/internal/atomicfile"
	"github.com/tokend/tokend/internal/secret"
)

// markerName is the marker file beside the database: written durably when a
// store is first created (or first opened by a tokend that knows about it),
// it records that this directory had a store, so a store that is later
// missing or empty is an error instead of a fresh start (issue 16), and
// which refresh_token_file token seeded each credential.
const markerName = "tokend.db.marker"

// marker is the marker file's content. It holds no secret: seeds are kept
// as a SHA-256 prefix of the refresh token.
type marker struct {
	Store   string          `json:"store"`
	Created time.Time       `json:"created_at"`
	Seeded  map[string]Seed `json:"seeded,omitempty"`
	// Restored is when `tokend store restore` last replaced the store with a
	// backup: a seed recorded before it may have been presented after the
	// backup was taken, so its absence from the store proves nothing.
	Restored *time.Time `json:"restored_at,omitempty"`

	path string
}

// Seed records that a credential's first refresh token came from its
// refresh_token_file.
type Seed struct {
	Hash string    `json:"sha256_prefix"` // first 16 bytes of SHA-256 of the token, hex
	At   time.Time `json:"at"`
}

// seedHash identifies a refresh token in the marker without revealing it.
func seedHash(rt secret.Secret) string {
	sum := sha256.Sum256([]byte(rt.Reveal()))
	return hex.EncodeToString(sum[:16])
}

// readMarker returns the marker of dir, nil when there is none.
func readMarker(dir string) (*marker, error) {
	path := filepath.Join(dir, markerName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the store marker %s: %w", path, err)
	}
	m := &marker{}
	if err := json.Unmarshal(b, m); err != nil {
		// Damaged, but its existence is what matters: the directory had a store.
		m = &marker{Created: time.Time{}}
	}
	m.path = path
	return m, nil
}

// writeMarker stores m durably beside the database.
func writeMarker(dir string, m *marker) error {
	m.path = filepath.Join(dir, markerName)
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(m.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing the store marker: %w", err)
	}
	return nil
}

// ensureMarker makes sure the directory's marker exists (a store created by
// this open, or by a tokend from before markers) and loads it into s.
func (s *FileStore) ensureMarker() error {
	m, err := readMarker(s.dir)
	if err != nil {
		return err
	}
	if m == nil {
		m = &marker{Store: dbFileName, Created: time.Now().UTC().Round(0)}
		if err := writeMarker(s.dir, m); err != nil {
			return err
		}
	}
	s.seedMu.Lock()
	s.marker = m
	s.seedMu.Unlock()
	return nil
}

// SeededWith reports whether refresh token rt may already have been
// presented as credential name's seed (from refresh_token_file) although the
// store holds no record of it, and when it was recorded: true only for a
// seed recorded before the store was last restored from a backup. (Without
// a restore, a seed with no record was never presented: the refresh intent
// is saved before the token is spent; a store lost outright does not open.)
// Safe for concurrent use.
func (s *FileStore) SeededWith(name string, rt secret.Secret) (time.Time, bool) {
	s.seedMu.Lock()
	defer s.seedMu.Unlock()
	if s.marker == nil || s.marker.Restored == nil {
		return time.Time{}, false
	}
	sd, ok := s.marker.Seeded[name]
	if !ok || sd.Hash != seedHash(rt) || !sd.At.Before(*s.marker.Restored) {
		return time.Time{}, false
	}
	return sd.At, true
}

// RecordSeed durably records that rt seeds credential name, before it is
// presented to the provider. When it returns nil the record survives a crash.
func (s *FileStore) RecordSeed(name string, rt secret.Secret) error {
	return s.RecordSeeds(map[string]secret.Secret{name: rt})
}

// RecordSeeds is RecordSeed for many credentials in one durable write (a
// first start seeds every credential at once).
func (s *FileStore) RecordSeeds(seeds map[string]secret.Secret) error {
	if len(seeds) == 0 {
		return nil
	}
	s.seedMu.Lock()
	defer s.seedMu.Unlock()
	if s.marker == nil {
		return errors.New("the store marker is not loaded")
	}
	next := *s.marker
	next.Seeded = make(map[string]Seed, len(s.marker.Seeded)+len(seeds))
	for k, v := range s.marker.Seeded {
		next.Seeded[k] = v
	}
	now := time.Now().UTC().Round(0)
	for name, rt := range seeds {
		next.Seeded[name] = Seed{Hash: seedHash(rt), At: now}
	}
	if err := writeMarker(s.dir, &next); err != nil {
		return fmt.Errorf("recording the refresh_token_file seeds: %w", err)
	}
	s.marker = &next
	return nil
}
