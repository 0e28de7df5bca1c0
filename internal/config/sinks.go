package config

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/tokend/tokend/internal/sinks/kinds"
)

// DefaultHookTimeout is how long an on_change hook may run when hook_timeout
// is not set.
const DefaultHookTimeout = 30 * time.Second

// Sink is one [[credential.sink]] table: the keys the config and the daemon
// act on for every kind, and the kind's own keys in Options, decoded,
// defaulted and checked by the kind's package (internal/sinks/kinds lists
// the kinds).
type Sink struct {
	Type string `toml:"type"` // a kind's name: file | envfile | vault
	// OnChange is argv (no shell) run after a write that changed the sink's
	// file; HookTimeout bounds it (default 30s). Kinds that write a file
	// only; see internal/sinks/hook.
	OnChange    []string `toml:"on_change"`
	HookTimeout Duration `toml:"hook_timeout"`
	// Options are the kind's keys (e.g. *file.Config); nil when the type is
	// unknown or the table did not decode.
	Options kinds.Options `toml:"-"`

	problem error    // decoding the table failed (reported by validate)
	foreign []string // keys of other kinds that the table sets (reported by validate)
}

// Target is where the sink writes as configured (kinds.Options.Target);
// "" when it has no options.
func (s *Sink) Target() (path, part string) {
	if s.Options == nil {
		return "", ""
	}
	return s.Options.Target()
}

// sinkDecoder decodes the [[credential.sink]] tables that Decode left as
// toml.Primitive, each in two steps through the document's metadata: the
// shared keys into Sink, then the kind's keys into its Options. Keys that
// neither knows stay undecoded, so md.Undecoded reports them with the
// others. Keys that only other kinds know are caught per table (Undecoded
// cannot: it does not tell "credential.sink.var" of one table from
// another's), by decoding into a struct made for each kind of those keys
// that some sink of the document sets (usually none, then nothing is done).
type sinkDecoder struct {
	md      *toml.MetaData
	foreign map[string]reflect.Value // kind -> *struct{ an any field per key only other kinds use }
}

