// Package config decodes tokend.toml into typed structs, applies defaults in
// one place, validates everything at once and resolves secrets from files and
// environment variables.
//
// Load is the entry point: it returns every problem found (errors.Join), each
// naming its key path and, where known, the line, so an operator fixes a
// config in one pass.
package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/secret"
)

// Config is the whole tokend.toml.
type Config struct {
	State       State        `toml:"state"`
	Scheduler   Scheduler    `toml:"scheduler"`
	Credentials []Credential `toml:"credential"`
	Status      *Status      `toml:"status"` // nil: no [status] table, server off
	Vault       *Vault       `toml:"vault"`  // nil: no [vault] table (see vault.go)

	// Path is the file the config was loaded from ("" when decoded from bytes).
	Path string `toml:"-"`
	// Warnings are problems that do not stop tokend (e.g. an inline secret in a
	// world-readable file). Load fills it; validate prints it.
	Warnings []string `toml:"-"`
	// DiscoveryDeferred says issuer discovery has not run yet: daemon.New
	// runs it after opening the state store, falling back to the metadata
	// stored there (daemon.LoadOptions.DeferDiscovery).
	DiscoveryDeferred bool `toml:"-"`
}

// State configures where durable records live.
type State struct {
	Backend string `toml:"backend"` // "file" (default) | "vault"
	Dir     string `toml:"dir"`     // default /var/lib/tokend
	Mount   string `toml:"mount"`   // vault: KV v2 mount, default "secret"
	Prefix  string `toml:"prefix"`  // vault: key prefix, default "tokend/state"
	// ClaimTTL (vault backend) is how long a replica's refresh claim lives
	// without renewal: the holder renews it every third of it while it works,
	// and the others take over a dead replica's claims after it. Default 10s.
	ClaimTTL Duration `toml:"claim_ttl"`
	// Owner (vault backend) names this replica in claims; it must differ
	// between replicas and stay the same across restarts, so a restarted
	// replica takes its own claims back at once. Default: hostname + ":" +
	// state dir.
	Owner string `toml:"owner"`
	// EncryptionKeyFile (file backend): a 32-byte key, raw or 64 hex digits;
	// every record is then sealed with AES-256-GCM (state.Options).
	EncryptionKeyFile string `toml:"encryption_key_file"`
}

// Scheduler tunes the refresh engine.
type Scheduler struct {
	// MaxConcurrent bounds refreshes in flight at once across all credentials.
	MaxConcurrent int `toml:"max_concurrent"`
	// ShutdownGrace is how long shutdown waits for answered refreshes to be saved.
	ShutdownGrace Duration `toml:"shutdown_grace"`
	// MaxPerProvider bounds refreshes in flight toward one provider (one token
	// endpoint host, see Credential.ProviderKey); 0: only max_concurrent.
	MaxPerProvider int `toml:"max_per_provider"`
	// ProviderRate bounds refreshes started per second toward one provider; 0: unlimited.
	ProviderRate float64 `toml:"provider_rate"`
	// ProviderBurst is how many may start back to back before the rate
	// applies; 0: max(1, the provider's concurrency bound).
	ProviderBurst int `toml:"provider_burst"`
	// Providers override the three for one host (limits.go).
	Providers []ProviderLimit `toml:"provider"`
	// RequestTimeout bounds one token request (timeouts.go).
	RequestTimeout Duration `toml:"request_timeout"`
}

// Credential is one [[credential]] table.
type Credential struct {
	Name     string `toml:"name"`
	Provider string `toml:"provider"`
	Grant    string `toml:"grant"`

	TokenURL          string            `toml:"token_url"`
	ClientID          string            `toml:"client_id"`
	ClientSecret      string            `toml:"client_secret"`
	ClientSecretFile  string            `toml:"client_secret_file"`
	ClientSecretEnv   string            `toml:"client_secret_env"`
	AuthStyle         string            `toml:"auth_style"`
	Body              string            `toml:"body"`
	Scopes            []string          `toml:"scopes"`
	Params            map[string]string `toml:"params"`
	Headers           map[string]string `toml:"headers"`
	AllowInsecureHTTP bool              `toml:"allow_insecure_http"`
	// CAFile is a PEM bundle of the CAs trusted for this credential's token
	// and introspection endpoints instead of the system roots (`ca_file`),
	// with any auth_style; read by ResolveSecrets into RootCAs.
	CAFile string `toml:"ca_file"`

	// Provider presets and bootstrap (see providers.go).
	AuthorizeURL     string `toml:"authorize_url"`
	IntrospectionURL string `toml:"introspection_url"`
	RedirectURI      string `toml:"redirect_uri"`
	PKCE             *bool  `toml:"pkce"`
	SendGrantType    *bool  `toml:"send_grant_type"`
	Issuer           string `toml:"issuer"`
	APIURL           string `toml:"api_url"`
	APIKey           string `toml:"api_key"`
	APIKeyFile       string `toml:"api_key_file"`
	APIKeyEnv        string `toml:"api_key_env"`
	// Tenant, Domain and AccountsURL fill the endpoint templates of the
	// presets that declare them (grants.Preset.Vars; presetvars.go):
	// microsoft's tenant, okta's and auth0's domain, zoho's accounts_url.
	Tenant      string `toml:"tenant"`
	Domain      string `toml:"domain"`
	AccountsURL string `toml:"accounts_url"`

	RefreshBefore   Duration `toml:"refresh_before"`
	DefaultLifetime Duration `toml:"default_lifetime"`
	Schedule        string   `toml:"schedule"`

	// DeviceAuthorizationURL is the RFC 8628 device authorization endpoint
	// (`tokend authorize --device`); discovery fills it from
	// device_authorization_endpoint.
	DeviceAuthorizationURL string `toml:"device_authorization_url"`
	// ExtraFields names token-response fields to keep and hand to sinks
	// (instance_url, api_domain, id_token; grants.Config.ExtraFields).
	ExtraFields []string `toml:"extra_fields"`

	// GrantOptions and AuthOptions are the keys of the credential's grant
	// kind and auth method that are their own (grants.Options, e.g. the
	// refresh_token grant's refresh_token_file), decoded from the table by
	// the kind's options struct (kindopts.go) and defaulted; nil when the
	// kind has none.
	GrantOptions grants.Options `toml:"-"`
	AuthOptions  grants.Options `toml:"-"`

	// SinkTables are the [[credential.sink]] tables as decoded from the
	// document, before each is decoded by its kind into Sinks (sinks.go);
	// Decode leaves it nil.
	SinkTables []toml.Primitive `toml:"sink"`
	Sinks      []Sink           `toml:"-"`
	// Proxies are the [[credential.proxy]] tables (proxy.go).
	Proxies []Proxy `toml:"proxy"`

	// Secret is the resolved client secret (from client_secret, _file or
	// _env) or API key (api_key, _file, _env), filled by ResolveSecrets.
	Secret secret.Secret `toml:"-"`
	// RootCAs is ca_file's pool, filled by ResolveSecrets; nil: system roots.
	RootCAs *x509.CertPool `toml:"-"`

	optionIssues *optionIssues // what decoding the options found, reported by validate (kindopts.go)
}

