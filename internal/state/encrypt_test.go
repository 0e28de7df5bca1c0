package state

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeKey(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEncryptedStoreFileYieldsNoToken: with a key, the database file holds
// no token; the same key reads it back; no key or another key fails with an
// error naming the credential.
func TestEncryptedStoreFileYieldsNoToken(t *testing.T) {
	keys := t.TempDir()
	raw := bytes.Repeat([]byte{7}, 32)
	keyRaw := writeKey(t, keys, "raw.key", raw)
	keyHex := writeKey(t, keys, "hex.key", []byte(hex.EncodeToString(raw)+"\n"))
	other := writeKey(t, keys, "other.key", bytes.Repeat([]byte{9}, 32))
	dir := t.TempDir()
	ctx := context.Background()
	st, err := Open(dir, Options{EncryptionKeyFile: keyRaw})
	if err != nil {
		t.Fatal(err)
	}
	want := fullRecord("vault-app")
	if err := st.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(filepath.Join(dir, dbFileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{want.RefreshToken.Reveal(), want.AccessToken.Reveal(), "rt-secret", "refresh_token"} {
		if bytes.Contains(db, []byte(s)) {
			t.Fatalf("the encrypted database file contains %q", s)
		}
	}

	st, err = Open(dir, Options{EncryptionKeyFile: keyHex}) // same key in hex
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.Load(ctx, "vault-app")
	if err != nil {
		t.Fatal(err)
	}
	assertRecord(t, got, want)
	_ = st.Close()

	for name, opts := range map[string]Options{"no key": {}, "other key": {EncryptionKeyFile: other}} {
		st, err := Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		_, err = st.Load(ctx, "vault-app")
		_ = st.Close()
		if err == nil || !strings.Contains(err.Error(), `"vault-app"`) || !strings.Contains(err.Error(), "encrypt") {
			t.Errorf("%s: want an error naming the credential and the key problem, got %v", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "rt-secret") {
			t.Errorf("%s: error leaks a token", name)
		}
	}
}

// TestEncryptionTurnedOnLater: plaintext records stay readable and are
// sealed on their next save; a sealed record moved under another name fails.
func TestEncryptionTurnedOnLater(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, fullRecord("a")); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	key := writeKey(t, t.TempDir(), "k", bytes.Repeat([]byte{1}, 32))
	st, err = Open(dir, Options{EncryptionKeyFile: key})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec, err := st.Load(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	c := st.codec.(sealCodec)
	sealed, err := c.encode(rec)
	if err != nil || !bytes.HasPrefix(sealed, sealedPrefix) {
		t.Fatalf("not sealed: %v", err)
	}
	if _, err := c.decode("b", sealed); err == nil {
		t.Fatal("a sealed record opened under another credential's name")
	}
}

func TestLoadKeyFileRejectsBadKeys(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string][]byte{
		"short":   []byte("0123456789abcdef"),
		"bad hex": []byte(strings.Repeat("zz", 32)),
		"long":    bytes.Repeat([]byte{1}, 33),
	} {
		p := writeKey(t, dir, strings.ReplaceAll(name, " ", "_"), content)
		_, err := Open(t.TempDir(), Options{EncryptionKeyFile: p})
		if err == nil || !strings.Contains(err.Error(), p) || strings.Contains(err.Error(), string(content)) {
			t.Errorf("%s: want an error naming the file and not its content, got %v", name, err)
		}
	}
	if _, err := Open(t.TempDir(), Options{EncryptionKeyFile: filepath.Join(dir, "missing")}); err == nil {
		t.Error("a missing key file was accepted")
	}
}

// FuzzDecodeRecord: decoding arbitrary bytes never panics, never echoes
// them in an error, and whatever decodes re-encodes to the same record.
func FuzzDecodeRecord(f *testing.F) {
	good, err := EncodeRecord(fullRecord("x"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"v":1,"credential":"x","generation":0}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`{"v":1,"credential":"x","expires_at":"not a time"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := DecodeRecord("x", data)
		if err != nil {
			if len(data) >= 12 && strings.Contains(err.Error(), string(data)) {
				t.Fatal("the error echoes the input")
			}
			return
		}
		again, err := EncodeRecord(rec)
		if err != nil {
			return // e.g. a time RFC 3339 cannot write back; refused, not corrupted
		}
		rec2, err := DecodeRecord("x", again)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		assertRecord(t, rec2, rec)
	})
}
