package vault

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tokend/tokend/internal/vaultclient"
)

// Defaults of a vault sink's keys, listed in README's Vault section.
const (
	DefaultMount     = "secret"
	DefaultKVVersion = 2
)

// FieldKeys are the values a sink writes; a sink's `fields` table may rename
// each (the default name is the key itself).
// generation is the token's generation (a JSON number): KV v2 sinks compare
// it before writing, so a stale writer never replaces a newer token.
var FieldKeys = []string{"access_token", "expires_at", "token_type", "scope", "generation"}

// checkTimeout bounds a sink's start-up check against Vault.
const checkTimeout = 30 * time.Second

// Config is a vault sink's [[credential.sink]] table (type = "vault"): the
// keys this package decodes, defaults and checks. Path is a KV key, not a
// file.
type Config struct {
	Path      string            `toml:"path"`       // key under the mount
	Mount     string            `toml:"mount"`      // KV mount, DefaultMount when unset
	KVVersion int               `toml:"kv_version"` // 1 or 2, DefaultKVVersion when unset
	Fields    map[string]string `toml:"fields"`     // FieldKeys -> field name
}

// Defaults fills mount and kv_version when unset.
func (c *Config) Defaults() {
	if c.Mount == "" {
		c.Mount = DefaultMount
	}
	if c.KVVersion == 0 {
		c.KVVersion = DefaultKVVersion
	}
}

// Validate reports every problem of the defaulted keys through bad.
func (c *Config) Validate(bad func(key, format string, args ...any)) {
	if err := vaultclient.CheckPath(c.Path); err != nil {
		bad("path", "%v", err)
	}
	if err := vaultclient.CheckPath(c.Mount); err != nil {
		bad("mount", "%v", err)
	}
	if c.KVVersion != 1 && c.KVVersion != 2 {
		bad("kv_version", "must be 1 or 2")
	}
	used := map[string]string{}
	keys := make([]string, 0, len(c.Fields))
	for k := range c.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := c.Fields[k]
		if !slices.Contains(FieldKeys, k) {
			bad("fields", "unknown field %q (%s)", k, strings.Join(FieldKeys, ", "))
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

// Target is the sink's KV key (not a filesystem path).
func (c *Config) Target() (path, part string) { return c.Path, "" }

// FieldNames returns the field name of each of FieldKeys, defaults applied.
func (c *Config) FieldNames() map[string]string {
	out := make(map[string]string, len(FieldKeys))
	for _, k := range FieldKeys {
		out[k] = k
		if v, ok := c.Fields[k]; ok {
			out[k] = v
		}
	}
	return out
}

// Prepare asks Vault at once what every sink's Build will check (each
// distinct mount's KV version, the token's capabilities on every path, in
// batches), so that building N sinks costs a handful of requests instead of
// 2N in series. Nothing to do without a client or sinks.
func Prepare(all []*Config, client *vaultclient.Client) error {
	if client == nil || len(all) == 0 {
		return nil
	}
	var mounts, paths []string
	for _, c := range all {
		mounts = append(mounts, c.Mount)
		paths = append(paths, c.paths()...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	return client.Prefetch(ctx, mounts, paths)
}

// paths are the Vault paths a sink's start-up check asks about.
func (c *Config) paths() []string {
	s := &Sink{o: Options{Mount: c.Mount, Path: c.Path, KVVersion: c.KVVersion}}
	return []string{s.dataPath(), s.metaPath()}
}

// Build makes the sink with New, checking mount and policy against Vault
// now (bounded by checkTimeout). client is the daemon's; nil without a
// [vault] table.
func (c *Config) Build(client *vaultclient.Client, credential string) (*Sink, error) {
	if client == nil {
		return nil, errors.New("vault sinks need a [vault] table (and the daemon's Vault client)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	return New(ctx, Options{Client: client, Credential: credential, Mount: c.Mount, Path: c.Path,
		KVVersion: c.KVVersion, Fields: c.FieldNames()})
}
