package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/BurntSushi/toml"
)

// Includes (issue 17): the main config file may say
//
//	include = ["conf.d/*.toml"]   # or one pattern as a string
//
// Each pattern is a filepath.Glob pattern, relative to the directory of the
// main file unless absolute; the files each matches are read in lexical
// order, pattern after pattern, each file once (the main file never), and
// their credentials follow the main file's. A pattern that matches nothing
// is no problem: an empty conf.d is a valid layout. An included file holds
// [[credential]] tables (with their sink and proxy tables) and nothing else:
// the top-level tables and include stay in the main file, so one file
// says where state lives and what is included, and includes do not nest.
// Load, and so `tokend validate`, `tokend run` and a reload (SIGHUP), globs
// again each time: a file added to conf.d is picked up by the next reload.

// setIncludes records the main file's include value v (src: the main
// file's index + 1), or a problem when it is not a string or an array of
// strings.
func (d *decoder) setIncludes(v any, src int) {
	bad := func(format string, args ...any) {
		d.problems = append(d.problems, &Problem{src: src, Key: "include", Msg: fmt.Sprintf(format, args...)})
	}
	switch v := v.(type) {
	case string:
		d.patterns = append(d.patterns, v)
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				bad("must be a string or an array of strings (glob patterns), not an array holding %T", e)
				return
			}
			d.patterns = append(d.patterns, s)
		}
	default:
		bad("must be a string or an array of strings (glob patterns), not %T", v)
	}
}

// includes reads and decodes the files the main file's patterns match
// (mainPath: the main file, "" when decoded from bytes). A file that cannot
// be read, or a bad pattern, is a problem of include; a syntax error in an
// included file stops decoding, as one in the main file does, and is
// returned.
func (d *decoder) includes(mainPath string) *Problem {
	if len(d.patterns) == 0 {
		return nil
	}
	bad := func(format string, args ...any) {
		d.problems = append(d.problems, &Problem{src: 1, Key: "include", Msg: fmt.Sprintf(format, args...)})
	}
	if mainPath == "" {
		bad("a config decoded from bytes has no directory to include files from (load it from a file)")
		return nil
	}
	dir := filepath.Dir(mainPath)
	seen := map[string]bool{filepath.Clean(mainPath): true}
	if abs, err := filepath.Abs(mainPath); err == nil {
		seen[abs] = true
	}
	type file struct {
		name string
		data []byte
	}
	var files []file
	total := 0
	for _, pat := range d.patterns {
		if !filepath.IsAbs(pat) {
			pat = filepath.Join(dir, pat)
		}
		matches, err := filepath.Glob(pat) // sorted
		if err != nil {
			bad("pattern %q: %v", pat, err)
			continue
		}
		for _, m := range matches {
			abs, err := filepath.Abs(m)
			if err != nil {
				abs = filepath.Clean(m)
			}
			if seen[abs] || seen[filepath.Clean(m)] {
				continue
			}
			seen[abs] = true
			data, err := os.ReadFile(m)
			if err != nil {
				bad("%v", err)
				continue
			}
			files = append(files, file{m, data})
			total += bytes.Count(data, []byte("[[credential]]"))
		}
	}
	// room for every file's credentials at once, as decodeFile makes for one
	d.cfg.Credentials = slices.Grow(d.cfg.Credentials, total)
	for _, f := range files {
		d.cfg.Includes = append(d.cfg.Includes, f.name)
		if p := d.decodeFile(f.name, f.data, false); p != nil {
			return p
		}
	}
	return nil
}

// refuseTop reports each top-level table or key of an included file that
// belongs in the main file (src: the included file's index + 1), and
// marks it decoded so it is not also an unknown key. Keys no file may
// have stay undecoded: they are unknown keys.
func (d *decoder) refuseTop(md *toml.MetaData, doc *document, src int) {
	for _, t := range []struct {
		name string
		p    toml.Primitive
	}{{"include", doc.Include}, {"state", doc.State}, {"scheduler", doc.Scheduler}, {"status", doc.Status}, {"vault", doc.Vault}} {
		if !md.IsDefined(t.name) {
			continue
		}
		_ = md.PrimitiveDecode(t.p, skipTable{}) // and every key in it
		msg := fmt.Sprintf("only [[credential]] tables may be in an included file: set %s in the main config file", t.name)
		if t.name == "include" {
			msg = "includes do not nest: only the main config file may include files"
		}
		d.problems = append(d.problems, &Problem{src: src, Key: t.name, Msg: msg})
	}
}
