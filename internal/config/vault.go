package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/tokend/tokend/internal/sinks/kinds"
	"github.com/tokend/tokend/internal/vaultclient"
)

// Vault defaults, listed in README's Vault section.
const (
	DefaultVaultAuth        = "token"
	DefaultVaultKVMount     = "secret"
	DefaultVaultStatePrefix = "tokend/state"
	// DefaultClaimTTL is the vault backend's state.claim_ttl: a dead
	// replica's claims are taken over within it plus one re-check (at most 15 s in all).
	DefaultClaimTTL = 10 * time.Second
	// MinClaimTTL and MaxClaimTTL bound state.claim_ttl: the heartbeat renews
	// every third of it, and a dead replica's credentials wait for it.
	MinClaimTTL            = 3 * time.Second
	MaxClaimTTL            = 10 * time.Minute
	DefaultAppRoleMount    = "approle"
	DefaultKubernetesMount = "kubernetes"
	DefaultJWTMount        = "jwt"
	DefaultKubernetesJWT   = "/var/run/secrets/kubernetes.io/serviceaccount/token"
)

// Vault is the [vault] table: how tokend reaches and logs in to Vault. It is
// required when a vault sink or the vault state backend is configured. Its
// fields are vault.Config's, in the same order, and the daemon converts it
// to that: a field added here goes there too (else the conversion does not
// compile).
type Vault struct {
	// Address is the Vault URL; VAULT_ADDR is used when it is empty.
	Address string `toml:"address"`
	// CACert is a PEM file of CAs to trust; TLSSkipVerify disables
	// verification (warned about, for tests only).
	CACert        string `toml:"ca_cert"`
	TLSSkipVerify bool   `toml:"tls_skip_verify"`
	Namespace     string `toml:"namespace"` // Vault Enterprise namespace
	Auth          string `toml:"auth"`      // token (default) | approle | kubernetes | jwt

	// auth = "token": token_file, else VAULT_TOKEN, else ~/.vault-token.
	TokenFile string `toml:"token_file"`

	// auth = "approle": role_id or role_id_file, and secret_id_file.
	RoleID       string `toml:"role_id"`
	RoleIDFile   string `toml:"role_id_file"`
	SecretIDFile string `toml:"secret_id_file"`
	// SecretIDWrapped says secret_id_file holds a response-wrapping token
	// that unwraps to the secret ID.
	SecretIDWrapped bool `toml:"secret_id_wrapped"`

	// auth = "kubernetes" or "jwt": role and the JWT file (for both the
	// service-account token by default; a projected token is re-read at
	// every login, so its rotation is followed).
	Role    string `toml:"role"`
	JWTPath string `toml:"jwt_path"`

	// Mount is the auth method's mount (default "approle" / "kubernetes" / "jwt").
	Mount string `toml:"mount"`
}

func (v *Vault) applyDefaults() {
	if v == nil {
		return
	}
	if v.Auth == "" {
		v.Auth = DefaultVaultAuth
	}
	switch v.Auth {
	case "approle":
		if v.Mount == "" {
			v.Mount = DefaultAppRoleMount
		}
	case "kubernetes", "jwt":
		if v.Mount == "" {
			v.Mount = DefaultKubernetesMount
			if v.Auth == "jwt" {
				v.Mount = DefaultJWTMount
			}
		}
		if v.JWTPath == "" {
			v.JWTPath = DefaultKubernetesJWT
		}
	}
}

// applyVaultDefaults fills the vault-related defaults of [state] (a vault
// sink's are its kind's, internal/sinks/vault).
func (c *Config) applyVaultDefaults() {
	c.Vault.applyDefaults()
	if c.State.Backend == "vault" {
		if c.State.Mount == "" {
			c.State.Mount = DefaultVaultKVMount
		}
		if c.State.Prefix == "" {
			c.State.Prefix = DefaultVaultStatePrefix
		}
		if c.State.ClaimTTL.Duration == 0 {
			c.State.ClaimTTL.Duration = DefaultClaimTTL
		}
	}
}

// usesVault reports whether anything in the config needs a Vault client.
func (c *Config) usesVault() bool {
	if c.State.Backend == "vault" {
		return true
	}
	for _, cr := range c.Credentials {
		for _, s := range cr.Sinks {
			if k, ok := kinds.Lookup(s.Type); ok && k.Vault {
				return true
			}
		}
	}
	return false
}

// validateVault checks [vault] and the vault state backend.
func (c *Config) validateVault() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.usesVault() && c.Vault == nil {
		bad("vault", "a [vault] table is required by the vault state backend and vault sinks")
	}
	if c.State.Backend == "vault" {
		checkKVPath(bad, "state.prefix", c.State.Prefix)
		checkKVPath(bad, "state.mount", c.State.Mount)
		if d := c.State.ClaimTTL.Duration; d < MinClaimTTL || d > MaxClaimTTL {
			bad("state.claim_ttl", "%s is out of range (%s to %s)", d, MinClaimTTL, MaxClaimTTL)
		}
		if o := c.State.Owner; len(o) > 200 || strings.ContainsFunc(o, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			bad("state.owner", "must be at most 200 printable characters")
		}
	} else {
		if c.State.Mount != "" || c.State.Prefix != "" {
			bad("state.mount", "mount and prefix are only used with backend = \"vault\"")
		}
		if c.State.ClaimTTL.Duration != 0 || c.State.Owner != "" {
			bad("state.claim_ttl", "claim_ttl and owner are only used with backend = \"vault\"")
		}
	}
	v := c.Vault
	if v == nil {
		return errs
	}
	if v.Address != "" {
		if u, err := url.Parse(v.Address); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("vault.address", "%q is not an http(s) URL", v.Address)
		}
	}
	only := func(field, value, auth string) {
		if value != "" {
			bad("vault."+field, "is only used with auth = %q", auth)
		}
	}
	switch v.Auth {
	case "token":
		only("role_id", v.RoleID+v.RoleIDFile+v.SecretIDFile, "approle")
		only("role", v.Role+v.JWTPath, "kubernetes or jwt")
		only("mount", v.Mount, "approle, kubernetes or jwt")
	case "approle":
		only("token_file", v.TokenFile, "token")
		only("role", v.Role+v.JWTPath, "kubernetes or jwt")
		if (v.RoleID == "") == (v.RoleIDFile == "") {
			bad("vault.role_id", "set exactly one of role_id and role_id_file")
		}
		if v.SecretIDFile == "" {
			bad("vault.secret_id_file", "is required with auth = \"approle\"")
		}
	case "kubernetes", "jwt":
		only("token_file", v.TokenFile, "token")
		only("role_id", v.RoleID+v.RoleIDFile+v.SecretIDFile, "approle")
		if v.Role == "" {
			bad("vault.role", "is required with auth = %q", v.Auth)
		}
	default:
		bad("vault.auth", "unknown auth method %q (token, approle, kubernetes or jwt)", v.Auth)
	}
	if v.TLSSkipVerify {
		c.Warnings = append(c.Warnings, "vault.tls_skip_verify = true: the Vault server's certificate is not verified (use only in tests)")
	}
	return errs
}

// checkKVPath rejects empty paths and paths Vault would rewrite.
func checkKVPath(bad func(key, format string, args ...any), key, p string) {
	if err := vaultclient.CheckPath(p); err != nil {
		bad(key, "%v", err)
	}
}
