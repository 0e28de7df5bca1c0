package grants

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestKindOptionsAreTaggedStructs walks both tables: a kind's Options, when
// it has any, returns a fresh pointer to a struct whose exported fields carry
// toml keys, none of which the kind also lists in Keys (a key has one home).
func TestKindOptionsAreTaggedStructs(t *testing.T) {
	type entry struct {
		name string
		keys []string
		opts func() Options
	}
	var entries []entry
	for _, k := range GrantKinds() {
		entries = append(entries, entry{"grant " + string(k.Name), k.Keys, k.Options})
	}
	for _, m := range AuthMethods() {
		entries = append(entries, entry{"auth method " + string(m.Name), m.Keys, m.Options})
	}
	withOptions := 0
	for _, e := range entries {
		if e.opts == nil {
			continue
		}
		withOptions++
		a, b := e.opts(), e.opts()
		if a == nil || reflect.TypeOf(a).Kind() != reflect.Pointer || reflect.TypeOf(a).Elem().Kind() != reflect.Struct {
			t.Errorf("%s: Options() = %T, want a pointer to a struct", e.name, a)
			continue
		}
		if a == b {
			t.Errorf("%s: Options() returns the same value twice; each credential needs its own", e.name)
		}
		for _, f := range optionFields(reflect.TypeOf(a).Elem()) {
			key, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if !f.IsExported() || key == "-" {
				continue
			}
			if key == "" {
				t.Errorf("%s: option field %s has no toml key", e.name, f.Name)
			}
			if slices.Contains(e.keys, key) {
				t.Errorf("%s: key %q is both in Keys and in Options", e.name, key)
			}
		}
	}
	if withOptions == 0 {
		t.Error("no kind declares Options; the mechanism is untested")
	}
}

// optionFields lists the fields of struct type t, those of an embedded
// struct without a toml key (KeyOptions) in its place, as the decoder
// flattens them.
func optionFields(t reflect.Type) []reflect.StructField {
	var out []reflect.StructField
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Tag.Get("toml") == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, optionFields(f.Type)...)
			continue
		}
		out = append(out, f)
	}
	return out
}

// TestRefreshTokenOptionsSeed: the refresh_token grant's options name the
// file its first refresh token comes from, through Seeder.
func TestRefreshTokenOptionsSeed(t *testing.T) {
	k, err := LookupGrant(GrantRefreshToken)
	if err != nil || k.Options == nil {
		t.Fatalf("refresh_token: %v, options %v", err, k.Options != nil)
	}
	o := k.Options()
	s, ok := o.(Seeder)
	if !ok {
		t.Fatalf("%T is not a Seeder", o)
	}
	if s.SeedFile() != "" {
		t.Errorf("empty options seed from %q", s.SeedFile())
	}
	o.(*RefreshTokenOptions).RefreshTokenFile = "/etc/tokend/app.rt"
	o.Defaults()
	var problems []string
	o.Validate(func(field, format string, args ...any) { problems = append(problems, field) })
	if s.SeedFile() != "/etc/tokend/app.rt" || problems != nil {
		t.Errorf("SeedFile = %q, problems %v", s.SeedFile(), problems)
	}
}
