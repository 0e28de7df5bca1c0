package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/secret"
	bolt "go.etcd.io/bbolt"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	s := openTemp(t, Options{})
	want := fullRecord("github")
	if err := s.Save(t.Context(), want); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, err := s.Load(t.Context(), "github")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	assertRecord(t, got, want)

	// A second Save replaces the record, including clearing pointers.
	want = Record{Credential: "github", RefreshToken: secret.New("rotated"), Generation: 43, Status: StatusOK}
	if err := s.Save(t.Context(), want); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, err = s.Load(t.Context(), "github")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	assertRecord(t, got, want)
}

func TestLoadNotFound(t *testing.T) {
	s := openTemp(t, Options{})
	_, err := s.Load(t.Context(), "nope")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load of a missing record: err = %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), `loading state for "nope"`) {
		t.Errorf("error %q does not name the credential", err)
	}
}

func TestSaveRequiresName(t *testing.T) {
	s := openTemp(t, Options{})
	if err := s.Save(t.Context(), Record{RefreshToken: secret.New("r")}); err == nil {
		t.Fatal("Save without a credential name succeeded")
	}
	if recs, err := s.List(t.Context()); err != nil || len(recs) != 0 {
		t.Fatalf("List = %d records, %v; want none", len(recs), err)
	}
}

func TestSaveUnencodableWritesNothing(t *testing.T) {
	s := openTemp(t, Options{})
	rec := fullRecord("x")
	rec.IssuedAt = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)
	err := s.Save(t.Context(), rec)
	if err == nil || !strings.Contains(err.Error(), `saving state for "x"`) {
		t.Fatalf("Save with an unrepresentable time: err = %v, want an error naming the credential", err)
	}
	if _, err := s.Load(t.Context(), "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load after failed Save: err = %v, want ErrNotFound", err)
	}
}

func TestListSortedAndDelete(t *testing.T) {
	s := openTemp(t, Options{})
	for _, name := range []string{"zeta", "alpha", "Mike", "beta-2", "beta"} {
		if err := s.Save(t.Context(), fullRecord(name)); err != nil {
			t.Fatalf("Save %s: %v", name, err)
		}
	}
	names := func() []string {
		t.Helper()
		recs, err := s.List(t.Context())
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		var out []string
		for _, r := range recs {
			assertRecord(t, r, fullRecord(r.Credential))
			out = append(out, r.Credential)
		}
		return out
	}
	if got, want := fmt.Sprint(names()), "[Mike alpha beta beta-2 zeta]"; got != want {
		t.Fatalf("List order = %s, want %s", got, want)
	}

	if err := s.Delete(t.Context(), "beta"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := s.Delete(t.Context(), "never-existed"); err != nil {
		t.Fatalf("Delete of a missing record: %v", err)
	}
	if _, err := s.Load(t.Context(), "beta"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load after Delete: err = %v, want ErrNotFound", err)
	}
	if got, want := fmt.Sprint(names()), "[Mike alpha beta-2 zeta]"; got != want {
		t.Fatalf("List after Delete = %s, want %s", got, want)
	}
}

func TestReopenSeesData(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(t.Context(), fullRecord("a")); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(t.Context(), fullRecord("b")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(t.Context(), "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	s2, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s2.Close()
	got, err := s2.Load(t.Context(), "a")
	if err != nil {
		t.Fatalf("Load after reopen: %v", err)
	}
	assertRecord(t, got, fullRecord("a"))
	if _, err := s2.Load(t.Context(), "b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted record after reopen: err = %v, want ErrNotFound", err)
	}
}

func TestPermissions(t *testing.T) {
	t.Run("created", func(t *testing.T) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "a", "b")
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if s.Path() != filepath.Join(dir, "tokend.db") {
			t.Errorf("Path = %q", s.Path())
		}
		for _, d := range []string{filepath.Join(parent, "a"), dir} {
			assertMode(t, d, 0o700)
		}
		assertMode(t, s.Path(), 0o600)
	})
	t.Run("existing", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "tokend.db")
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err = Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		assertMode(t, dir, 0o755)  // the operator's directory is left alone
		assertMode(t, path, 0o600) // but the file holding tokens is tightened
	})
	t.Run("not a directory", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(file, Options{}); err == nil || !strings.Contains(err.Error(), "not a directory") {
			t.Fatalf("Open on a file: err = %v", err)
		}
	})
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("mode of %s = %o, want %o", path, got, want)
	}
}

