package config

import (
	"reflect"
	"strings"
)

// detacher gives every string reachable from the values it is handed
// storage of its own, with one copy per distinct value across all of them.
// decode hands it each part's credentials as soon as the part is decoded,
// so the part's document can go, then the top-level tables.
//
// Why: BurntSushi/toml returns string values that share the memory of the
// decoded document, so any one name, path or URL that outlives decoding
// keeps the whole file alive for the daemon's whole life (docs/performance.md, "Figures behind the code"). Sharing equal values also stores a token_url
// or client_id used by thousands of credentials once.
//
// Strings are replaced in place in structs (the decoder allocated them), but
// slices and maps of strings are replaced by new ones: they may be a
// provider preset's, shared by every config (applyPreset).
type detacher struct{ seen map[string]string }

func newDetacher() detacher { return detacher{seen: map[string]string{}} }

// detach detaches the strings reachable from ptr, a non-nil pointer.
func (d detacher) detach(ptr any) { d.walk(reflect.ValueOf(ptr).Elem()) }

func (d detacher) str(s string) string {
	if s == "" {
		return ""
	}
	if c, ok := d.seen[s]; ok {
		return c
	}
	c := strings.Clone(s)
	d.seen[c] = c
	return c
}

// walk detaches the strings in v, which must be settable.
func (d detacher) walk(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(d.str(v.String()))
	case reflect.Pointer:
		if !v.IsNil() {
			d.walk(v.Elem())
		}
	case reflect.Interface: // a sink's Options: a pointer to the kind's struct
		if !v.IsNil() && v.Elem().Kind() == reflect.Pointer {
			d.walk(v.Elem())
		}
	case reflect.Struct:
		t := v.Type()
		for i := range v.NumField() {
			if t.Field(i).IsExported() {
				d.walk(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.IsNil() {
			return
		}
		if v.Type().Elem().Kind() == reflect.String { // may be shared: copy
			c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
			reflect.Copy(c, v)
			v.Set(c)
		}
		for i := range v.Len() {
			d.walk(v.Index(i))
		}
	case reflect.Map: // may be shared: rebuild
		if v.IsNil() {
			return
		}
		c := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			k.Set(it.Key())
			e.Set(it.Value())
			d.walk(k)
			d.walk(e)
			c.SetMapIndex(k, e)
		}
		v.Set(c)
	}
}
