package scheduler

import "github.com/tokend/tokend/internal/state"

// interner shares one copy of the strings that many stored records repeat
// (token types, scopes, statuses), and the record's credential name with
// the configured one, so that loading 100,000 records at start-up does not
// keep 100,000 copies of "Bearer" (docs/performance.md, "Start-up at scale").
// It lives for one start-up; the zero value is ready.
type interner map[string]string

// str returns the shared copy of v.
func (in *interner) str(v string) string {
	if v == "" {
		return ""
	}
	if *in == nil {
		*in = interner{}
	}
	if c, ok := (*in)[v]; ok {
		return c
	}
	(*in)[v] = v
	return v
}

// record makes rec use shared copies; name is the configured credential
// name, which the store guarantees rec.Credential equals.
func (in *interner) record(rec *state.Record, name string) {
	if rec.Credential == name {
		rec.Credential = name
	}
	rec.TokenType, rec.Scope = in.str(rec.TokenType), in.str(rec.Scope)
	rec.Status = state.Status(in.str(string(rec.Status)))
}
