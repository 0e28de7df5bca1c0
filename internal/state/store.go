package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tokend/tokend/internal/atomicfile"
)

// ErrLocked means another process holds the store.
var ErrLocked = errors.New("state store is locked by another process")

// errClosed is returned by every method called after Close.
var errClosed = errors.New("state store is closed")

// dbFileName is the name of the database file inside the state directory.
const dbFileName = "tokend.db"

const defaultLockTimeout = 200 * time.Millisecond

// bucketName is the bbolt bucket that holds one record per credential name.
var bucketName = []byte("credentials")

// Options tunes Open. The zero value is the production default.
type Options struct {
	LockTimeout time.Duration // how long Open waits for the file lock; 0 = 200ms
	// EncryptionKeyFile, if set, names a 32-byte key (raw, or 64 hex digits;
	// see LoadKeyFile): every record is then sealed with AES-256-GCM, so the
	// database file alone yields no token. Records written before it was set
	// are still read and are sealed on their next save.
	EncryptionKeyFile string
}

// FileStore is the embedded durable record store: one bbolt file, exclusively
// locked by this process while open.
//
// Contract: all methods are safe for concurrent use. ctx is checked before any
// work starts; once a bbolt transaction has begun it runs to completion
// (bbolt is not cancellable). When Save or Delete returns nil the change has
// been fsync'd to disk and survives a crash or power cut; concurrent Saves and
// Deletes share one commit and one fsync (group commit, see committer). Errors
// wrap their cause with the credential name, e.g. `saving state for "x": ...`,
// and never contain token values. Times come back from Load and List in UTC
// without a monotonic reading; they are Equal to what was saved.
type FileStore struct {
	dir   string
	path  string
	codec codec
	group *committer

	mu     sync.RWMutex // guards closed against Close racing the other methods; db and group against Recreate
	closed bool
	db     *bolt.DB
	opened os.FileInfo // the file as opened: CheckFile compares the path with it (heal.go)
	fault  atomic.Bool // the file at path is not the one open (deleted or replaced)

	seedMu sync.Mutex
	marker *marker // the directory's marker (marker.go)

	gensMu sync.Mutex
	gens   map[string]uint64 // generation last committed per credential (committed.go)
}

// Open opens (creating if needed) the store in dir. A missing dir is created
// with mode 0700; an existing one is used as it is. The database file is
// "<dir>/tokend.db", created with mode 0600; an existing file with group or
// other permission bits is tightened to 0600 because it holds refresh tokens.
//
// If another process (or another Store in this process) holds the file lock
// for longer than opts.LockTimeout, Open returns an error wrapping ErrLocked
// that names the directory and the lock file.
func Open(dir string, opts Options) (*FileStore, error) {
	if dir == "" {
		return nil, errors.New("opening state store: no state directory given")
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = defaultLockTimeout
	}
	var cd codec = plainCodec{}
	if opts.EncryptionKeyFile != "" {
		key, err := LoadKeyFile(opts.EncryptionKeyFile)
		if err == nil {
			cd, err = newSealCodec(jsonCodec{}, key)
		}
		if err != nil {
			return nil, fmt.Errorf("opening state store: %w", err)
		}
	}
	if err := ensureDir(dir); err != nil {
		return nil, fmt.Errorf("opening state store: %w", err)
	}
	path := filepath.Join(dir, dbFileName)

	db, opened, err := openDB(dir, path, opts.LockTimeout)
	if err != nil {
		return nil, err
	}
	db.NoSync = false // every commit is fsync'd; this is the point of the store

	s := &FileStore{dir: dir, path: path, codec: cd, db: db, opened: opened}
	s.group = &committer{db: db, check: s.checkFile}
	if err := s.prepare(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("opening state store %s: %w", path, err)
	}
	return s, nil
}

// prepare makes a freshly opened database ready: tight file mode, a durable
// directory entry for the file, the records bucket, and the marker that
// records that this directory has a store.
func (s *FileStore) prepare() error {
	fi := s.opened
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(s.path, 0o600); err != nil {
			return fmt.Errorf("restricting permissions: %w", err)
		}
	}
	// bbolt fsyncs the file it creates but not the directory entry; without
	// this a power cut right after the first start could lose the whole file.
	if err := atomicfile.SyncDir(s.dir); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	})
	if err != nil {
		return err
	}
	return s.ensureMarker() // after the file and its bucket are durable
}

// Path returns the database file path.
func (s *FileStore) Path() string { return s.path }

// Close releases the file lock. It is idempotent: calls after the first
// return nil. Any method called after Close returns an error.
func (s *FileStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing state store %s: %w", s.path, err)
	}
	return nil
}

// Load returns the record stored for name. A missing record is an error
// wrapping ErrNotFound. A record that cannot be decoded (corrupted, or
// written by a newer tokend) is an error naming the credential.
func (s *FileStore) Load(ctx context.Context, name string) (Record, error) {
	var rec Record
	err := s.run(ctx, func(db *bolt.DB) error {
		return db.View(func(tx *bolt.Tx) error {
			b, err := bucket(tx)
			if err != nil {
				return err
			}
			data := b.Get([]byte(name))
			if data == nil {
				return ErrNotFound
			}
			// decode copies everything out of data, which is only valid
			// inside this transaction.
			rec, err = s.codec.decode(name, data)
			return err
		})
	})
	if err != nil {
		return Record{}, fmt.Errorf("loading state for %q: %w", name, err)
	}
	return rec, nil
}

