package daemon

import (
	"context"
	"fmt"
	"net/http"
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
	// OptionalSecrets turns secrets that cannot be read into a warning
	// (tokend import, which needs one only to ask about a missing expiry).
	OptionalSecrets bool
	// Warn receives each warning as it is found: the config's own
	// (cfg.Warnings), then, with OptionalSecrets, the unreadable secrets.
	// Nil drops them.
	Warn func(string)
	// HTTPClient is used for discovery; nil: discovery's default.
	HTTPClient *http.Client
}

// LoadConfig is the one path from a config file to a config ready to use,
// shared by `tokend run`, Reload and the bootstrap commands: config.Load
// (every validation problem at once), its warnings to opts.Warn,
// ResolveSecrets (every unreadable secret at once), then issuer discovery
// for the credentials that set issuer (all of them, or opts.Credential
// only), bounded by 30 seconds and ctx. It stops at the first step that
// fails and returns a *LoadError naming it; nothing is logged or printed
// here. Errors never hold a secret.
func LoadConfig(ctx context.Context, path string, opts LoadOptions) (*config.Config, error) {
	warn := opts.Warn
	if warn == nil {
		warn = func(string) {}
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, &LoadError{StageLoad, err}
	}
	for _, w := range cfg.Warnings {
		warn(w)
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
		if !opts.OptionalSecrets {
			return nil, &LoadError{StageSecrets, err}
		}
		warn(err.Error())
	}
	dctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	if only != nil {
		err = discovery.ApplyCredential(dctx, only, opts.HTTPClient)
	} else {
		err = discovery.Apply(dctx, cfg, opts.HTTPClient)
	}
	if err != nil {
		return nil, &LoadError{StageDiscovery, err}
	}
	return cfg, nil
}
