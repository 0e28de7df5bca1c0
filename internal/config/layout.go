package config

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/tokend/tokend/internal/sinks/kinds"
)

// layout is where the tables of a TOML document are, line by line, so a
// problem found on decoded values can name its line (the decoder keeps no
// positions for them). It reads headers and `key =` lines only, best
// effort: a key set by a dotted key or inside an inline table is found at
// its table's header, or not at all.
type layout struct {
	lines  []string
	tables []tableSpan
}

// tableSpan is one table of the document: its header's path ("" for the
// root), the index of each element of the path that is an array of tables
// (-1 for a plain table), and its lines [start, end), start being the
// header's.
type tableSpan struct {
	path       string
	idx        []int
	start, end int
}

var tableHeaderRE = regexp.MustCompile(`^\s*\[(\[)?\s*([^\[\]]+?)\s*\]`)

func newLayout(data []byte) *layout {
	l := &layout{lines: strings.Split(string(data), "\n")}
	cur := map[string]int{} // array path -> its current element
	cnt := map[string]int{} // array path after its parents' elements -> elements so far
	span := tableSpan{}
	for i, line := range l.lines {
		m := tableHeaderRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		span.end = i
		l.tables = append(l.tables, span)
		segs := strings.Split(m[2], ".")
		for j := range segs {
			segs[j] = strings.Trim(strings.TrimSpace(segs[j]), `"'`)
		}
		path := strings.Join(segs, ".")
		span = tableSpan{path: path, idx: make([]int, len(segs)), start: i}
		chain := ""
		for j := range segs[:len(segs)-1] {
			span.idx[j] = -1
			if v, ok := cur[strings.Join(segs[:j+1], ".")]; ok {
				span.idx[j] = v
				chain += strconv.Itoa(v) + "."
			}
		}
		span.idx[len(segs)-1] = -1
		if m[1] != "" { // [[array]]
			n := cnt[chain+path]
			cnt[chain+path] = n + 1
			cur[path] = n
			span.idx[len(segs)-1] = n
		}
	}
	span.end = len(l.lines)
	l.tables = append(l.tables, span)
	return l
}

// keySeg is one element of a key path: its name and, for an element of an
// array of tables, its 0-based index (-1 otherwise).
type keySeg struct {
	name string
	idx  int
}

var segRE = regexp.MustCompile(`^([a-z_][a-z0-9_]*)(?:\[(\d+)\])?$`)

// parseKey reads "sink[2].path" into segments, indexes made 0-based.
func parseKey(key string) []keySeg {
	var out []keySeg
	for _, s := range strings.Split(key, ".") {
		m := segRE.FindStringSubmatch(s)
		if m == nil {
			return nil
		}
		seg := keySeg{name: m[1], idx: -1}
		if m[2] != "" {
			n, _ := strconv.Atoi(m[2])
			seg.idx = n - 1
		}
		out = append(out, seg)
	}
	return out
}

// find returns the 1-based line that sets the last element of segs in the
// table the others name, else the header of a subtable of that name, else
// the table's header; 0 when the table is not in the document.
func (l *layout) find(segs []keySeg) int {
	if len(segs) == 0 {
		return 0
	}
	table, field := segs[:len(segs)-1], segs[len(segs)-1]
	header, sub := 0, 0
	assign := regexp.MustCompile(`^\s*["']?` + regexp.QuoteMeta(field.name) + `["']?\s*(=|\.)`)
	for _, t := range l.tables {
		switch {
		case t.matches(table):
			if header == 0 && t.path != "" {
				header = t.start + 1
			}
			for i := t.start; i < t.end; i++ {
				if (i > t.start || t.path == "") && assign.MatchString(l.lines[i]) {
					return i + 1
				}
			}
		case sub == 0 && t.matches(segs):
			sub = t.start + 1
		}
	}
	if sub != 0 {
		return sub
	}
	return header
}

// matches reports whether the table is the one segs name: the same path,
// and the same element of each array whose index segs give.
func (t tableSpan) matches(segs []keySeg) bool {
	if len(segs) != len(t.idx) {
		return len(segs) == 0 && t.path == ""
	}
	for i, s := range segs {
		if !strings.HasPrefix(t.path+".", segPrefix(segs[:i+1])+".") || (s.idx >= 0 && t.idx[i] != s.idx) {
			return false
		}
	}
	return true
}

