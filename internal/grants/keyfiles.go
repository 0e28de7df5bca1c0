package grants

import (
	"crypto"
	"errors"
	"fmt"
	"os"

	"github.com/tokend/tokend/internal/jwtsign"
	"github.com/tokend/tokend/internal/secret"
)

// CheckKeyFileMode refuses a private key file that users other than its
// owner and group can read or write, or that its group can write (mode
// bits 0o026): a key such a file holds is not secret any more. A
// group-readable key (0640, owned by root with a tokend group) is accepted,
// the way packaged daemons share keys with their service user. The error
// names the file and its mode and says how to fix it. A file that cannot be
// stat-ed is left to the read that follows, which reports it.
//
// Kubernetes mounts Secret volumes 0644 by default: set `defaultMode: 0400`
// (or 0440 with fsGroup) on the volume.
func CheckKeyFileMode(key, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	if perm := fi.Mode().Perm(); perm&0o026 != 0 {
		return fmt.Errorf("%s %s is readable or writable by other users (mode %#o); chmod 600 it (or 640 with a group only tokend is in)", key, path, perm)
	}
	return nil
}

// validateKeySource reports a key source that names none or both of
// private_key_file and private_key_env.
func validateKeySource(file, env string, bad func(field, format string, args ...any)) {
	switch {
	case file == "" && env == "":
		bad("private_key_file", "is required (or private_key_env)")
	case file != "" && env != "":
		bad("private_key_file", "set only one of private_key_file and private_key_env")
	}
}

// loadPrivateKey reads and parses a PEM private key (RSA or EC; PKCS#1,
// PKCS#8 or SEC 1) from file through read, after CheckKeyFileMode, or from
// the environment variable env. Errors name the file or variable, never the
// key. Every kind that signs with a key (private_key_jwt; the JWT-bearer and
// GitHub App grants) reads it this way.
func loadPrivateKey(file, env string, read func(string) (secret.Secret, error)) (crypto.Signer, error) {
	var pemText secret.Secret
	where := ""
	switch {
	case file != "":
		where = "private_key_file " + file
		if err := CheckKeyFileMode("private_key_file", file); err != nil {
			return nil, err
		}
		s, err := read(file)
		if err != nil {
			return nil, fmt.Errorf("private_key_file: %w", err)
		}
		pemText = s
	case env != "":
		where = "private_key_env " + env
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return nil, fmt.Errorf("private_key_env: environment variable %s is not set", env)
		}
		pemText = secret.New(v)
	default:
		return nil, errors.New("no private key configured (private_key_file or private_key_env)")
	}
	key, err := jwtsign.ParsePrivateKey([]byte(pemText.Reveal()))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return key, nil
}
