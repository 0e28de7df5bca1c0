package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/discovery"
)

// discoveryTimeout bounds issuer discovery (all issuers of a config together).
const discoveryTimeout = 30 * time.Second

// LoadStage names the step of LoadConfig that failed.
type LoadStage int

// The steps of LoadConfig, in order.
const (
	StageLoad       LoadStage = iota + 1 // reading, decoding, defaulting and validating the file (config.Load)
	StageCredential                      // LoadOptions.Credential is not in the config
	StageSecrets                         // a client secret or API key cannot be read
	StageDiscovery                       // issuer discovery (RFC 8414 / OIDC metadata) failed
)

// LoadError is every error LoadConfig returns: Stage says which step failed
// (callers word their message by it) and Error is that step's own message,
// unchanged, listing every problem of the step.
type LoadError struct {
	Stage LoadStage
	Err   error
}

// Error returns the failed step's message as it is.
func (e *LoadError) Error() string { return e.Err.Error() }

// Unwrap returns the failed step's error.
func (e *LoadError) Unwrap() error { return e.Err }

// LoadOptions tunes LoadConfig. The zero value is what `tokend run` and a
// reload need: every credential, every secret required.
type LoadOptions struct {
	// Credential, if set, names the one credential a command works on
	// (authorize, import, introspect): it must be in the config, and only
	// its issuer is discovered.
	Credential string
	// Warn receives the config's warnings (cfg.Warnings), in order; nil
	// drops them.
	Warn func(string)
	// SecretsUnreadable, if set, receives the error listing the secrets that
	// cannot be read, and loading goes on (tokend import, which needs a
	// secret only to ask about a missing expiry; tokend validate, run where
	// the secret files may not exist). Nil: they fail LoadConfig.
	SecretsUnreadable func(error)
	// Offline skips issuer discovery (tokend validate needs no network).
	Offline bool
	// DeferDiscovery leaves issuer discovery to New (tokend run): the
	// config comes back with DiscoveryDeferred set, and New discovers after
	// opening the state store, so that an unreachable issuer falls back to
	// the metadata stored at the last success, and a credential with
	// neither waits in backoff alone instead of stopping start-up
	// (issue 12 item 6).
	DeferDiscovery bool
}

// LoadConfig is the one path from a config file to a config ready to use,
// shared by `tokend run`, Reload, `tokend validate` and the bootstrap
// commands: config.Load (every validation problem at once), its warnings to
// opts.Warn, ResolveSecrets (every unreadable secret at once), then, unless
// opts.Offline, issuer discovery for the credentials that set issuer (all of
// them, or opts.Credential only), bounded by 30 seconds and ctx. It stops at
// the first step that fails and returns a *LoadError naming it; nothing is
// logged or printed here. Errors never hold a secret.
func LoadConfig(ctx context.Context, path string, opts LoadOptions) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, &LoadError{StageLoad, err}
	}
	for _, w := range cfg.Warnings {
		if opts.Warn != nil {
			opts.Warn(w)
		}
	}
	var only *config.Credential
	if opts.Credential != "" {
		cr, ok := cfg.Credential(opts.Credential)
		if !ok {
			return nil, &LoadError{StageCredential, fmt.Errorf("no credential %q in %s", opts.Credential, path)}
		}
		only = cr
	}
	if err := cfg.ResolveSecrets(); err != nil {
		if opts.SecretsUnreadable == nil {
			return nil, &LoadError{StageSecrets, err}
		}
		opts.SecretsUnreadable(err)
	}
	if opts.Offline {
		return cfg, nil
	}
	if opts.DeferDiscovery {
		cfg.DiscoveryDeferred = true
		return cfg, nil
	}
	dctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	if only != nil {
		err = discovery.ApplyCredential(dctx, only, nil)
	} else {
		err = discovery.Apply(dctx, cfg, nil)
	}
	if err != nil {
		return nil, &LoadError{StageDiscovery, err}
	}
	return cfg, nil
}
