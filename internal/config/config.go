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
	"slices"
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
	// Includes are the files the include patterns matched, in the order
	// their credentials follow the main file's (include.go).
	Includes []string `toml:"-"`
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

// Duration is a time.Duration written as a string ("5m", "1h30m"). A value
// that does not parse is kept (and the duration left 0) for validation to
// report with every other problem: a bad duration must not hide the rest.
type Duration struct {
	time.Duration
	invalid string // the text that did not parse; "" when it did
}

// UnmarshalText parses a Go duration string; a bad one is reported by
// validation (Decode), not here.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	d.Duration, d.invalid = v, ""
	if err != nil {
		d.Duration, d.invalid = 0, string(b)
	}
	return nil
}

// MarshalText writes the duration back as a string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// problem says what is wrong with the duration as written; "" if nothing.
func (d Duration) problem() string {
	if d.invalid == "" {
		return ""
	}
	return fmt.Sprintf("invalid duration %q (use e.g. \"90s\", \"10m\", \"1h\")", d.invalid)
}

// Load reads, decodes, defaults and validates the config at path and the
// files its include patterns match (include.go). The returned error lists
// every problem found, one per line, each in the format of Problem
// (file:line: credential "name": key: what), naming the file that holds it.
// Secrets are read by ResolveSecrets.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cfg, err := decode(data, path)
	if err != nil {
		return nil, err
	}
	cfg.Path = path
	return cfg, nil
}

// Decode parses TOML bytes, rejects unknown keys, applies defaults and
// validates. Every problem is returned at once, each a *Problem (joined).
// Secrets are not read yet: call ResolveSecrets before using the
// credentials. Bytes have no directory to resolve include patterns against:
// a document with include is refused (use Load).
func Decode(data []byte) (*Config, error) { return decode(data, "") }

// decode is Decode naming file in its problems and warnings, and reading
// the files it includes. Each file is decoded on its own, a large one in
// runs of [[credential]] tables (split.go), so the decoder's tree of one
// part at a time is alive, never the whole config's (decodePart). Then the
// config is defaulted and validated as a whole, and each problem placed in
// the file and at the line it is about (place).
func decode(data []byte, file string) (*Config, error) {
	return (&decoder{det: newDetacher()}).run(data, file)
}

// run is decode by d, a new decoder.
func (d *decoder) run(data []byte, file string) (*Config, error) {
	if p := d.decodeFile(file, data, true); p != nil {
		return nil, p
	}
	if p := d.includes(file); p != nil {
		return nil, p
	}
	d.cfg.applyDefaults()
	out := d.unknownKeys()
	for _, e := range append(d.problems, d.cfg.validate(d.skipped)...) {
		for _, pe := range Problems(e) {
			out = append(out, d.place(toProblem(pe)))
		}
	}
	if len(out) > 0 {
		sortProblems(out)
		return nil, errors.Join(out...)
	}
	cfg := new(Config) // not d's: nothing of the documents outlives decode
	*cfg = d.cfg
	warnings := cfg.warnings()
	if file != "" {
		warnings = append(warnings, inlineSecretWarnings(cfg, func(i int) string { return d.fileOf(i).name })...)
	}
	for _, p := range warnings {
		cfg.Warnings = append(cfg.Warnings, d.place(p).Error())
	}
	for _, t := range []any{&cfg.State, &cfg.Scheduler, &cfg.Status, &cfg.Vault} {
		d.det.detach(t) // the credentials were, part by part (decodePart)
	}
	return cfg, nil
}

// sortProblems orders problems by file (the main one first, then the
// included ones in the order they were read) and in each by line (those
// without one last), stably.
func sortProblems(ps []error) {
	slices.SortStableFunc(ps, func(a, b error) int {
		pa, pb := a.(*Problem), b.(*Problem)
		if pa.src != pb.src {
			return pa.src - pb.src
		}
		la, lb := pa.Line, pb.Line
		switch {
		case la == lb:
			return 0
		case la == 0:
			return 1
		case lb == 0:
			return -1
		}
		return la - lb
	})
}

// credKey names the i-th (0-based) [[credential]] in a validator's key path:
// by its name, else by its 1-based index.
func credKey(i int, name string) string {
	if name != "" {
		return fmt.Sprintf("credential %q", name)
	}
	return fmt.Sprintf("credential[%d]", i+1)
}

// document is what decodePart decodes first: every top-level table and
// each [[credential]] table left as toml.Primitive, each then decoded on its own.
type document struct {
	Include     toml.Primitive   `toml:"include"` // include.go
	State       toml.Primitive   `toml:"state"`
	Scheduler   toml.Primitive   `toml:"scheduler"`
	Status      toml.Primitive   `toml:"status"`
	Vault       toml.Primitive   `toml:"vault"`
	Credentials []toml.Primitive `toml:"credential"`
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
