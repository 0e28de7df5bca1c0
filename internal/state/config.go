package state

import (
	"errors"
	"time"

	"github.com/tokend/tokend/internal/config"
)

// OpenConfig opens the file state store that a config's [state] table
// describes: its dir and, when set, its encryption_key_file (every record is
// then sealed, see Options). lockTimeout is how long to wait for another
// process's lock (0: the default, 200ms). It is the one place where [state]
// becomes Options, so the daemon and the commands that use the store while no
// daemon runs (authorize, import, introspect) open it alike: a key set in the
// config can never be forgotten by one of them. The vault backend is not a
// file store and is refused (state/vaultstore opens it).
func OpenConfig(cfg config.State, lockTimeout time.Duration) (*FileStore, error) {
	if cfg.Backend == "vault" {
		return nil, errors.New(`opening state store: backend "vault" is not the file store`)
	}
	return Open(cfg.Dir, Options{LockTimeout: lockTimeout, EncryptionKeyFile: cfg.EncryptionKeyFile})
}
