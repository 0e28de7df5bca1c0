package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// decoder builds one Config from its files, each decoded in parts
// (decodePart), keeping what is needed to report a problem at its file and
// line once the whole config has been validated.
type decoder struct {
	cfg      Config
	files    []*srcFile
	skipped  []bool   // per credential: did not decode (reported), validated by name only
	problems []error  // found while decoding; placed with validate's
	patterns []string // the main file's include patterns (include.go)
	det      detacher
	whole    bool // decode every file whole (tests compare it with split decoding)
}

// srcFile is one file of the config, the main one (files[0]) or an
// included one: its credentials are cfg.Credentials[first:first+n].
type srcFile struct {
	name     string // as reported ("" when decoded from bytes)
	data     []byte
	main     bool
	first, n int
	unknown  []toml.Key      // keys some part left undecoded, first occurrence each
	decoded  map[string]bool // keys some part decoded (joined by NUL): unknown nowhere in the file
	lay      *layout         // made only when something is reported
}

func (f *srcFile) layout() *layout {
	if f.lay == nil {
		f.lay = newLayout(f.data)
	}
	return f.lay
}

// decodeFile decodes one file, in runs of [[credential]] tables when
// splitFile finds it safe to (split.go), else whole. A syntax error stops
// everything and is returned: it is reported as the decoder of the whole
// file reports it, so a run that does not parse is decoded again as part of
// the whole file.
func (d *decoder) decodeFile(name string, data []byte, main bool) *Problem {
	f := &srcFile{name: name, data: data, main: main, first: len(d.cfg.Credentials), decoded: map[string]bool{}}
	d.files = append(d.files, f)
	src := len(d.files)
	text := string(data)
	// room for the file's credentials at once (a header in a string or
	// comment makes this an overestimate): appending a part's at a time
	// would copy a large config's structs over and over
	d.cfg.Credentials = slices.Grow(d.cfg.Credentials, strings.Count(text, "[[credential]]"))
	if parts := splitFile(text); len(parts) > 1 && !d.whole {
		nprob := len(d.problems)
		ok := true
		for _, pt := range parts {
			if p := d.decodePart(f, text[pt.start:pt.end], pt.line); p != nil {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		// roll back and decode the file whole, for the decoder's own report
		d.cfg.Credentials, d.skipped, d.problems = d.cfg.Credentials[:f.first], d.skipped[:f.first], d.problems[:nprob]
		f.n, f.unknown, f.decoded = 0, nil, map[string]bool{}
		if main {
			d.cfg.State, d.cfg.Scheduler, d.cfg.Status, d.cfg.Vault = State{}, Scheduler{}, nil, nil
		}
	}
	if p := d.decodePart(f, text, 0); p != nil {
		p.File, p.src = name, src
		return p
	}
	return nil
}

// decodePart decodes text, lines [off+1, ...] of f, appending its
// credentials to the config; a syntax error is returned (its line in f).
// Each table is decoded on its own (a type error in one hides no other
// problem), [[credential]] tables in two steps: the keys every credential
// has, then (once defaults have settled its grant and auth_style) its
// kinds' own keys; each [[credential.sink]] by its kind. The part's
// credentials are then detached from text (detach.go): when it returns,
// nothing of the decoder's tree of the part is kept but its keys' names.
func (d *decoder) decodePart(f *srcFile, text string, off int) *Problem {
	var doc document
	md, err := toml.Decode(text, &doc)
	if err != nil {
		p := decodeError(err)
		if p.Line > 0 {
			p.Line += off
		}
		return p
	}
	src := slices.Index(d.files, f) + 1
	if f.main {
		d.decodeTop(&md, &doc, src, off) // a split file has them in its first part only (splitFile)
	} else {
		d.refuseTop(&md, &doc, src)
	}
	base := len(d.cfg.Credentials)
	d.cfg.Credentials = slices.Grow(d.cfg.Credentials, len(doc.Credentials))[:base+len(doc.Credentials)]
	creds := d.cfg.Credentials[base:] // decoded in place: no copy of a large config's structs
	d.skipped = slices.Grow(d.skipped, len(creds))[:base+len(creds)]
	skipped := d.skipped[base:]
	clear(creds) // the room may hold what a rolled-back split decoded (decodeFile)
	clear(skipped)
	for i, p := range doc.Credentials {
		if err := md.PrimitiveDecode(p, &creds[i]); err != nil {
			var named struct { // the decoder stops at the first bad key, in no set order: name may not be decoded yet
				Name string `toml:"name"`
			}
			_ = md.PrimitiveDecode(p, &named)
			d.addProblem(fmt.Errorf("%s: %w", credKey(base+i, named.Name), decodeError(err)), base+i+1, off)
			_ = md.PrimitiveDecode(p, skipTable{})
			creds[i], skipped[i] = Credential{Name: named.Name}, true // reported; not validated further
		}
	}
	decodeSinks(&md, creds)
	for i := range creds {
		creds[i].applyDefaults()
	}
	od := newOptionDecoder(&md)
	for i, p := range doc.Credentials {
		if !skipped[i] {
			od.decode(p, &creds[i])
		}
	}
	f.noteKeys(&md)
	for i := range creds {
		cr := &creds[i]
		for j := range cr.Sinks {
			cr.Sinks[j].problem = shiftLines(cr.Sinks[j].problem, off)
		}
		if cr.optionIssues != nil {
			cr.optionIssues.problem = shiftLines(cr.optionIssues.problem, off)
		}
		d.det.detach(cr)
	}
	f.n += len(creds)
	return nil
}

// noteKeys records which keys of the file md's part left undecoded and
// which it decoded: a key is unknown when no part of its file decoded it,
// as when the file is decoded whole (the decoder tells keys apart by path,
// not by table). Keys are joined into buf, not by Key.String: a large part
// has tens of thousands of them.
func (f *srcFile) noteKeys(md *toml.MetaData) {
	var undecoded map[string]bool
	var buf []byte
	join := func(k toml.Key) []byte {
		buf = buf[:0]
		for i, s := range k {
			if i > 0 {
				buf = append(buf, 0)
			}
			buf = append(buf, s...)
		}
		return buf
	}
	for _, k := range md.Undecoded() {
		if undecoded == nil {
			undecoded = map[string]bool{}
		}
		if ks := join(k); !undecoded[string(ks)] {
			undecoded[string(ks)] = true
			if !slices.ContainsFunc(f.unknown, func(u toml.Key) bool { return slices.Equal(u, k) }) {
				f.unknown = append(f.unknown, k)
			}
		}
	}
	for _, k := range md.Keys() {
		if ks := join(k); !undecoded[string(ks)] && !f.decoded[string(ks)] {
			f.decoded[string(ks)] = true
		}
	}
}

// decodeTop decodes the main file's top-level tables that the part sets.
func (d *decoder) decodeTop(md *toml.MetaData, doc *document, src, off int) {
	cfg := &d.cfg
	for _, t := range []struct {
		name string
		into any
		p    toml.Primitive
	}{{"state", &cfg.State, doc.State}, {"scheduler", &cfg.Scheduler, doc.Scheduler}, {"status", &cfg.Status, doc.Status}, {"vault", &cfg.Vault, doc.Vault}} {
		if md.IsDefined(t.name) {
			if err := md.PrimitiveDecode(t.p, t.into); err != nil {
				d.addProblem(decodeError(err), 0, off)
				_ = md.PrimitiveDecode(t.p, skipTable{})
			}
		}
	}
	if md.IsDefined("include") {
		var v any
		_ = md.PrimitiveDecode(doc.Include, &v)
		d.setIncludes(v, src)
	}
}

// addProblem records a problem found while decoding a part: about the
// at-th credential (1-based; 0: none), its line, if any, in the part that
// starts after line off of its file.
func (d *decoder) addProblem(err error, at, off int) {
	p := toProblem(err)
	if p.Line > 0 {
		p.Line += off
	}
	p.at = at
	d.problems = append(d.problems, p)
}

// unknownKeys reports each key that no part of its file decoded, once for
// each line that sets it (layout.unknownKey).
func (d *decoder) unknownKeys() []error {
	var out []error
	for i, f := range d.files {
		creds := d.cfg.Credentials[f.first : f.first+f.n]
		for _, k := range f.unknown {
			if f.decoded[strings.Join(k, "\x00")] {
				continue
			}
			for _, p := range f.layout().unknownKey(k, creds) {
				p.File, p.src = f.name, i+1
				out = append(out, p)
			}
		}
	}
	return out
}

// fileOf is the file that holds the i-th (0-based) credential.
func (d *decoder) fileOf(i int) *srcFile {
	for _, f := range d.files {
		if i >= f.first && i < f.first+f.n {
			return f
		}
	}
	return d.files[0]
}

// place names p's file and line. A problem not yet placed is about a
// credential by its (config-wide) index or name, or about the main file's
// top-level keys; a credential's index is made the one in its file, so
// credential[N] counts from the top of the file it names.
func (d *decoder) place(p *Problem) *Problem {
	if p.src == 0 {
		g := -1 // the credential's index in cfg.Credentials
		switch {
		case p.at > 0:
			g = p.at - 1
		case p.Index > 0:
			g = p.Index - 1
		case p.Credential != "":
			g = slices.IndexFunc(d.cfg.Credentials, func(c Credential) bool { return c.Name == p.Credential })
		}
		f := d.files[0]
		if g >= 0 {
			f = d.fileOf(g)
			if p.Index > 0 {
				p.Index = g - f.first + 1
			}
			if p.at > 0 {
				p.at = g - f.first + 1
			}
		}
		p.src = slices.Index(d.files, f) + 1
	}
	f := d.files[p.src-1]
	p.File = f.name
	if p.Line == 0 {
		f.layout().locate(p, d.cfg.Credentials[f.first:f.first+f.n])
	}
	if p.also > 0 {
		first := d.place(&Problem{Credential: p.Credential, Key: "name", at: p.also})
		p.Msg += " (also at " + first.where() + ")"
		p.also = 0
	}
	return p
}

// where is the problem's place as Error writes it: "FILE:LINE", "FILE" or "line N".
func (p *Problem) where() string {
	switch {
	case p.File != "" && p.Line > 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	case p.File != "":
		return p.File
	}
	return fmt.Sprintf("line %d", p.Line)
}
