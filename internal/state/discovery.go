package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// discoveryBucket holds the last discovered authorization-server metadata,
// one document per issuer URL (issue 12 item 6). It is created on first
// use, so a store written by an older build opens as it is.
var discoveryBucket = []byte("discovery")

// maxDiscoveryDoc caps a stored metadata document (internal/discovery caps
// what it reads at 1 MiB; what it stores is a few hundred bytes).
const maxDiscoveryDoc = 64 << 10

// SaveDiscovery stores doc, an issuer's metadata as internal/discovery
// encodes it, under issuer, durably (fsync'd when it returns nil),
// replacing the previous one. The document is public information and is
// stored in the clear, also in an encrypted store. Safe for concurrent use.
func (s *FileStore) SaveDiscovery(ctx context.Context, issuer string, doc []byte) error {
	if issuer == "" || len(doc) == 0 || len(doc) > maxDiscoveryDoc {
		return fmt.Errorf("saving discovered metadata for %q: empty issuer, or a document that is empty or over 64 KiB", issuer)
	}
	err := s.run(ctx, func(db *bolt.DB) error {
		return db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(discoveryBucket)
			if err != nil {
				return err
			}
			if bytes.Equal(b.Get([]byte(issuer)), doc) {
				return nil
			}
			return b.Put([]byte(issuer), doc)
		})
	})
	if err != nil {
		return fmt.Errorf("saving discovered metadata for %q: %w", issuer, err)
	}
	return nil
}

// LoadDiscovery returns the document SaveDiscovery last stored for issuer;
// an error wrapping ErrNotFound when there is none.
func (s *FileStore) LoadDiscovery(ctx context.Context, issuer string) ([]byte, error) {
	var doc []byte
	err := s.run(ctx, func(db *bolt.DB) error {
		return db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket(discoveryBucket)
			if b == nil {
				return ErrNotFound
			}
			v := b.Get([]byte(issuer))
			if v == nil {
				return ErrNotFound
			}
			doc = bytes.Clone(v) // v is only valid inside the transaction
			return nil
		})
	})
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			err = fmt.Errorf("loading discovered metadata for %q: %w", issuer, err)
		} else {
			err = fmt.Errorf("no discovered metadata stored for %q: %w", issuer, err)
		}
		return nil, err
	}
	return doc, nil
}
