package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"

	"github.com/tokend/tokend/internal/grants"
)

// optionKind is one grant kind's or auth method's options as the config
// sees them: the table it belongs to, the keys of its options' struct (from
// the toml tags) and the constructor.
type optionKind struct {
	table string // "grant" or "auth_style": the key that selects the kind
	name  string
	keys  []string
	new   func() grants.Options
}

// optionKinds lists every kind that has options, grants first, in table
// order, and the sorted union of their keys that are not also keys of
// Credential (a kind may read a shared key such as api_url into its options
// too; such a key is everyone's, never "another kind's"). Both are derived
// once from the fixed tables.
var optionKinds = sync.OnceValues(func() ([]optionKind, []string) {
	var out []optionKind
	var all []string
	add := func(table, name string, newOpts func() grants.Options) {
		if newOpts == nil {
			return
		}
		k := optionKind{table: table, name: name, keys: tomlKeys(newOpts()), new: newOpts}
		out = append(out, k)
		all = append(all, k.keys...)
	}
	for _, g := range grants.GrantKinds() {
		if g.Configurable {
			add("grant", string(g.Name), g.Options)
		}
	}
	for _, m := range grants.AuthMethods() {
		add("auth_style", string(m.Name), m.Options)
	}
	shared := tomlKeysOf(reflect.TypeFor[Credential]())
	all = slices.DeleteFunc(all, func(k string) bool { return slices.Contains(shared, k) })
	slices.Sort(all)
	return out, slices.Compact(all)
})

// tomlKeys lists the toml keys of the struct o points to.
func tomlKeys(o grants.Options) []string { return tomlKeysOf(reflect.TypeOf(o).Elem()) }

// tomlKeysOf lists the toml keys of the struct type t, including those of
// embedded structs without a key of their own (the decoder flattens them,
// e.g. grants.KeyOptions in the key-signing grants' options).
func tomlKeysOf(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		switch {
		case f.Anonymous && key == "" && f.Type.Kind() == reflect.Struct:
			keys = append(keys, tomlKeysOf(f.Type)...)
		case f.IsExported() && key != "" && key != "-":
			keys = append(keys, key)
		}
	}
	return keys
}

// optionDecoder decodes, for each [[credential]] table, the keys of its
// grant kind's and auth method's options (grants.Options) into them. Keys
// that only other kinds use are caught per table, as for sinks (sinks.go):
// by decoding into a struct made for each pair of kinds with an any field per
// such key that some credential of the document sets. Only the keys the
// document sets cost work: with none, a kind's options are just made and
// defaulted.
type optionDecoder struct {
	md      *toml.MetaData
	set     map[string]bool             // option keys some credential sets
	others  []string                    // those of them that can be another kind's (not Credential's), sorted
	foreign map[[2]string]reflect.Value // {grant, auth_style} -> *struct{ any per foreign key }, or invalid
}

func newOptionDecoder(md *toml.MetaData) *optionDecoder {
	d := &optionDecoder{md: md}
	kinds, others := optionKinds()
	for _, k := range kinds {
		for _, key := range k.keys {
			if !d.set[key] && md.Type("credential", key) != "" {
				if d.set == nil {
					d.set = map[string]bool{}
				}
				d.set[key] = true
			}
		}
	}
	for _, key := range others {
		if d.set[key] {
			d.others = append(d.others, key)
		}
	}
	return d
}

// decode fills cr.GrantOptions and cr.AuthOptions from the table p, after
// applyDefaults settled cr's grant and auth_style. An unknown grant or auth
// style (validate reports it) gets no options, and the keys of the other
// table's kinds are not held against it.
func (d *optionDecoder) decode(p toml.Primitive, cr *Credential) {
	g, gerr := grants.LookupGrant(grants.Grant(cr.Grant))
	gok := gerr == nil && g.Configurable
	_, aerr := grants.LookupAuthMethod(grants.AuthStyle(cr.AuthStyle))
	aok := aerr == nil
	gk, ak := lookupOptionKind("grant", cr.Grant), lookupOptionKind("auth_style", cr.AuthStyle)
	if gok && gk != nil {
		cr.GrantOptions = d.options(p, gk, cr)
	}
	if aok && ak != nil {
		cr.AuthOptions = d.options(p, ak, cr)
	}
	if len(d.others) == 0 {
		return
	}
	pair := [2]string{cr.Grant, cr.AuthStyle}
	if d.foreign == nil {
		d.foreign = map[[2]string]reflect.Value{}
	}
	fv, ok := d.foreign[pair]
	if !ok {
		var fields []reflect.StructField
		for _, key := range d.others {
			if !(gk != nil && slices.Contains(gk.keys, key)) && !(ak != nil && slices.Contains(ak.keys, key)) {
				fields = append(fields, reflect.StructField{Name: fmt.Sprintf("F%d", len(fields)),
					Type: reflect.TypeFor[any](), Tag: reflect.StructTag(fmt.Sprintf("toml:%q", key))})
			}
		}
		if fields != nil {
			fv = reflect.New(reflect.StructOf(fields))
		}
		d.foreign[pair] = fv
	}
	if !fv.IsValid() {
		return
	}
	fv.Elem().SetZero()
	if err := d.md.PrimitiveDecode(p, fv.Interface()); err != nil {
		cr.issues().problem = err
		return
	}
	st := fv.Elem()
	for i := range st.NumField() {
		if st.Field(i).IsNil() {
			continue
		}
		key, _, _ := strings.Cut(st.Type().Field(i).Tag.Get("toml"), ",")
		for _, k := range optionUsers(key) {
			if (k.table == "grant" && gok) || (k.table == "auth_style" && aok) {
				cr.issues().foreign = append(cr.issues().foreign, key)
				break
			}
		}
	}
}

