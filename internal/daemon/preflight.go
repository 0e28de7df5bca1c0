package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/atomicfile"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/state/vaultstore"
)

// Preflight runs the start-up checks of New on a config that LoadConfig
// returned, without side effects, for `tokend validate`: every sink is built
// as New builds it (the kinds' start-up checks: sink directories exist and
// this user may create files in them, env-files parse, Vault mounts and
// policies allow the writes; on_change programs are found on PATH and
// executable), but directories are checked with atomicfile.CheckDirAccess,
// which creates no probe file, and nothing is written or started. The state
// directory (or the parent New would create it in) must be writable and an
// encryption_key_file must hold a key; the store itself is not opened (a
// running daemon holds its lock). With [vault], Preflight logs in to Vault
// (the one thing it leaves behind: a Vault token that expires by its TTL)
// and checks the vault state backend's mount and policy. A config loaded with
// LoadOptions.DeferDiscovery is discovered as New does, without the stored
// metadata (an unavailable issuer leaves its credentials waiting, as in
// run; an issuer that answers wrongly is a problem). It returns every
// problem at once, each naming its credential and sink; nil when New would
// get past them.
func Preflight(ctx context.Context, cfg *config.Config, log *zap.Logger) error {
	errs := checkStateFiles(cfg.State)
	hw := hookWiring{log: log, share: newSinkShare()}
	hw.share.checkDir = atomicfile.CheckDirAccess
	if cfg.Vault != nil {
		vc, err := openVault(cfg, log)
		if err != nil {
			errs = append(errs, fmt.Errorf("vault: %w", err))
		}
		hw.vault = vc
		if vc != nil && cfg.State.Backend == "vault" {
			vctx, cancel := context.WithTimeout(ctx, vaultCheckTimeout)
			_, err := vaultstore.Open(vctx, vaultstore.Options{Client: vc, Mount: cfg.State.Mount, Prefix: cfg.State.Prefix, Owner: claimOwner(cfg.State)})
			cancel()
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	if cfg.DiscoveryDeferred { // as New does, without a store to fall back to or save in
		hw.discLog = log.Named("discovery")
		pending, err := discoverDeferred(ctx, cfg, nil, hw.discLog, time.Now)
		if err != nil {
			errs = append(errs, err)
		}
		hw.pending = pending
	}
	if _, err := buildCredentials(cfg, hw); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkStateFiles checks what opening the file state store needs: its
// directory writable (or, when missing, the nearest existing parent, where
// New creates it) and the encryption key readable and well formed.
func checkStateFiles(st config.State) []error {
	if st.Backend == "vault" {
		return nil
	}
	var errs []error
	dir, err := filepath.Abs(st.Dir)
	if err != nil {
		dir = st.Dir
	}
	for {
		if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
			break
		}
		dir = filepath.Dir(dir)
	}
	if err := atomicfile.CheckDirAccess(dir); err != nil {
		errs = append(errs, fmt.Errorf("state.dir: %w", err))
	}
	if st.EncryptionKeyFile != "" {
		if _, err := state.LoadKeyFile(st.EncryptionKeyFile); err != nil {
			errs = append(errs, fmt.Errorf("state.encryption_key_file: %w", err))
		}
	}
	return errs
}
