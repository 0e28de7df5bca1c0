package status

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/tokend/tokend/internal/atomicfile"
	"github.com/tokend/tokend/internal/secret"
)

// adminTokenBytes is the admin token's entropy; it is stored hex-encoded.
const adminTokenBytes = 32

// EnsureAdminToken returns the admin token stored at path, creating it (32
// random bytes, hex, mode 0600, written atomically) when the file does not
// exist. An existing file readable by group or others is narrowed to 0600.
// A file that does not hold a well-formed token is an error: delete it and
// restart to get a new one.
func EnsureAdminToken(path string) (secret.Secret, error) {
	tok, err := ReadAdminToken(path)
	switch {
	case err == nil:
		if fi, serr := os.Stat(path); serr == nil && fi.Mode().Perm()&0o077 != 0 {
			if cerr := os.Chmod(path, 0o600); cerr != nil {
				return secret.Secret{}, fmt.Errorf("admin token %s: narrowing its mode to 0600: %w", path, cerr)
			}
		}
		return tok, nil
	case !errors.Is(err, fs.ErrNotExist):
		return secret.Secret{}, err
	}
	b := make([]byte, adminTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return secret.Secret{}, fmt.Errorf("admin token: %w", err)
	}
	v := hex.EncodeToString(b)
	if err := atomicfile.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
		return secret.Secret{}, fmt.Errorf("writing admin token %s: %w", path, err)
	}
	return secret.New(v), nil
}

// ReadAdminToken reads the admin token at path. Errors wrap fs.ErrNotExist
// and fs.ErrPermission from the read and never contain the file's content.
func ReadAdminToken(path string) (secret.Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return secret.Secret{}, fmt.Errorf("reading admin token (run as the daemon's user or root): %w", err)
		}
		return secret.Secret{}, fmt.Errorf("reading admin token: %w", err)
	}
	v := strings.TrimSpace(string(b))
	if raw, err := hex.DecodeString(v); err != nil || len(raw) != adminTokenBytes {
		return secret.Secret{}, fmt.Errorf("admin token %s is malformed (want %d hex digits); delete it and restart tokend to create a new one", path, 2*adminTokenBytes)
	}
	return secret.New(v), nil
}

// tokenMatches compares a presented token with the admin token in constant
// time (hashing first, so not even the length leaks through timing).
func tokenMatches(presented string, want secret.Secret) bool {
	if want.IsZero() {
		return false
	}
	a := sha256.Sum256([]byte(presented))
	b := sha256.Sum256([]byte(want.Reveal()))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}