// TestConcurrentSavesGroupCommit checks that Saves arriving while a commit
// runs all share the next transaction: the first Save's commit is held open
// until the other n-1 are queued, and then exactly one more commit carries
// all of them.
func TestConcurrentSavesGroupCommit(t *testing.T) {
	const n = 50
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	hold, release := make(chan struct{}), make(chan struct{})
	var sizes []int
	s.group.beforeCommit = func(k int) { // runs in the leader only: no race on sizes
		sizes = append(sizes, k)
		if len(sizes) == 1 {
			close(hold)
			<-release
		}
	}
	before := txID(t, s)

	var wg sync.WaitGroup
	errs := make(chan error, n)
	save := func(i int) { errs <- s.Save(t.Context(), fullRecord(fmt.Sprintf("cred-%02d", i))) }
	wg.Go(func() { save(0) })
	<-hold // the first commit is running; queue the rest behind it
	for i := 1; i < n; i++ {
		wg.Go(func() { save(i) })
	}
	for queued(s) < n-1 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Save: %v", err)
		}
	}
	if commits := txID(t, s) - before; commits != 2 || !slices.Equal(sizes, []int{1, n - 1}) {
		t.Errorf("%d Saves took %d commits of sizes %v, want 2 of [1 %d]", n, commits, sizes, n-1)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs, err := s.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != n {
		t.Fatalf("List after reopen = %d records, want %d", len(recs), n)
	}
	for i, r := range recs {
		if want := fmt.Sprintf("cred-%02d", i); r.Credential != want {
			t.Fatalf("record %d = %q, want %q", i, r.Credential, want)
		}
		assertRecord(t, r, fullRecord(r.Credential))
	}
}

// txID returns the id of the last committed write transaction.
// queued is how many writes wait for the next group commit.
func queued(s *FileStore) int {
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return len(s.group.queue)
}

func txID(t *testing.T, s *FileStore) int {
	t.Helper()
	var id int
	if err := s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestUseAfterClose(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	err = s.Save(ctx, fullRecord("x"))
	if !errors.Is(err, errClosed) || !strings.Contains(err.Error(), `saving state for "x"`) {
		t.Errorf("Save after Close: err = %v", err)
	}
	if _, err := s.Load(ctx, "x"); !errors.Is(err, errClosed) {
		t.Errorf("Load after Close: err = %v", err)
	}
	if _, err := s.List(ctx); !errors.Is(err, errClosed) {
		t.Errorf("List after Close: err = %v", err)
	}
	if err := s.Delete(ctx, "x"); !errors.Is(err, errClosed) {
		t.Errorf("Delete after Close: err = %v", err)
	}
}

func TestCancelledContext(t *testing.T) {
	s := openTemp(t, Options{})
	if err := s.Save(t.Context(), fullRecord("keep")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	err := s.Save(ctx, fullRecord("new"))
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), `"new"`) {
		t.Errorf("Save with a cancelled ctx: err = %v", err)
	}
	if _, err := s.Load(ctx, "keep"); !errors.Is(err, context.Canceled) {
		t.Errorf("Load with a cancelled ctx: err = %v", err)
	}
	if _, err := s.List(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("List with a cancelled ctx: err = %v", err)
	}
	if err := s.Delete(ctx, "keep"); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete with a cancelled ctx: err = %v", err)
	}

	// Nothing was written or removed.
	if _, err := s.Load(t.Context(), "new"); !errors.Is(err, ErrNotFound) {
		t.Errorf("record saved with a cancelled ctx exists: err = %v", err)
	}
	if _, err := s.Load(t.Context(), "keep"); err != nil {
		t.Errorf("record deleted with a cancelled ctx is gone: %v", err)
	}
}

func TestBadStoredRecord(t *testing.T) {
	s := openTemp(t, Options{})
	if err := s.Save(t.Context(), fullRecord("good")); err != nil {
		t.Fatal(err)
	}
	const tok = "SECRETTOKEN"
	putRaw(t, s, "future", `{"v":2,"credential":"future","refresh_token":"`+tok+`"}`)
	putRaw(t, s, "garbage", "\x00\x01"+tok)

	_, err := s.Load(t.Context(), "future")
	if err == nil || !strings.Contains(err.Error(), `loading state for "future"`) ||
		!strings.Contains(err.Error(), "schema version 2") {
		t.Errorf("Load of a future record: err = %v", err)
	}
	_, err = s.Load(t.Context(), "garbage")
	if err == nil || !strings.Contains(err.Error(), `loading state for "garbage"`) {
		t.Errorf("Load of a corrupted record: err = %v", err)
	}
	if err != nil && strings.Contains(err.Error(), tok[:4]) {
		t.Errorf("error %q leaks stored content", err)
	}

	recs, err := s.List(t.Context())
	if err == nil || recs != nil {
		t.Fatalf("List with bad records = %d records, %v; want an error", len(recs), err)
	}
	for _, want := range []string{`record for "future"`, "schema version 2", `record for "garbage"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("List error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), tok[:4]) {
		t.Errorf("List error %q leaks stored content", err)
	}

	// The good record is still readable on its own.
	if _, err := s.Load(t.Context(), "good"); err != nil {
		t.Errorf("Load of the good record: %v", err)
	}
}

// putRaw stores bytes under name, bypassing the codec.
func putRaw(t *testing.T, s *FileStore, name, data string) {
	t.Helper()
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketName).Put([]byte(name), []byte(data))
	})
	if err != nil {
		t.Fatal(err)
	}
}
