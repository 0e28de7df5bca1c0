// Package vaultclient is tokend's Vault client: it builds a vault/api client from
// the [vault] table, logs in (token, AppRole, Kubernetes or JWT auth), and keeps
// the Vault token alive with the api's LifetimeWatcher, logging in again when
// the token can no longer be renewed.
//
// vault/api's own retries are off (MaxRetries = 0): the scheduler's backoff is
// tokend's only retry layer. Sinks (internal/sinks/vault) and the state store
// (internal/state/vaultstore) share one Client.
package vaultclient

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
	"github.com/hashicorp/vault/api/auth/kubernetes"
	"go.uber.org/zap"
)

// Config is how the client reaches and logs in to Vault. Its fields are
// those of the [vault] table (config.Vault, which converts to it), so this
// package needs nothing from the config package: the config imports the sink
// kinds, and the vault sink imports this client.
type Config struct {
	Address         string // Vault URL; VAULT_ADDR when empty
	CACert          string // PEM file of CAs to trust
	TLSSkipVerify   bool   // no certificate verification (tests only)
	Namespace       string // Vault Enterprise namespace
	Auth            string // token (default) | approle | kubernetes | jwt
	TokenFile       string // auth = "token": else VAULT_TOKEN, else ~/.vault-token
	RoleID          string // auth = "approle": role_id or RoleIDFile
	RoleIDFile      string
	SecretIDFile    string
	SecretIDWrapped bool   // SecretIDFile holds a response-wrapping token
	Role            string // auth = "kubernetes" or "jwt": role and the JWT file, read at every login
	JWTPath         string
	Mount           string // the auth method's mount
}

// DefaultAuth is the login method when Config.Auth is empty.
const DefaultAuth = "token"

// LoginTimeout bounds one login attempt.
const LoginTimeout = 30 * time.Second

// Client is a logged-in Vault client. API is safe for concurrent use; its
// token is replaced in place when Run logs in again.
type Client struct {
	api  *api.Client
	cfg  Config
	log  *zap.Logger
	home func() (string, error)

	auth     atomic.Pointer[api.SecretAuth] // last login's auth block (nil: static token)
	logins   atomic.Int64
	renewals atomic.Int64

	checks checkCache    // Prefetch's answers for the sinks' start-up checks
	slots  chan struct{} // WriteSlot's bound (pool.go)
}

// New builds the client from cfg and logs in once (bounded by ctx and
// LoginTimeout), so a wrong address, CA or credential fails at start-up.
// Errors never contain a token or secret ID. opts size its connection pool
// (WithConcurrency; default DefaultConcurrency).
func New(ctx context.Context, cfg Config, log *zap.Logger, opts ...Option) (*Client, error) {
	if log == nil {
		log = zap.NewNop()
	}
	o := options{concurrency: DefaultConcurrency}
	for _, opt := range opts {
		opt(&o)
	}
	acfg := api.DefaultConfig() // reads VAULT_* from the environment
	if acfg.Error != nil {
		return nil, fmt.Errorf("vault client: %w", acfg.Error)
	}
	if cfg.Address == "" {
		cfg.Address = os.Getenv("VAULT_ADDR")
	}
	if cfg.Address == "" {
		return nil, errors.New("vault: no address (set vault.address or VAULT_ADDR)")
	}
	acfg.Address = cfg.Address
	acfg.MaxRetries = 0 // tokend's scheduler is the only retry layer
	if cfg.CACert != "" || cfg.TLSSkipVerify {
		if err := acfg.ConfigureTLS(&api.TLSConfig{CACert: cfg.CACert, Insecure: cfg.TLSSkipVerify}); err != nil {
			return nil, fmt.Errorf("vault TLS config: %w", err)
		}
	}
	if cfg.TLSSkipVerify {
		log.Warn("vault.tls_skip_verify is set: the server certificate is not verified")
	}
	if err := sizePool(acfg, o.concurrency); err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	ac, err := api.NewClient(acfg)
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	ac.ClearToken() // NewClient picks up VAULT_TOKEN; login decides
	if cfg.Namespace != "" {
		ac.SetNamespace(cfg.Namespace)
	}
	c := &Client{api: ac, cfg: cfg, log: log.Named("vault"), home: os.UserHomeDir, slots: make(chan struct{}, o.concurrency)}
	if err := c.login(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// API returns the underlying client. Callers must not change its token.
func (c *Client) API() *api.Client { return c.api }

// Address is the Vault address in use (for logs and errors).
func (c *Client) Address() string { return c.api.Address() }

// Stats reports how many logins and token renewals succeeded so far.
func (c *Client) Stats() (logins, renewals int64) { return c.logins.Load(), c.renewals.Load() }

// login obtains a token with the configured method and installs it.
func (c *Client) login(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, LoginTimeout)
	defer cancel()
	method := c.cfg.Auth
	if method == "" {
		method = DefaultAuth
	}
	var (
		sec *api.Secret
		err error
	)
	switch method {
	case "token":
		err = c.loginToken(ctx)
	case "approle":
		sec, err = c.loginAppRole(ctx)
	case "kubernetes":
		sec, err = c.loginKubernetes(ctx)
	case "jwt":
		sec, err = c.loginJWT(ctx)
	default:
		err = fmt.Errorf("unknown auth method %q", method)
	}
	if err != nil {
		return fmt.Errorf("vault login (%s auth at %s): %w", method, c.api.Address(), Describe(err))
	}
	if sec != nil {
		if sec.Auth == nil || sec.Auth.ClientToken == "" {
			return fmt.Errorf("vault login (%s auth at %s): no token in the response", method, c.api.Address())
		}
		c.auth.Store(sec.Auth)
	}
	c.logins.Add(1)
	c.log.Info("logged in to vault", zap.String("auth", method), zap.String("address", c.api.Address()))
	return nil
}

// loginToken installs a static token (token_file, VAULT_TOKEN or
// ~/.vault-token) and looks it up to learn whether it can be renewed.
func (c *Client) loginToken(ctx context.Context) error {
	tok, src, err := c.staticToken()
	if err != nil {
		return err
	}
	c.api.SetToken(tok)
	sec, err := c.api.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return fmt.Errorf("looking up the token from %s: %w", src, err)
	}
	ttl, _ := sec.TokenTTL()
	renewable, _ := sec.TokenIsRenewable()
	if ttl > 0 {
		c.auth.Store(&api.SecretAuth{ClientToken: tok, Renewable: renewable, LeaseDuration: int(ttl.Seconds())})
	} else {
		c.auth.Store(nil) // no expiry (e.g. a root token): nothing to renew
	}
	return nil
}