// Duration is a time.Duration written as a string ("5m", "1h30m").
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use e.g. \"90s\", \"10m\", \"1h\")", string(b))
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration back as a string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Load reads, decodes, defaults and validates the config at path. The
// returned error lists every problem found. Secrets are read by ResolveSecrets.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cfg, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("config %s:\n%w", path, err)
	}
	cfg.Path = path
	cfg.Warnings = append(cfg.Warnings, inlineSecretWarnings(cfg, path)...)
	return cfg, nil
}

// Decode parses TOML bytes, rejects unknown keys, applies defaults and
// validates. Every problem is returned at once. Secrets are not read yet: call
// ResolveSecrets before using the credentials.
func Decode(data []byte) (*Config, error) {
	var doc document
	md, err := toml.Decode(string(data), &doc)
	if err != nil {
		return nil, decodeError(err)
	}
	cfg := doc.Config
	// Each [[credential]] in two steps: the keys every credential has, then
	// (once defaults have settled its grant and auth_style) its kinds' own
	// keys; each [[credential.sink]] by its kind. All before Undecoded.
	cfg.Credentials = make([]Credential, len(doc.Credentials))
	for i, p := range doc.Credentials {
		if err := md.PrimitiveDecode(p, &cfg.Credentials[i]); err != nil {
			return nil, decodeError(err)
		}
	}
	cfg.decodeSinks(&md)
	cfg.applyDefaults()
	od := newOptionDecoder(&md)
	for i, p := range doc.Credentials {
		od.decode(p, &cfg.Credentials[i])
	}
	var problems []error
	for _, k := range md.Undecoded() {
		problems = append(problems, fmt.Errorf("%s: unknown key%s", k, lineOf(data, k)))
	}
	problems = append(problems, cfg.validate()...)
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	detachStrings(&cfg) // no value may keep the whole document alive (detach.go)
	return &cfg, nil
}

// document is what Decode decodes first: the config with its [[credential]]
// tables left as toml.Primitive (Credentials is hidden by the shallower
// field of the same key), each then decoded in steps.
type document struct {
	Config
	Credentials []toml.Primitive `toml:"credential"`
}

// decodeError phrases a decoder error: its line and key when known.
func decodeError(err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		if pe.LastKey != "" {
			return fmt.Errorf("line %d: %s: %s", pe.Position.Line, pe.LastKey, pe.Message)
		}
		return fmt.Errorf("line %d: %s", pe.Position.Line, pe.Message)
	}
	return fmt.Errorf("decoding: %w", cleanDecodeError(err))
}

// cleanDecodeError strips nothing today but is the one place to keep decoder
// errors from echoing values (toml type errors name the key, not the value).
func cleanDecodeError(err error) error { return err }

// lineOf finds the first line that assigns the last element of key, best
// effort: BurntSushi/toml reports no position for undecoded keys.
func lineOf(data []byte, k toml.Key) string {
	if len(k) == 0 {
		return ""
	}
	re, err := regexp.Compile(`^\s*"?` + regexp.QuoteMeta(k[len(k)-1]) + `"?\s*=`)
	if err != nil {
		return ""
	}
	for i, line := range strings.Split(string(data), "\n") {
		if re.MatchString(line) {
			return fmt.Sprintf(" (line %d)", i+1)
		}
	}
	return ""
}

// Credential returns the credential with the given name.
func (c *Config) Credential(name string) (*Credential, bool) {
	for i := range c.Credentials {
		if c.Credentials[i].Name == name {
			return &c.Credentials[i], true
		}
	}
	return nil, false
}