// options makes empty options of kind k, decodes its keys from p when the
// document sets any of them, and applies its defaults.
func (d *optionDecoder) options(p toml.Primitive, k *optionKind, cr *Credential) grants.Options {
	o := k.new()
	if len(d.set) > 0 && slices.ContainsFunc(k.keys, func(key string) bool { return d.set[key] }) {
		if err := d.md.PrimitiveDecode(p, o); err != nil {
			cr.issues().problem = err
		}
	}
	o.Defaults()
	return o
}

// lookupOptionKind is the kind called name in table ("grant" or
// "auth_style") if it has options; nil otherwise.
func lookupOptionKind(table, name string) *optionKind {
	kinds, _ := optionKinds()
	for i := range kinds {
		if kinds[i].table == table && kinds[i].name == name {
			return &kinds[i]
		}
	}
	return nil
}

// optionUsers lists the kinds whose options have key.
func optionUsers(key string) []optionKind {
	kinds, _ := optionKinds()
	var out []optionKind
	for _, k := range kinds {
		if slices.Contains(k.keys, key) {
			out = append(out, k)
		}
	}
	return out
}

// optionChecker checks the options of a config's credentials, one after
// the other: a decoding problem, what the options' own Validate finds, and
// the keys of other kinds' options that a table sets (`is only used with
// grant = "x"`). One report function serves every credential, so options
// without problems cost no allocation.
type optionChecker struct {
	key  string // the credential being checked: `credential "x"`
	errs []error
	bad  func(field, format string, args ...any) // reports under key
}

func newOptionChecker() *optionChecker {
	c := &optionChecker{}
	c.bad = func(field, format string, args ...any) {
		c.errs = append(c.errs, fmt.Errorf("%s.%s: %s", c.key, field, fmt.Sprintf(format, args...)))
	}
	return c
}

// check returns every problem of cr's options; key names cr.
func (c *optionChecker) check(key string, cr *Credential) []error {
	c.key, c.errs = key, nil
	if cr.GrantOptions != nil {
		cr.GrantOptions.Validate(c.bad)
	}
	if cr.AuthOptions != nil {
		cr.AuthOptions.Validate(c.bad)
	}
	if cr.optionIssues == nil {
		return c.errs
	}
	if p := cr.optionIssues.problem; p != nil {
		c.errs = append(c.errs, fmt.Errorf("%s: %w", key, decodeError(p)))
	}
	for _, k := range cr.optionIssues.foreign {
		// One line per key, naming every kind that uses it: a key shared by
		// grants and auth methods (private_key_file) is not two problems.
		var uses []string
		for _, table := range []string{"grant", "auth_style"} {
			var names []string
			for _, u := range optionUsers(k) {
				if u.table == table {
					names = append(names, u.name)
				}
			}
			if names != nil {
				uses = append(uses, table+" = "+quoteOr(names))
			}
		}
		if uses != nil {
			c.bad(k, "is only used with %s", strings.Join(uses, ", or "))
		}
	}
	return c.errs
}

// optionIssues are what decoding a credential's options found, for
// optionChecker to report (nil, and no memory, when nothing was found).
type optionIssues struct {
	problem error    // decoding GrantOptions or AuthOptions failed
	foreign []string // keys of other kinds' options that the table sets
}

// issues returns cr's optionIssues, made on first use.
func (cr *Credential) issues() *optionIssues {
	if cr.optionIssues == nil {
		cr.optionIssues = &optionIssues{}
	}
	return cr.optionIssues
}

// SeedFile is the file holding the credential's first refresh token, when
// its grant kind takes one from a file (grants.Seeder: refresh_token_file);
// "" otherwise.
func (cr *Credential) SeedFile() string {
	if s, ok := cr.GrantOptions.(grants.Seeder); ok {
		return s.SeedFile()
	}
	return ""
}
