package config

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// Vault defaults, listed in README's Vault section.
const (
	DefaultVaultAuth        = "token"
	DefaultVaultKVMount     = "secret"
	DefaultVaultKVVersion   = 2
	DefaultVaultStatePrefix = "tokend/state"
	DefaultAppRoleMount     = "approle"
	DefaultKubernetesMount  = "kubernetes"
	DefaultKubernetesJWT    = "/var/run/secrets/kubernetes.io/serviceaccount/token"
)

// VaultFieldKeys are the sink fields whose names a vault sink's `fields`
// table may change; the value of each key is its default name.
var VaultFieldKeys = []string{"access_token", "expires_at", "token_type", "scope"}

// Vault is the [vault] table: how tokend reaches and logs in to Vault. It is
// required when a vault sink or the vault state backend is configured.
type Vault struct {
	// Address is the Vault URL; VAULT_ADDR is used when it is empty.
	Address string `toml:"address"`
	// CACert is a PEM file of CAs to trust; TLSSkipVerify disables
	// verification (warned about, for tests only).
	CACert        string `toml:"ca_cert"`
	TLSSkipVerify bool   `toml:"tls_skip_verify"`
	Namespace     string `toml:"namespace"` // Vault Enterprise namespace
	Auth          string `toml:"auth"`      // token (default) | approle | kubernetes

	// auth = "token": token_file, else VAULT_TOKEN, else ~/.vault-token.
	TokenFile string `toml:"token_file"`

	// auth = "approle": role_id or role_id_file, and secret_id_file.
	RoleID       string `toml:"role_id"`
	RoleIDFile   string `toml:"role_id_file"`
	SecretIDFile string `toml:"secret_id_file"`
	// SecretIDWrapped says secret_id_file holds a response-wrapping token
	// that unwraps to the secret ID.
	SecretIDWrapped bool `toml:"secret_id_wrapped"`

	// auth = "kubernetes": role and the service-account JWT file.
	Role    string `toml:"role"`
	JWTPath string `toml:"jwt_path"`

	// Mount is the auth method's mount (default "approle" / "kubernetes").
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
	case "kubernetes":
		if v.Mount == "" {
			v.Mount = DefaultKubernetesMount
		}
		if v.JWTPath == "" {
			v.JWTPath = DefaultKubernetesJWT
		}
	}
}

// applyVaultDefaults fills the vault-related defaults of [state] and of
// every vault sink.
func (c *Config) applyVaultDefaults() {
	c.Vault.applyDefaults()
	if c.State.Backend == "vault" {
		if c.State.Mount == "" {
			c.State.Mount = DefaultVaultKVMount
		}
		if c.State.Prefix == "" {
			c.State.Prefix = DefaultVaultStatePrefix
		}
	}
	for i := range c.Credentials {
		for j := range c.Credentials[i].Sinks {
			s := &c.Credentials[i].Sinks[j]
			if s.Type != "vault" {
				continue
			}
			if s.Mount == "" {
				s.Mount = DefaultVaultKVMount
			}
			if s.KVVersion == 0 {
				s.KVVersion = DefaultVaultKVVersion
			}
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
			if s.Type == "vault" {
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
	} else if c.State.Mount != "" || c.State.Prefix != "" {
		bad("state.mount", "mount and prefix are only used with backend = \"vault\"")
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
		only("role", v.Role+v.JWTPath, "kubernetes")
		only("mount", v.Mount, "approle or kubernetes")
	case "approle":
		only("token_file", v.TokenFile, "token")
		only("role", v.Role+v.JWTPath, "kubernetes")
		if (v.RoleID == "") == (v.RoleIDFile == "") {
			bad("vault.role_id", "set exactly one of role_id and role_id_file")
		}
		if v.SecretIDFile == "" {
			bad("vault.secret_id_file", "is required with auth = \"approle\"")
		}
	case "kubernetes":
		only("token_file", v.TokenFile, "token")
		only("role_id", v.RoleID+v.RoleIDFile+v.SecretIDFile, "approle")
		if v.Role == "" {
			bad("vault.role", "is required with auth = \"kubernetes\"")
		}
	default:
		bad("vault.auth", "unknown auth method %q (token, approle or kubernetes)", v.Auth)
	}
	if v.TLSSkipVerify {
		c.Warnings = append(c.Warnings, "vault.tls_skip_verify = true: the Vault server's certificate is not verified (use only in tests)")
	}
	return errs
}

// validateVault checks the keys of a vault sink; bad reports a problem.
func (s Sink) validateVault(bad func(field, format string, args ...any)) {
	checkKVPath(func(_, format string, args ...any) { bad("path", format, args...) }, "", s.Path)
	checkKVPath(func(_, format string, args ...any) { bad("mount", format, args...) }, "", s.Mount)
	if s.KVVersion != 1 && s.KVVersion != 2 {
		bad("kv_version", "must be 1 or 2")
	}
	if s.Format != "" || s.Var != "" {
		bad("format", "format and var are not used by vault sinks")
	}
	if s.OnChange != nil {
		bad("on_change", "is not supported on vault sinks")
	}
	used := map[string]string{}
	keys := make([]string, 0, len(s.Fields))
	for k := range s.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := s.Fields[k]
		if !contains(VaultFieldKeys, k) {
			bad("fields", "unknown field %q (%s)", k, strings.Join(VaultFieldKeys, ", "))
		}
		if name == "" {
			bad("fields", "field %q has an empty name", k)
		}
		if prev, ok := used[name]; ok {
			bad("fields", "fields %q and %q both write %q", prev, k, name)
		}
		used[name] = k
	}
}

// VaultFieldNames returns the sink's field names with defaults applied,
// keyed by VaultFieldKeys.
func (s Sink) VaultFieldNames() map[string]string {
	out := make(map[string]string, len(VaultFieldKeys))
	for _, k := range VaultFieldKeys {
		out[k] = k
		if v, ok := s.Fields[k]; ok {
			out[k] = v
		}
	}
	return out
}

// checkKVPath rejects empty paths and paths Vault would rewrite.
func checkKVPath(bad func(key, format string, args ...any), key, p string) {
	switch {
	case p == "":
		bad(key, "is required")
	case strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/"):
		bad(key, "%q must not start or end with '/'", p)
	case strings.Contains(p, "//") || strings.Contains(p, "..") || strings.ContainsAny(p, " \t\n?#%"):
		bad(key, "%q is not a clean Vault path", p)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
