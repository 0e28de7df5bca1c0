package state

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
)

// sealedPrefix starts every encrypted record: a version tag, then the
// 12-byte nonce and the AES-256-GCM ciphertext of the JSON record, sealed
// with the credential name as additional data (a record copied under another
// name does not open).
var sealedPrefix = []byte("tokend-aesgcm-v1:")

// LoadKeyFile reads a state encryption key: exactly 32 raw bytes, or 64 hex
// digits (surrounding whitespace allowed). Errors name the file, never its
// content.
func LoadKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading state encryption key: %w", err)
	}
	if len(b) == 32 {
		return b, nil
	}
	if t := bytes.TrimSpace(b); len(t) == 64 {
		key := make([]byte, 32)
		if _, err := hex.Decode(key, t); err == nil {
			return key, nil
		}
	}
	return nil, fmt.Errorf("state encryption key %s: want 32 raw bytes or 64 hex digits (got %d bytes)", path, len(b))
}

// sealCodec encrypts what its inner codec produces. Reading a record written
// before encryption was turned on is allowed (it is sealed on its next save);
// reading a sealed record without the key, or with another key, fails.
type sealCodec struct {
	inner codec
	aead  cipher.AEAD
}

func newSealCodec(inner codec, key []byte) (codec, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("state encryption key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return sealCodec{inner: inner, aead: aead}, nil
}

func (c sealCodec) encode(rec Record) ([]byte, error) {
	plain, err := c.inner.encode(rec)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(sealedPrefix)+c.aead.NonceSize(), len(sealedPrefix)+c.aead.NonceSize()+len(plain)+c.aead.Overhead())
	copy(out, sealedPrefix)
	nonce := out[len(sealedPrefix):]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("encrypting record: %w", err)
	}
	return c.aead.Seal(out, nonce, plain, []byte(rec.Credential)), nil
}

func (c sealCodec) decode(name string, data []byte) (Record, error) {
	if !bytes.HasPrefix(data, sealedPrefix) {
		return c.inner.decode(name, data) // written before encryption was enabled
	}
	rest := data[len(sealedPrefix):]
	if len(rest) < c.aead.NonceSize() {
		return Record{}, errors.New("encrypted record is truncated")
	}
	plain, err := c.aead.Open(nil, rest[:c.aead.NonceSize()], rest[c.aead.NonceSize():], []byte(name))
	if err != nil {
		return Record{}, errors.New("cannot decrypt the record: wrong state encryption key, or the record was altered")
	}
	return c.inner.decode(name, plain)
}

// plainCodec is jsonCodec refusing sealed records with a clear message.
type plainCodec struct{ jsonCodec }

func (c plainCodec) decode(name string, data []byte) (Record, error) {
	if bytes.HasPrefix(data, sealedPrefix) {
		return Record{}, errors.New("the record is encrypted: set [state] encryption_key_file to the key it was written with")
	}
	return c.jsonCodec.decode(name, data)
}
