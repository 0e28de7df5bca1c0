package config

import (
	"regexp"
	"strings"
)

// splitRun is how many [[credential]] tables one part of a split file
// holds: enough that the decoder's fixed cost per document is spread thin,
// few enough that its tree of one part is small (BenchmarkLoad10k).
const splitRun = 100

// span is one part of a file: text[start:end], which starts after line
// `line` of the file (0-based count of the lines before it).
type span struct{ start, end, line int }

// rootCredentialRE is a top-level key that sets credential (or a key in it).
var rootCredentialRE = regexp.MustCompile(`^[ \t]*["']?credential["']?[ \t]*[.=]`)

// plainHeader reads a table header of bare keys, with an optional comment:
// its keys joined by "." and whether it is [[an array's]]; ok false for
// any other header. Without a blank inside the brackets (the usual
// header), it allocates nothing.
func plainHeader(l string) (name string, array, ok bool) {
	t := strings.TrimLeft(l, " \t")
	open, closer := "[", "]"
	if strings.HasPrefix(t, "[[") {
		open, closer, array = "[[", "]]", true
	}
	t = t[len(open):]
	end := strings.IndexByte(t, ']')
	if end < 0 || !strings.HasPrefix(t[end:], closer) {
		return "", false, false
	}
	if rest := strings.TrimLeft(t[end+len(closer):], " \t"); rest != "" && rest[0] != '#' {
		return "", false, false
	}
	name = strings.Trim(t[:end], " \t")
	blank := false
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == ' ' || c == '\t':
			blank = true
		case c == '.' || c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		default:
			return "", false, false
		}
	}
	if blank { // "a . b": the keys, without the blanks around the dots
		keys := strings.Split(name, ".")
		for i, k := range keys {
			if keys[i] = strings.Trim(k, " \t"); strings.ContainsAny(keys[i], " \t") {
				return "", false, false
			}
		}
		name = strings.Join(keys, ".")
	}
	if name == "" || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
		return "", false, false
	}
	return name, array, true
}

// splitFile cuts a config file into parts that decode, each on its own, to
// what the whole file decodes to: the part before the first [[credential]]
// (the top-level tables and keys), then runs of splitRun [[credential]]
// tables, each cut just before a [[credential]] header. It reads the file
// line by line, skipping multi-line strings and arrays, and returns nil
// (decode the file whole) unless the layout is the plain one where the cut
// is safe: no top-level table after the first [[credential]], nothing of
// credential before it, no header it cannot read, and more than one run.
// A part that nonetheless does not parse makes decodeFile decode the file
// whole, so a syntax error is reported as the decoder reports it.
func splitFile(text string) []span {
	var out []span
	start, startLine, run, runs := 0, 0, -1, 0 // run: credentials in the current part; -1 in the head
	ml, depth := "", 0                         // open multi-line string delimiter; open [ and { of values
	line := 0
	for pos := 0; pos < len(text); line++ {
		end := len(text)
		if i := strings.IndexByte(text[pos:], '\n'); i >= 0 {
			end = pos + i + 1
		}
		l := strings.TrimRight(text[pos:end], "\r\n")
		if ml == "" && depth == 0 {
			if t := strings.TrimLeft(l, " \t"); strings.HasPrefix(t, "[") {
				name, array, ok := plainHeader(l)
				if !ok {
					return nil
				}
				switch {
				case name == "credential" && array:
					if run < 0 || run == splitRun {
						if pos > start {
							out = append(out, span{start, pos, startLine})
						}
						start, startLine, run = pos, line, 0
						runs++
					}
					run++
				case strings.HasPrefix(name, "credential.") && run > 0:
				case run < 0 && name != "credential" && !strings.HasPrefix(name, "credential."):
				default:
					return nil
				}
				pos = end
				continue
			}
			if run < 0 && rootCredentialRE.MatchString(l) {
				return nil
			}
		}
		if ml, depth = scanLine(l, ml, depth); depth < 0 {
			return nil
		}
		pos = end
	}
	if ml != "" || depth != 0 || runs < 2 {
		return nil
	}
	return append(out, span{start, len(text), startLine})
}

// scanLine follows one line of TOML from state (ml: the delimiter of the
// multi-line string open at its start, depth: the [ and { of values open):
// strings are skipped, a comment ends the line. It returns the state at the
// line's end; depth -1 when the line is not something it can follow.
func scanLine(l, ml string, depth int) (string, int) {
	for i := 0; i < len(l); {
		if ml != "" {
			j := closeML(l[i:], ml)
			if j < 0 {
				return ml, depth
			}
			i, ml = i+j, ""
			continue
		}
		switch c := l[i]; c {
		case '#':
			return "", depth
		case '"', '\'':
			if delim := mlDelims[c]; strings.HasPrefix(l[i:], delim) {
				ml, i = delim, i+3
				continue
			}
			j := i + 1
			for j < len(l) && l[j] != c {
				if c == '"' && l[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(l) {
				return "", -1 // a string that does not end on its line
			}
			i = j + 1
		case '[', '{':
			depth++
			i++
		case ']', '}':
			if depth--; depth < 0 {
				return "", -1
			}
			i++
		default:
			i++
		}
	}
	return ml, depth
}

// mlDelims are the delimiters of multi-line strings, by their quote.
var mlDelims = map[byte]string{'"': `"""`, '\'': "'''"}

// closeML returns the offset just past the delimiter that closes a
// multi-line string in s (up to two quotes before it belong to the
// string), or -1 when it does not close in s.
func closeML(s, delim string) int {
	for i := 0; i < len(s); i++ {
		switch {
		case delim[0] == '"' && s[i] == '\\':
			i++
		case strings.HasPrefix(s[i:], delim):
			j := i + 3
			for k := 0; k < 2 && j < len(s) && s[j] == delim[0]; k++ {
				j++
			}
			return j
		}
	}
	return -1
}