func segPrefix(segs []keySeg) string {
	names := make([]string, len(segs))
	for i, s := range segs {
		names[i] = s.name
	}
	return strings.Join(names, ".")
}

// locate fills in p's line from the document's layout; creds are the
// credentials in document order (their names tell a credential's table,
// unless p.at gives its index).
func (l *layout) locate(p *Problem, creds []Credential) {
	if p.Line > 0 {
		return
	}
	segs := parseKey(p.Key)
	if p.Key != "" && segs == nil {
		return
	}
	if p.Credential != "" || p.Index > 0 || p.at > 0 {
		i := p.Index - 1
		switch {
		case p.at > 0: // its index in creds, when its name may be another's too
			i = p.at - 1
		case p.Credential != "":
			i = slices.IndexFunc(creds, func(c Credential) bool { return c.Name == p.Credential })
		}
		if i < 0 {
			return
		}
		segs = append([]keySeg{{"credential", i}}, segs...)
		if len(segs) == 1 { // the credential itself: its header
			segs = append(segs, keySeg{name: "\x00", idx: -1})
		}
	}
	p.Line = l.find(segs)
}

// unknownKey reports key, which no table of its kind has, once for each
// line that sets it, naming the credential and sink of each, with the known
// key it most resembles.
func (l *layout) unknownKey(k toml.Key, creds []Credential) []*Problem {
	if len(k) == 0 {
		return nil
	}
	table := strings.Join(k[:len(k)-1], ".")
	field := k[len(k)-1]
	msg := "unknown key"
	if s := suggest(field, knownKeys(table)); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	assign := regexp.MustCompile(`^\s*["']?` + regexp.QuoteMeta(field) + `["']?\s*=`)
	var out []*Problem
	for _, t := range l.tables {
		if t.path != table {
			continue
		}
		for i := t.start; i < t.end; i++ {
			if (i == t.start && t.path != "") || !assign.MatchString(l.lines[i]) {
				continue
			}
			p := &Problem{Line: i + 1, Msg: msg}
			segs := make([]string, 0, len(k))
			for j, name := range k[:len(k)-1] {
				if t.idx[j] >= 0 {
					name += fmt.Sprintf("[%d]", t.idx[j]+1)
				}
				segs = append(segs, name)
			}
			if k[0] == "credential" && t.idx[0] >= 0 { // under the credential's name
				if c := t.idx[0]; c < len(creds) && creds[c].Name != "" {
					p.Credential = creds[c].Name
				} else {
					p.Index = c + 1
				}
				segs = segs[1:]
			}
			p.Key = joinKey(strings.Join(segs, "."), field)
			out = append(out, p)
		}
	}
	if out == nil { // a table of its own ([stat]) or a dotted key: its header, if any
		p := &Problem{Key: k.String(), Msg: msg}
		for _, t := range l.tables {
			if t.path == k.String() {
				p.Line = t.start + 1
				break
			}
		}
		out = []*Problem{p}
	}
	return out
}

// knownKeys lists the keys a table of the given path may have.
func knownKeys(table string) []string {
	switch table {
	case "":
		return append(tomlKeysOf(reflect.TypeFor[Config]()), "include")
	case "state":
		return tomlKeysOf(reflect.TypeFor[State]())
	case "scheduler":
		return tomlKeysOf(reflect.TypeFor[Scheduler]())
	case "scheduler.provider":
		return tomlKeysOf(reflect.TypeFor[ProviderLimit]())
	case "status":
		return tomlKeysOf(reflect.TypeFor[Status]())
	case "vault":
		return tomlKeysOf(reflect.TypeFor[Vault]())
	case "credential":
		_, opts := optionKinds()
		return append(tomlKeysOf(reflect.TypeFor[Credential]()), opts...)
	case "credential.proxy":
		return tomlKeysOf(reflect.TypeFor[Proxy]())
	case "credential.sink":
		keys := tomlKeysOf(reflect.TypeFor[Sink]())
		for _, k := range kinds.All() {
			keys = append(keys, k.Keys()...)
		}
		return keys
	}
	return nil
}

// suggest returns the key of known closest to key by edit distance, when
// it is close enough to be a typo of it; "" otherwise.
func suggest(key string, known []string) string {
	best, bestD := "", max(1, min(3, len(key)/3))+1
	for _, k := range known {
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