func (c *Client) staticToken() (tok, src string, err error) {
	if f := c.cfg.TokenFile; f != "" {
		tok, err = readTrimmed(f)
		return tok, f, err
	}
	if t := os.Getenv("VAULT_TOKEN"); t != "" {
		return t, "VAULT_TOKEN", nil
	}
	home, err := c.home()
	if err != nil {
		return "", "", fmt.Errorf("no vault.token_file, no VAULT_TOKEN and no home directory: %w", err)
	}
	f := filepath.Join(home, ".vault-token")
	tok, err = readTrimmed(f)
	if err != nil {
		return "", "", fmt.Errorf("no vault.token_file, no VAULT_TOKEN: %w", err)
	}
	return tok, f, nil
}

func (c *Client) loginAppRole(ctx context.Context) (*api.Secret, error) {
	roleID := c.cfg.RoleID
	if c.cfg.RoleIDFile != "" {
		var err error
		if roleID, err = readTrimmed(c.cfg.RoleIDFile); err != nil {
			return nil, err
		}
	}
	// Read the file ourselves so a missing file is reported by name.
	sid, err := readTrimmed(c.cfg.SecretIDFile)
	if err != nil {
		return nil, err
	}
	opts := []approle.LoginOption{approle.WithMountPath(c.cfg.Mount)}
	if c.cfg.SecretIDWrapped {
		opts = append(opts, approle.WithWrappingToken())
	}
	m, err := approle.NewAppRoleAuth(roleID, &approle.SecretID{FromString: sid}, opts...)
	if err != nil {
		return nil, err
	}
	return c.api.Auth().Login(ctx, m)
}

func (c *Client) loginKubernetes(ctx context.Context) (*api.Secret, error) {
	jwt, err := readTrimmed(c.cfg.JWTPath)
	if err != nil {
		return nil, err
	}
	m, err := kubernetes.NewKubernetesAuth(c.cfg.Role, kubernetes.WithServiceAccountToken(jwt), kubernetes.WithMountPath(c.cfg.Mount))
	if err != nil {
		return nil, err
	}
	return c.api.Auth().Login(ctx, m)
}

// loginJWT logs in with Vault's JWT auth method (auth/<mount>/login with
// role and jwt), which validates the token itself — against configured
// public keys, a JWKS URL or OIDC discovery — without a TokenReview call.
// vault/api has no helper module for it. The file is read at every login,
// so a rotating projected service-account token is followed.
func (c *Client) loginJWT(ctx context.Context) (*api.Secret, error) {
	jwt, err := readTrimmed(c.cfg.JWTPath)
	if err != nil {
		return nil, err
	}
	sec, err := c.api.Logical().WriteWithContext(ctx, "auth/"+strings.Trim(c.cfg.Mount, "/")+"/login",
		map[string]any{"role": c.cfg.Role, "jwt": jwt})
	if err == nil && sec != nil && sec.Auth != nil {
		c.api.SetToken(sec.Auth.ClientToken) // as Auth().Login does for the other methods
	}
	return sec, err
}

// readTrimmed reads a credential file; errors name the file, never its content.
func readTrimmed(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}
