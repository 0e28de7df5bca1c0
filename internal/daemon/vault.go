package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/state/vaultstore"
	"github.com/tokend/tokend/internal/vaultclient"
)

// vaultCheckTimeout bounds the start-up login and the state store's
// start-up check (a vault sink's is its kind's, internal/sinks/vault).
const vaultCheckTimeout = 30 * time.Second

// backend is what the daemon needs from either state backend.
type backend interface {
	scheduler.Store
	Path() string
	Close() error
}

// openVault logs in to Vault when [vault] is configured; nil otherwise.
func openVault(cfg *config.Config, log *zap.Logger) (*vaultclient.Client, error) {
	if cfg.Vault == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), vaultCheckTimeout)
	defer cancel()
	return vaultclient.New(ctx, vaultclient.Config(*cfg.Vault), log, // the same fields: the client needs no config types
		vaultclient.WithConcurrency(cfg.Scheduler.MaxConcurrent))
}

// openStore opens the configured state backend: the bbolt file store
// (locked against a second daemon) or the shared Vault KV v2 store.
func openStore(cfg *config.Config, vc *vaultclient.Client) (backend, error) {
	if cfg.State.Backend != "vault" {
		return state.OpenConfig(cfg.State, 0)
	}
	if vc == nil {
		return nil, fmt.Errorf("state backend \"vault\" needs a [vault] table")
	}
	ctx, cancel := context.WithTimeout(context.Background(), vaultCheckTimeout)
	defer cancel()
	return vaultstore.Open(ctx, vaultstore.Options{Client: vc, Mount: cfg.State.Mount, Prefix: cfg.State.Prefix, Owner: claimOwner(cfg.State)})
}

// claimOwner is this replica's name in the vault backend's claims:
// state.owner, or hostname + ":" + the absolute state dir. It is the same
// after a restart, so a replica that was killed holding claims takes them
// back at once instead of waiting claim_ttl; replicas on one host need
// distinct state dirs (or owners).
func claimOwner(st config.State) string {
	if st.Owner != "" {
		return st.Owner
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	dir, err := filepath.Abs(st.Dir)
	if err != nil {
		dir = st.Dir
	}
	return host + ":" + dir
}

// runVault keeps the Vault token alive while the daemon runs; the returned
// function waits for it after ctx ended.
func (d *Daemon) runVault(ctx context.Context) (wait func()) {
	if d.vault == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() { // owned by the daemon: Run waits for it before returning
		defer close(done)
		_ = d.vault.Run(ctx)
	}()
	return func() { <-done }
}
