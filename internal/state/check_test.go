package state

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tokend/tokend/internal/secret"
)

// storeFile returns the bytes of a closed store holding n records (with
// n large enough, the records bucket spans branch and leaf pages).
func storeFile(t testing.TB, n int) []byte {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		rec := fullRecord(fmt.Sprintf("cred-%03d", i))
		if err := s.Save(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, dbFileName))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openBytes writes data as the store file of a new directory and opens it.
func openBytes(t testing.TB, data []byte) (string, *FileStore, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, dbFileName), data, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, Options{})
	if err == nil {
		t.Cleanup(func() { _ = s.Close() })
	}
	return dir, s, err
}

func TestCorruptStoreIsAnError(t *testing.T) {
	good := storeFile(t, 60)
	ps := 4096
	if len(good) < 8*ps {
		t.Fatalf("store file is only %d bytes", len(good))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	garble := func(from, to int) []byte {
		b := append([]byte(nil), good...)
		for i := from; i < to; i++ {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	cases := map[string][]byte{
		"truncated to its meta pages": good[:2*ps],
		"truncated mid-file":          good[:len(good)/2],
		"data pages garbled":          garble(2*ps, len(good)),
		"one data page zeroed":        append(append(append([]byte(nil), good[:3*ps]...), make([]byte, ps)...), good[4*ps:]...),
		"both meta pages garbled":     garble(0, 2*ps),
		"short garbage":               []byte("not a database at all"),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			dir, _, err := openBytes(t, data)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open = %v, want an error wrapping ErrCorrupt", err)
			}
			for _, want := range []string{filepath.Join(dir, dbFileName), "tokend store restore", "spends no refresh token"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
	// The intact file opens and lists every record.
	_, s, err := openBytes(t, good)
	if err != nil {
		t.Fatal(err)
	}
	if recs, err := s.List(t.Context()); err != nil || len(recs) != 60 {
		t.Fatalf("List = %d records, %v", len(recs), err)
	}
}

func TestLostStoreIsAnError(t *testing.T) {
	for name, damage := range map[string]func(path string) error{
		"missing": os.Remove,
		"empty":   func(p string) error { return os.Truncate(p, 0) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Save(t.Context(), fullRecord("app")); err != nil {
				t.Fatal(err)
			}
			_ = s.Close()
			if err := damage(filepath.Join(dir, dbFileName)); err != nil {
				t.Fatal(err)
			}
			_, err = Open(dir, Options{})
			if !errors.Is(err, ErrStoreLost) {
				t.Fatalf("Open = %v, want ErrStoreLost", err)
			}
			for _, want := range []string{name, markerName, "tokend store restore"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestSeedLedger(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rt := secret.New("seed-token-1")
	if _, ok := s.SeededWith("app", rt); ok {
		t.Fatal("a new store says app was seeded")
	}
	if err := s.RecordSeed("app", rt); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	b, err := os.ReadFile(filepath.Join(dir, markerName))
	if err != nil || strings.Contains(string(b), rt.Reveal()) {
		t.Fatalf("marker: %v; it must not hold the token:\n%s", err, b)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.SeededWith("app", rt); ok {
		t.Error("without a restore, a seed with no record counts as presented (it never was: the intent comes first)")
	}
	_ = s.Close()
	if _, err := Restore(dir, filepath.Join(dir, dbFileName)); err != nil { // as if from a backup
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.SeededWith("app", rt); !ok {
		t.Error("after a restore, the seed recorded before it is not remembered")
	}
	if _, ok := s.SeededWith("app", secret.New("seed-token-2")); ok {
		t.Error("another token counts as the recorded seed")
	}
}

func TestRecreateAfterDirectoryRemoved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Save(t.Context(), fullRecord("a")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckFile(); !errors.Is(err, ErrFileGone) || !strings.Contains(err.Error(), s.Path()) {
		t.Fatalf("CheckFile = %v", err)
	}
	if err := s.Save(t.Context(), fullRecord("b")); !errors.Is(err, ErrFileGone) {
		t.Fatalf("Save into a deleted file = %v, want ErrFileGone", err)
	}
	if s.Healthy() {
		t.Error("Healthy after the file was deleted")
	}
	if err := s.Recreate(); err != nil {
		t.Fatal(err)
	}
	if !s.Healthy() || s.CheckFile() != nil {
		t.Fatal("not healthy after Recreate")
	}
	if err := s.Save(t.Context(), fullRecord("b")); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	s2, err := Open(dir, Options{}) // the marker is back too
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if recs, err := s2.List(t.Context()); err != nil || len(recs) != 2 {
		t.Fatalf("after re-creation: %d records, %v", len(recs), err)
	}
}

func TestBackupRotateRestore(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := s.Save(t.Context(), fullRecord(fmt.Sprintf("c%d", i))); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Backup(3); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.Close()
	all, err := Backups(dir)
	if err != nil || len(all) != 3 {
		t.Fatalf("Backups = %v, %v; want 3", all, err)
	}
	for _, b := range all {
		if err := CheckFile(b); err != nil {
			t.Errorf("backup %s: %v", b, err)
		}
	}
	path := filepath.Join(dir, dbFileName)
	if err := os.Truncate(path, 8192); err != nil { // corrupt the store
		t.Fatal(err)
	}
	if err := CheckFile(path); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("CheckFile of a truncated store = %v", err)
	}
	from, err := Restore(dir, "")
	if err != nil || from != all[0] {
		t.Fatalf("Restore = %s, %v; want the newest backup %s", from, err, all[0])
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if recs, err := s.List(t.Context()); err != nil || len(recs) != 5 {
		t.Fatalf("restored store: %d records, %v", len(recs), err)
	}
	if m, _ := filepath.Glob(path + ".damaged-*"); len(m) != 1 {
		t.Errorf("the damaged file was not kept aside: %v", m)
	}
}

// FuzzOpenStoreFile opens whole, corrupted store files the way Open does
// (lock, check, bbolt open with its page walk) and reads every record
// through bbolt: that either fails with an error or works; it never panics
// or faults (a bbolt panic in its own goroutine would crash the fuzzer).
// TestCorruptStoreIsAnError covers the rest of Open (bucket, marker).
func FuzzOpenStoreFile(f *testing.F) {
	f.Add(storeFile(f, 2))
	f.Add(storeFile(f, 2)[:8192])
	dir := f.TempDir()
	if shm, err := os.MkdirTemp("/dev/shm", "tokend-fuzz-"); err == nil { // memory: no writeback stalls per input
		dir = shm
		f.Cleanup(func() { _ = os.RemoveAll(shm) })
	}
	path := filepath.Join(dir, dbFileName)
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		db, _, err := openDB(dir, path, time.Second)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("openDB = %v, want ErrCorrupt or success", err)
			}
			return
		}
		defer db.Close()
		_ = db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
				return b.ForEach(func(k, v []byte) error { _, _ = DecodeRecord(string(k), v); return nil })
			})
		})
	})
}

// TestRandomCorruptionNeverPanics damages a store file at random (flipped
// bytes, truncation) many times over: each open either fails with ErrCorrupt
// or reads every record; the process never panics or faults.
func TestRandomCorruptionNeverPanics(t *testing.T) {
	good := storeFile(t, 40)
	dir := t.TempDir()
	path := filepath.Join(dir, dbFileName)
	rng := rand.New(rand.NewPCG(16, 16))
	corrupt := 0
	const runs = 400
	for range runs {
		b := append([]byte(nil), good...)
		for k := rng.IntN(16); k >= 0; k-- {
			b[rng.IntN(len(b))] = byte(rng.IntN(256))
		}
		if rng.IntN(3) == 0 {
			b = b[:rng.IntN(len(b))]
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		db, _, err := openDB(dir, path, time.Second)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("openDB = %v, want ErrCorrupt or success", err)
			}
			corrupt++
			continue
		}
		_ = db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
				return b.ForEach(func(k, v []byte) error { _, _ = DecodeRecord(string(k), v); return nil })
			})
		})
		_ = db.Close()
	}
	t.Logf("%d damaged files: %d refused as corrupt, %d opened and read", runs, corrupt, runs-corrupt)
}
