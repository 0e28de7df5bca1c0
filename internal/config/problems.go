package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Problem is one thing wrong with a config, in the one format every config
// problem (and warning) is reported in:
//
//	FILE:LINE: credential "NAME": KEY.PATH: what is wrong
//
// FILE when the config was loaded from a file, LINE where it is known, the
// credential part for the keys of a [[credential]] table (its name, or
// credential[N] when it has none; N and sink[N] count from 1, as an
// operator counts tables), KEY.PATH inside that table or, outside
// credentials, from the document's root (state.dir).
type Problem struct {
	File       string
	Line       int    // 1-based; 0 when unknown
	Credential string // the credential's name; "" outside [[credential]] tables
	Index      int    // 1-based index of a credential without a name; 0 otherwise
	Key        string // key path, e.g. "sink[1].path", "state.backend"; "" for the table itself
	Msg        string

	src  int // 1 + index of the config file the problem is in, once known (include.go); 0: not yet
	at   int // 1-based index of the credential it is about when its name may not tell (a duplicate); 0 otherwise
	also int // a duplicate name: 1-based index of the credential that has it first (placed as "also at")
}

// Error formats the problem as the type's comment says.
func (p *Problem) Error() string {
	var b strings.Builder
	switch {
	case p.File != "" && p.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", p.File, p.Line)
	case p.File != "":
		b.WriteString(p.File + ": ")
	case p.Line > 0:
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	switch {
	case p.Credential != "":
		fmt.Fprintf(&b, "credential %q: ", p.Credential)
	case p.Index > 0:
		fmt.Fprintf(&b, "credential[%d]: ", p.Index)
	}
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems flattens err into its problems: the errors that errors.Join
// joined, recursively (a Join of Joins, as validation and the daemon's
// build collect them), each one line of a report. A nil err has none; any
// other error is itself one problem.
func Problems(err error) []error {
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, Problems(e)...)
	}
	return out
}

// keyPathRE matches a key path as the validators write it before ": ".
var keyPathRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*(\[\d+\])?(\.[a-z_][a-z0-9_]*(\[\d+\])?)*$`)

// toProblem reads a validator's error — "KEY.PATH: what", where a key path
// of a credential starts `credential "NAME".` or `credential[N].` — into a
// Problem. A *Problem in err's chain (a decoding error, decodeError) gives
// its line and message, its key appended to the path.
func toProblem(err error) *Problem {
	if p, ok := err.(*Problem); ok {
		return p
	}
	p := &Problem{}
	s := err.Error()
	if rest, ok := strings.CutPrefix(s, "credential"); ok {
		if q, qerr := strconv.QuotedPrefix(strings.TrimPrefix(rest, " ")); qerr == nil && strings.HasPrefix(rest, " ") {
			p.Credential, _ = strconv.Unquote(q)
			s = rest[1+len(q):]
		} else if m := indexRE.FindStringSubmatch(rest); m != nil {
			p.Index, _ = strconv.Atoi(m[1])
			s = rest[len(m[0]):]
		}
		if p.Credential != "" || p.Index > 0 {
			if after, ok := strings.CutPrefix(s, ": "); ok {
				s = after
			} else {
				s = strings.TrimPrefix(s, ".")
			}
		}
	}
	if key, msg, ok := strings.Cut(s, ": "); ok && keyPathRE.MatchString(key) {
		p.Key, s = key, msg
	}
	p.Msg = s
	var inner *Problem
	if errors.As(err, &inner) {
		p.Line, p.Msg = inner.Line, inner.Msg
		if inner.Key != "" {
			p.Key = joinKey(p.Key, lastKey(inner.Key))
		}
	}
	return p
}

var indexRE = regexp.MustCompile(`^\[(\d+)\]`)

func joinKey(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

func lastKey(k string) string { return k[strings.LastIndex(k, ".")+1:] }

// tomlErrorRE matches the decoder's type errors:
// `toml: line 3 (last key "scheduler.max_concurrent"): incompatible types: ...`.
var tomlErrorRE = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

// shiftLines gives a decoding error found in a part of a file that starts
// after line off its line in the file (a *Problem); nil stays nil.
func shiftLines(err error, off int) error {
	if err == nil || off == 0 {
		return err
	}
	p := decodeError(err)
	if p.Line > 0 {
		p.Line += off
	}
	return p
}

// decodeError turns a decoder error into a Problem with its line and key
// when the decoder gave them. Decoder errors name the key, never its value.
func decodeError(err error) *Problem {
	if p, ok := err.(*Problem); ok { // made by decodeError already (shiftLines)
		c := *p
		return &c
	}
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return &Problem{Line: pe.Position.Line, Key: pe.LastKey, Msg: pe.Message}
	}
	if m := tomlErrorRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Problem{Line: line, Key: m[2], Msg: m[3]}
	}
	return &Problem{Msg: "decoding: " + err.Error()}
}
