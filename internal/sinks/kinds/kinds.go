// Package kinds is the table of sink kinds: for each `type` of a
// [[credential.sink]] table, the package that owns its keys (decodes,
// defaults and checks them) and builds the sink with its start-up check, in
// the manner of Vault Agent's per-sink packages. The config and the daemon
// look a kind up here; nothing else switches on a sink type.
//
// Adding a sink kind is a package under internal/sinks with a Config type
// (its keys with toml tags, and the Options methods, and a Build) plus one
// line in table.
package kinds

import (
	"context"
	"reflect"
	"strings"

	"github.com/tokend/tokend/internal/sinks"
	"github.com/tokend/tokend/internal/sinks/envfile"
	"github.com/tokend/tokend/internal/sinks/file"
	templatesink "github.com/tokend/tokend/internal/sinks/template"
	vaultsink "github.com/tokend/tokend/internal/sinks/vault"
	"github.com/tokend/tokend/internal/vaultclient"
)

// table lists the sink kinds, one line each, in the order errors name them.
var table = [...]Kind{
	{Name: "file", File: OwnFile, New: newOf[file.Config], Build: func(o Options, e Env) (Sink, error) { return built(o.(*file.Config).Build(e.File)) }},
	{Name: "envfile", File: SharedFile, PartKey: "var", New: newOf[envfile.Config], Build: func(o Options, e Env) (Sink, error) { return built(o.(*envfile.Config).Build(e.EnvFiles)) }},
	{Name: "template", File: OwnFile, New: newOf[templatesink.Config], Build: func(o Options, e Env) (Sink, error) { return built(o.(*templatesink.Config).Build(e.File)) }},
	{Name: "vault", Vault: true, New: newOf[vaultsink.Config], Build: func(o Options, e Env) (Sink, error) { return built(o.(*vaultsink.Config).Build(e.Vault, e.Credential)) },
		Prepare: func(all []Options, e Env) error { return vaultsink.Prepare(asConfigs[vaultsink.Config](all), e.Vault) }},
}

// Kind is one sink kind: an entry of the table.
type Kind struct {
	Name string  // the `type` value
	File FileUse // whether its sinks write a file, and whether they may share one
	// PartKey names the key that tells apart the sinks of a SharedFile kind
	// that write one file (an env-file's "var"); Options.Target's part is
	// its value.
	PartKey string
	Vault   bool // its sinks write to Vault: the config needs a [vault] table
	// New returns empty options of the kind, ready to decode its keys into.
	New func() Options
	// Build makes a sink from options New returned (decoded, defaulted and
	// valid), doing the kind's start-up check (directory writable, Vault
	// policy allows the writes). env is what the daemon lends its sinks.
	Build func(o Options, env Env) (Sink, error)
	// Prepare, when set, is called once per build with the options of
	// every sink of this kind before any of them is built, so the kind can
	// do its shared start-up checks at once (the Vault kind: each mount once,
	// every policy in one request). An error is not fatal: Build still checks
	// each sink and reports its own problem.
	Prepare func(all []Options, env Env) error
}

// FileUse is how the sinks of a kind use the filesystem.
type FileUse int

const (
	// NoFile: the kind's path (if any) is not a filesystem path; no mode,
	// no on_change, no path ownership checks.
	NoFile FileUse = iota
	// OwnFile: each sink writes a file of its own; no other sink may name it.
	OwnFile
	// SharedFile: sinks of this kind may name one file, each writing its own
	// part of it (Kind.PartKey); no sink of another kind may name it.
	SharedFile
)

// Options are one sink's own keys, decoded from its [[credential.sink]]
// table into the value Kind.New returned. Each kind's package implements it.
type Options interface {
	// Defaults fills the keys left unset. It is called once, after decoding.
	Defaults()
	// Validate reports every problem of the defaulted keys through bad,
	// naming the key ("path", "format"); it never echoes a secret.
	Validate(bad func(key, format string, args ...any))
	// Target is where the sink writes as configured: for a kind with a
	// FileUse other than NoFile, the filesystem path and (SharedFile) the
	// sink's part of the file; for other kinds their own address (a Vault
	// KV key) and "".
	Target() (path, part string)
}

// Sink is what Build returns: the scheduler's Sink.
type Sink interface {
	Write(ctx context.Context, tok sinks.Token) error
	String() string
}

// Env is what the daemon lends the sinks it builds from one config: the
// services a kind's Build may need. With the zero value, file sinks share
// nothing, and envfile and vault sinks fail to build (no EnvFiles, no Vault).
type Env struct {
	Credential string              // the credential the sink serves (errors, Vault metadata)
	File       file.Options        // CheckDir, DirSync and Slots shared by file sinks
	EnvFiles   envfile.Files       // the env-files shared by envfile sinks
	Vault      *vaultclient.Client // nil without a [vault] table
}

// asConfigs converts a kind's options back to its own config type.
func asConfigs[T any](all []Options) []*T {
	out := make([]*T, 0, len(all))
	for _, o := range all {
		if c, ok := any(o).(*T); ok {
			out = append(out, c)
		}
	}
	return out
}

// Lookup returns the kind named name.
func Lookup(name string) (Kind, bool) {
	for _, k := range table {
		if k.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}

// All returns the kinds in table order.
func All() []Kind { return table[:] }

// Names lists the kinds' names for a message, in table order, the last two
// joined by conj: "file, envfile or vault". With fileOnly, only the kinds
// that write a file.
func Names(conj string, fileOnly bool) string {
	var names []string
	for _, k := range table {
		if !fileOnly || k.File != NoFile {
			names = append(names, k.Name)
		}
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " " + conj + " " + names[len(names)-1]
}

// Keys returns the TOML keys the kind's options decode, in field order
// (keys of embedded structs such as sinks.FileKeys included).
func (k Kind) Keys() []string {
	return tomlKeys(reflect.TypeOf(k.New()).Elem(), nil)
}

func tomlKeys(t reflect.Type, keys []string) []string {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		switch {
		case name == "-" || !f.IsExported():
		case name == "" && f.Anonymous && f.Type.Kind() == reflect.Struct:
			keys = tomlKeys(f.Type, keys)
		case name == "":
			keys = append(keys, f.Name)
		default:
			keys = append(keys, name)
		}
	}
	return keys
}

// newOf returns new empty options of type C.
func newOf[C any, P interface {
	*C
	Options
}]() Options {
	return P(new(C))
}

// built turns a kind's typed constructor result into Build's, so a failed
// build returns a nil Sink rather than a typed nil.
func built[S Sink](s S, err error) (Sink, error) {
	if err != nil {
		return nil, err
	}
	return s, nil
}
