// Package bootstrap gets a credential its first tokens: `tokend authorize`
// (the authorization-code flow with PKCE and a loopback redirect listener)
// and `tokend import` (a refresh token or token JSON obtained elsewhere).
// Both end in Store, which writes the tokens the way the running scheduler's
// Import would: into the file state store directly when no daemon holds it,
// or through the daemon's admin API when one does; into the shared vault
// state store directly, as a replica writes it (vault.go). ReadCurrent and
// MarkNeedsReauth serve `tokend introspect` the same way (local.go).
package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/status"
	"github.com/tokend/tokend/internal/vaultclient"
)

// ErrDaemonUnreachable is wrapped when a running tokend holds the state
// store and its admin API cannot be used.
var ErrDaemonUnreachable = errors.New("a running tokend holds the state store; stop it or enable [status]")

// Importer stores a token through a running daemon. Implementations must
// not return before the daemon has saved the token durably.
type Importer interface {
	Import(ctx context.Context, name string, tok scheduler.ImportedToken) error
}

// Where says how Store stored the token.
type Where string

// The two ways tokens reach the store.
const (
	Direct    Where = "state store"       // written to the store file; the next `tokend run` picks it up
	ViaDaemon Where = "running daemon"    // handed to the daemon, which saved it and wrote the sinks
	InVault   Where = "vault state store" // written to Vault; running replicas adopt it, new ones load it
)

// StoreOptions tunes Store. The zero value uses the config's [status]
// section to reach a running daemon, and time.Now.
type StoreOptions struct {
	// Daemon returns the importer used when the store is locked; nil means
	// DaemonImporter(cfg).
	Daemon func(cfg *config.Config) (Importer, error)
	Now    func() time.Time
	// LockTimeout is how long to wait for the store lock (0: state's default).
	LockTimeout time.Duration
	// ClaimWait is how long to wait for a replica holding the credential's
	// refresh claim (vault backend; 0: DefaultClaimWait).
	ClaimWait time.Duration
}

// Store saves tok for the configured credential name. If no daemon holds
// the (file) state store it writes the record itself, built by
// state.Record.Imported as the daemon's Import builds it (next generation,
// status ok or pending, intent and last error cleared); otherwise it hands
// tok to the daemon. With the vault backend it writes the same record to
// Vault itself, under the credential's claim and with check-and-set, as a
// replica would (storeVault): no daemon needs to run. An error means
// nothing is known to have been stored.
func Store(ctx context.Context, cfg *config.Config, name string, tok scheduler.ImportedToken, opts StoreOptions) (Where, error) {
	if _, ok := cfg.Credential(name); !ok {
		return "", fmt.Errorf("no credential %q in the config", name)
	}
	if tok.RefreshToken.IsZero() && tok.AccessToken.IsZero() {
		return "", errors.New("nothing to store: no refresh token and no access token")
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	if cfg.State.Backend == "vault" {
		if err := viaVault(ctx, cfg, name, tok, now, opts); err != nil {
			return "", err
		}
		return InVault, nil
	}
	st, err := OpenLocal(cfg, opts.LockTimeout)
	if errors.Is(err, state.ErrLocked) {
		return viaDaemon(ctx, cfg, name, tok, opts)
	}
	if err != nil {
		return "", err
	}
	err = storeDirect(ctx, st, name, tok, now())
	if cerr := st.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("closing state store: %w", cerr)
	}
	if err != nil {
		return "", err
	}
	return Direct, nil
}

// Preflight checks, before a code is spent, that Store will have somewhere
// to put the tokens: the file state store can be opened (and is closed
// again), or, when a daemon holds it, the daemon's admin API is configured
// and its admin token readable; with the vault backend, that tokend logs in
// to Vault and its policy allows the state store. It cannot promise that
// Store succeeds, only catch the usual mistakes early.
func Preflight(cfg *config.Config, opts StoreOptions) error {
	if cfg.State.Backend == "vault" {
		ctx, cancel := context.WithTimeout(context.Background(), vaultclient.LoginTimeout)
		defer cancel()
		_, err := OpenVault(ctx, cfg)
		return err
	}
	st, err := OpenLocal(cfg, opts.LockTimeout)
	if err == nil {
		return st.Close()
	}
	if !errors.Is(err, state.ErrLocked) {
		return err
	}
	if opts.Daemon != nil {
		_, err := opts.Daemon(cfg)
		return err
	}
	if _, err := DaemonImporter(cfg); err != nil {
		return fmt.Errorf("%w: %w", ErrDaemonUnreachable, err)
	}
	if _, err := status.ReadAdminToken(cfg.AdminTokenFile()); err != nil {
		return fmt.Errorf("%w: %w", ErrDaemonUnreachable, err)
	}
	return nil
}

func storeDirect(ctx context.Context, st *state.FileStore, name string, tok scheduler.ImportedToken, now time.Time) error {
	prev, err := st.Load(ctx, name)
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return err
	}
	return st.Save(ctx, prev.Imported(name, tok, now))
}

func viaVault(ctx context.Context, cfg *config.Config, name string, tok scheduler.ImportedToken, now func() time.Time, opts StoreOptions) error {
	st, err := OpenVault(ctx, cfg)
	if err != nil {
		return err
	}
	wait := opts.ClaimWait
	if wait <= 0 {
		wait = DefaultClaimWait
	}
	return storeVault(ctx, st, name, tok, now, cfg.State.ClaimTTL.Duration, wait)
}

func viaDaemon(ctx context.Context, cfg *config.Config, name string, tok scheduler.ImportedToken, opts StoreOptions) (Where, error) {
	mk := opts.Daemon
	if mk == nil {
		mk = DaemonImporter
	}
	imp, err := mk(cfg)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrDaemonUnreachable, err)
	}
	if err := imp.Import(ctx, name, tok); err != nil {
		if errors.Is(err, status.ErrUnreachable) {
			return "", fmt.Errorf("%w: %w", ErrDaemonUnreachable, err)
		}
		return "", fmt.Errorf("storing through the running tokend: %w", err)
	}
	return ViaDaemon, nil
}

// DaemonImporter returns an Importer for the daemon described by cfg: its
// [status] listen address and the admin token in state.dir. Without a
// [status] section there is no way in, and it returns an error saying so.
func DaemonImporter(cfg *config.Config) (Importer, error) {
	if cfg.Status == nil || cfg.Status.Listen == "" {
		return nil, errors.New("the config has no [status] section, so the daemon's admin API is off")
	}
	c, err := status.NewClient(cfg.Status.Listen, cfg.AdminTokenFile())
	if err != nil {
		return nil, err
	}
	return statusImporter{c}, nil
}

type statusImporter struct{ c *status.Client }

func (s statusImporter) Import(ctx context.Context, name string, tok scheduler.ImportedToken) error {
	return s.c.Import(ctx, name, status.ImportRequest{RefreshToken: tok.RefreshToken, AccessToken: tok.AccessToken,
		TokenType: tok.TokenType, Scope: tok.Scope, ExpiresAt: tok.ExpiresAt, IssuedAt: tok.IssuedAt,
		RefreshTokenExpiresAt: tok.RefreshTokenExpiresAt, Extra: tok.Extra})
}

// FromToken is a token-endpoint answer as Store (and scheduler.Import) take it.
func FromToken(tok grants.Token) scheduler.ImportedToken { return scheduler.TokensFrom(tok) }