// LoadEach reads the records of names in one read transaction and calls fn
// for each name, in order, with what Load would return for it: the record,
// or an error wrapping ErrNotFound (no record) or naming a record that
// cannot be decoded, worded as Load's. fn runs inside the transaction, so it
// must not call the store; a non-nil error from fn stops the walk and is
// returned as it is. Start-up uses it: one transaction instead of one per
// credential (docs/performance.md, "Start-up at scale").
func (s *FileStore) LoadEach(ctx context.Context, names []string, fn func(name string, rec Record, err error) error) error {
	var stop error
	err := s.run(ctx, func(db *bolt.DB) error {
		return db.View(func(tx *bolt.Tx) error {
			b, err := bucket(tx)
			if err != nil {
				return err
			}
			for _, name := range names {
				var rec Record
				data := b.Get([]byte(name))
				if data == nil {
					err = ErrNotFound
				} else {
					rec, err = s.codec.decode(name, data) // copies out of data, valid only in the transaction
				}
				if err != nil {
					err = fmt.Errorf("loading state for %q: %w", name, err)
				}
				if stop = fn(name, rec, err); stop != nil {
					return stop
				}
			}
			return nil
		})
	})
	switch {
	case stop != nil:
		return stop
	case err != nil:
		return fmt.Errorf("loading state: %w", err)
	}
	return nil
}

// Save stores rec under rec.Credential, replacing any previous record. When
// it returns nil the record is on disk (fsync'd). Concurrent Saves are
// committed together in one transaction. rec.Credential must be non-empty.
func (s *FileStore) Save(ctx context.Context, rec Record) error {
	if err := s.save(ctx, rec); err != nil {
		return fmt.Errorf("saving state for %q: %w", rec.Credential, err)
	}
	return nil
}

func (s *FileStore) save(ctx context.Context, rec Record) error {
	if rec.Credential == "" {
		return errors.New("record has no credential name")
	}
	if len(rec.Credential) > bolt.MaxKeySize {
		return fmt.Errorf("credential name longer than %d bytes", bolt.MaxKeySize)
	}
	// Encode before queueing so the commit runs nothing but Puts.
	data, err := s.codec.encode(rec)
	if err != nil {
		return err
	}
	key := []byte(rec.Credential)
	return s.run(ctx, func(*bolt.DB) error {
		// The committer checks the file first (checkFile): committing into a
		// deleted or replaced file would be lost.
		return s.group.doThen(func(b *bolt.Bucket) error { return b.Put(key, data) },
			func() { s.noteCommitted(rec.Credential, rec.Generation) })
	})
}

// List returns every stored record sorted by credential name (byte order).
// If any record cannot be decoded it returns no records and an error naming
// every such credential.
func (s *FileStore) List(ctx context.Context) ([]Record, error) {
	var recs []Record
	err := s.run(ctx, func(db *bolt.DB) error {
		return db.View(func(tx *bolt.Tx) error {
			b, err := bucket(tx)
			if err != nil {
				return err
			}
			var errs []error
			// bbolt iterates keys in byte order, which is Go's string order.
			err = b.ForEach(func(k, v []byte) error {
				name := string(k)
				if v == nil {
					return nil // a nested bucket; we never create one
				}
				rec, err := s.codec.decode(name, v)
				if err != nil {
					errs = append(errs, fmt.Errorf("record for %q: %w", name, err))
					return nil
				}
				recs = append(recs, rec)
				return nil
			})
			if err != nil {
				return err
			}
			return errors.Join(errs...)
		})
	})
	if err != nil {
		return nil, fmt.Errorf("listing state: %w", err)
	}
	return recs, nil
}

// Delete removes the record for name durably. Removing a record that does not
// exist is not an error.
func (s *FileStore) Delete(ctx context.Context, name string) error {
	err := s.run(ctx, func(*bolt.DB) error {
		if name == "" {
			return errors.New("no credential name")
		}
		// The committer checks the file first (checkFile); a missing key is nil.
		key := []byte(name)
		return s.group.doThen(func(b *bolt.Bucket) error { return b.Delete(key) },
			func() { s.noteDeleted(name) })
	})
	if err != nil {
		return fmt.Errorf("deleting state for %q: %w", name, err)
	}
	return nil
}

// run checks ctx and that the store is open, then calls fn while holding off
// Close. bbolt would also refuse a closed DB, but with a less clear error.
func (s *FileStore) run(ctx context.Context, fn func(db *bolt.DB) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errClosed
	}
	return fn(s.db)
}

// bucket returns the records bucket, which Open creates.
func bucket(tx *bolt.Tx) (*bolt.Bucket, error) {
	b := tx.Bucket(bucketName)
	if b == nil {
		return nil, fmt.Errorf("bucket %q is missing from the database", bucketName)
	}
	return b, nil
}
