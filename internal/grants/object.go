package grants

import (
	"encoding/json"
	"unicode/utf8"
)

// object is a JSON object's top-level members in the order sent, each value
// as raw JSON sharing the body's bytes. It is what decodeJSON reads a token
// answer into: encoding/json's map[string]json.RawMessage decoding costs two
// allocations per member and a map (issue 17: a token answer is parsed on
// every rotation), this one slice.
type object []member

type member struct {
	key []byte // unquoted; the body's own bytes when the key has no escapes
	raw json.RawMessage
}

// get returns the value of the last member named name (as a map decode
// keeps the last of duplicate keys), nil when there is none.
func (o object) get(name string) json.RawMessage {
	for i := len(o) - 1; i >= 0; i-- {
		if string(o[i].key) == name {
			return o[i].raw
		}
	}
	return nil
}

// parseObject splits body into its top-level members. ok is false unless
// body is valid JSON whose value is an object: exactly what json.Unmarshal
// into a map[string]json.RawMessage accepts with a non-nil map. Keys are
// unescaped as encoding/json does (invalid UTF-8 becomes U+FFFD); values are
// the members' exact JSON text.
func parseObject(body []byte) (object, bool) {
	if !json.Valid(body) {
		return nil, false
	}
	i := skipSpace(body, 0)
	if body[i] != '{' {
		return nil, false
	}
	o := make(object, 0, 8)
	i = skipSpace(body, i+1)
	if body[i] == '}' {
		return o, true
	}
	for {
		end := stringEnd(body, i) // valid JSON: a key starts here
		key := body[i:end]
		i = skipSpace(body, skipSpace(body, end)+1) // past the colon
		vend := valueEnd(body, i)
		o = append(o, member{key: unquoteKey(key), raw: body[i:vend:vend]})
		i = skipSpace(body, vend)
		if body[i] == '}' {
			return o, true
		}
		i = skipSpace(body, i+1) // past the comma
	}
}

// unquoteKey is a key's string value; plain ASCII without escapes is taken
// as it is (no copy), anything else goes through encoding/json.
func unquoteKey(quoted []byte) []byte {
	if plain(quoted) {
		return quoted[1 : len(quoted)-1]
	}
	var s string
	_ = json.Unmarshal(quoted, &s) // valid JSON string: cannot fail
	return []byte(s)
}

// plainString returns the value of a quoted JSON string that has only
// printable ASCII and no escapes (its bytes are its value), and false for
// anything else.
func plainString(raw []byte) (string, bool) {
	if !plain(raw) {
		return "", false
	}
	return string(raw[1 : len(raw)-1]), true
}

// plain reports whether raw is a quoted JSON string of printable ASCII
// without escapes.
func plain(raw []byte) bool {
	n := len(raw)
	if n < 2 || raw[0] != '"' || raw[n-1] != '"' {
		return false
	}
	for _, c := range raw[1 : n-1] {
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the JSON string starting at b[i].
func stringEnd(b []byte, i int) int {
	for i++; b[i] != '"'; i++ {
		if b[i] == '\\' {
			i++ // the escaped byte cannot end the string
		}
	}
	return i + 1
}

// valueEnd returns the index just past the JSON value starting at b[i],
// which must be valid JSON.
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch b[i] {
			case '"':
				i = stringEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	return i
}