func newSinkDecoder(md *toml.MetaData) *sinkDecoder {
	d := &sinkDecoder{md: md, foreign: map[string]reflect.Value{}}
	var all []string // every kind's keys, sorted: one struct type per kind
	own := map[string][]string{}
	for _, k := range kinds.All() {
		own[k.Name] = k.Keys()
		all = append(all, own[k.Name]...)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	for _, k := range kinds.All() {
		var fields []reflect.StructField
		for _, key := range all {
			if !slices.Contains(own[k.Name], key) && md.Type("credential", "sink", key) != "" {
				fields = append(fields, reflect.StructField{Name: fmt.Sprintf("F%d", len(fields)),
					Type: reflect.TypeFor[any](), Tag: reflect.StructTag(fmt.Sprintf("toml:%q", key))})
			}
		}
		if fields != nil {
			d.foreign[k.Name] = reflect.New(reflect.StructOf(fields))
		}
	}
	return d
}

// decodeSinks decodes the sink tables of creds, decoded from md's document, into their Sinks.
func decodeSinks(md *toml.MetaData, creds []Credential) {
	var d *sinkDecoder
	for i := range creds {
		cr := &creds[i]
		if len(cr.SinkTables) == 0 {
			continue
		}
		if d == nil {
			d = newSinkDecoder(md)
		}
		cr.Sinks = make([]Sink, len(cr.SinkTables))
		for j, p := range cr.SinkTables {
			d.decode(p, &cr.Sinks[j])
		}
		cr.SinkTables = nil // the document's tree: not kept past Decode
	}
}

func (d *sinkDecoder) decode(p toml.Primitive, s *Sink) {
	if err := d.md.PrimitiveDecode(p, s); err != nil {
		s.problem = err
		d.skip(p)
		return
	}
	k, ok := kinds.Lookup(s.Type)
	if !ok { // validate reports the type alone, not each of its keys
		d.skip(p)
		return
	}
	opts := k.New()
	if err := d.md.PrimitiveDecode(p, opts); err != nil {
		s.problem = err
		d.skip(p)
		return
	}
	s.Options = opts
	fv, ok := d.foreign[k.Name]
	if !ok { // no sink of the document sets a key only other kinds use
		return
	}
	fv.Elem().SetZero()
	if err := d.md.PrimitiveDecode(p, fv.Interface()); err != nil {
		s.problem = err
		return
	}
	st := fv.Elem()
	for i := range st.NumField() {
		if !st.Field(i).IsNil() {
			key, _, _ := strings.Cut(st.Type().Field(i).Tag.Get("toml"), ",")
			s.foreign = append(s.foreign, key)
		}
	}
}

// skip marks every key of p decoded, so a table already reported (unknown
// type, bad value) does not also list each of its keys as unknown.
func (d *sinkDecoder) skip(p toml.Primitive) { _ = d.md.PrimitiveDecode(p, skipTable{}) }

// skipTable takes any table and keeps nothing (the decoder then counts its
// keys as decoded).
type skipTable struct{}

func (skipTable) UnmarshalTOML(any) error { return nil }

// applyDefaults fills the sink's defaults: its kind's, and hook_timeout.
func (s *Sink) applyDefaults() {
	if s.Options != nil {
		s.Options.Defaults()
	}
	if s.OnChange != nil && s.HookTimeout.Duration == 0 {
		s.HookTimeout.Duration = DefaultHookTimeout
	}
}

// sinkChecker checks the sinks of a config, credential by credential: each
// sink's own keys, and that no two sinks write one file except sinks of a
// SharedFile kind (env-files) writing distinct parts (variables) of it. One
// report function serves every sink, so a valid sink costs no allocation.
type sinkChecker struct {
	owner map[string]fileOwner // absolute path -> its last sink
	parts map[string]string    // absolute path + "\x00" + part -> credential
	key   string               // the sink being checked: `credential "x".sink[N]`
	errs  []error
	bad   func(field, format string, args ...any) // reports under key
}

type fileOwner struct{ kind, desc string }

func newSinkChecker() *sinkChecker {
	c := &sinkChecker{owner: map[string]fileOwner{}, parts: map[string]string{}}
	c.bad = func(field, format string, args ...any) {
		c.errs = append(c.errs, fmt.Errorf("%s.%s: %s", c.key, field, fmt.Sprintf(format, args...)))
	}
	return c
}

// check returns every problem of cr's sinks; key names cr.
func (c *sinkChecker) check(key string, cr *Credential) []error {
	c.errs = nil
	for j := range cr.Sinks {
		c.key = fmt.Sprintf("%s.sink[%d]", key, j+1)
		c.sink(cr.Name, &cr.Sinks[j])
	}
	return c.errs
}

// sink checks one sink of credential cred: its decoding, type, the kind's
// own keys, keys of other kinds, the hook keys and its file.
func (c *sinkChecker) sink(cred string, s *Sink) {
	if s.problem != nil {
		c.errs = append(c.errs, fmt.Errorf("%s: %w", c.key, decodeError(s.problem)))
		return
	}
	k, ok := kinds.Lookup(s.Type)
	switch {
	case s.Type == "":
		c.bad("type", "is required (%s)", kinds.Names("or", false))
		return
	case !ok:
		c.bad("type", "unknown sink type %q (%s)", s.Type, kinds.Names("or", false))
		return
	}
	if s.Options == nil {
		return
	}
	s.Options.Validate(c.bad)
	for _, f := range s.foreign {
		c.bad(f, "is only used by %s sinks", keyUsers(f))
	}
	c.errs = append(c.errs, s.validateHook(c.key)...)
	path, part := s.Options.Target()
	if k.File == kinds.NoFile || path == "" {
		return
	}
	abs, _ := filepath.Abs(path)
	if prev, ok := c.owner[abs]; ok && (k.File != kinds.SharedFile || prev.kind != k.Name) {
		c.bad("path", "%s is already used by a %s", path, prev.desc)
	}
	c.owner[abs] = fileOwner{kind: k.Name, desc: fmt.Sprintf("%s sink of credential %q", k.Name, cred)}
	if k.File == kinds.SharedFile {
		pk := abs + "\x00" + part
		if other, ok := c.parts[pk]; ok {
			c.bad(k.PartKey, "%s in %s is already written by credential %q", part, path, other)
		}
		c.parts[pk] = cred
	}
}

// validateHook checks a sink's on_change and hook_timeout.
func (s Sink) validateHook(key string) []error {
	var errs []error
	if s.OnChange == nil {
		if s.HookTimeout.Duration != 0 {
			errs = append(errs, fmt.Errorf("%s.hook_timeout: is only used with on_change", key))
		}
		return errs
	}
	switch k, _ := kinds.Lookup(s.Type); {
	case k.File == kinds.NoFile:
		errs = append(errs, fmt.Errorf("%s.on_change: is only supported on %s sinks", key, kinds.Names("and", true)))
	case len(s.OnChange) == 0 || s.OnChange[0] == "":
		errs = append(errs, fmt.Errorf(`%s.on_change: needs a program and its arguments, e.g. ["systemctl", "reload", "myapp"]`, key))
	case strings.ContainsAny(s.OnChange[0], " \t") && !strings.Contains(s.OnChange[0], "/"):
		errs = append(errs, fmt.Errorf(`%s.on_change: %q is one argv element, not a shell command line: split it (["systemctl", "reload", "myapp"])`, key, s.OnChange[0]))
	}
	if s.HookTimeout.Duration < 0 {
		errs = append(errs, fmt.Errorf("%s.hook_timeout: must not be negative", key))
	}
	return errs
}

// keyUsers names the kinds whose options have key: "file", "file and envfile".
func keyUsers(key string) string {
	var names []string
	for _, k := range kinds.All() {
		if slices.Contains(k.Keys(), key) {
			names = append(names, k.Name)
		}
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
