package state

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/config"
)

// TestOpenConfigAppliesEncryption: a store opened through OpenConfig with an
// encryption_key_file is sealed: the file holds no token, a store opened
// without the key cannot read the record, and OpenConfig with the key can.
func TestOpenConfigAppliesEncryption(t *testing.T) {
	dir := t.TempDir()
	cfg := config.State{Backend: "file", Dir: filepath.Join(dir, "state"),
		EncryptionKeyFile: writeKey(t, dir, "state.key", bytes.Repeat([]byte{3}, 32))}
	ctx := context.Background()
	st, err := OpenConfig(cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := fullRecord("app")
	if err := st.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(filepath.Join(cfg.Dir, dbFileName))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(db, []byte(want.RefreshToken.Reveal())) || bytes.Contains(db, []byte(want.AccessToken.Reveal())) {
		t.Fatal("the database file of a store opened with a key holds a token")
	}

	plain, err := Open(cfg.Dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Load(ctx, "app"); err == nil {
		t.Error("a store opened without the key read a sealed record")
	}
	_ = plain.Close()
	noKey := cfg
	noKey.EncryptionKeyFile = ""
	if st, err := OpenConfig(noKey, 0); err != nil {
		t.Fatal(err)
	} else if _, err := st.Load(ctx, "app"); err == nil {
		t.Error("OpenConfig without encryption_key_file read a sealed record")
	} else {
		_ = st.Close()
	}

	st, err = OpenConfig(cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.Load(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	assertRecord(t, got, want)
}

// TestOpenConfigLockTimeoutAndBackend: the lock timeout is passed on (a held
// store is ErrLocked after that long, not the 200ms default), a missing key
// file fails at open,
// and the vault backend is refused.
func TestOpenConfigLockTimeoutAndBackend(t *testing.T) {
	cfg := config.State{Backend: "file", Dir: t.TempDir()}
	held, err := OpenConfig(cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	start := time.Now()
	const timeout = 5 * defaultLockTimeout // bbolt retries every 50ms: waits are approximate
	if _, err := OpenConfig(cfg, timeout); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	if waited := time.Since(start); waited < timeout/2 {
		t.Errorf("gave up on the lock after %s, the timeout was %s", waited, timeout)
	}
	missing := config.State{Backend: "file", Dir: t.TempDir(), EncryptionKeyFile: filepath.Join(t.TempDir(), "absent.key")}
	if _, err := OpenConfig(missing, 0); err == nil {
		t.Error("a missing encryption_key_file was ignored")
	}
	if _, err := OpenConfig(config.State{Backend: "vault", Dir: t.TempDir()}, 0); err == nil {
		t.Error("the vault backend was opened as a file store")
	}
}
