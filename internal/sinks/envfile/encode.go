package envfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// nameRE is what a managed variable name must look like: a portable shell
// name, which systemd (env_name_is_valid) and every shell accept.
var nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// MaxLineLen is the longest line Encode produces. docker reads env-files with
// a bufio.Scanner whose token limit is bufio.MaxScanTokenSize (64 KiB,
// including the newline); a longer line makes docker reject the whole file.
const MaxLineLen = bufio.MaxScanTokenSize - 1

// systemd's character classes (src/basic/string-util.h, escape.h).
const (
	sdWhitespace = " \t\n\r"
	sdNewline    = "\n\r"
	sdComments   = "#;"
	sdNeedEscape = "\"\\`$" // unescaped inside double quotes
)

// Encode returns the env-file line `name=value` (without a newline) that
// systemd's EnvironmentFile= and `docker --env-file` both read back as
// exactly value, when that is possible:
//
//   - A value that systemd reads literally is written unquoted, so docker
//     (which takes everything after the first '=' as-is) agrees. That is
//     every value except those that start or end with a space or tab, start
//     with a quote (' or "), or contain a backslash. So tokens
//     ([A-Za-z0-9._~+/=-] and : @ , $ # ; and inner spaces) are unquoted.
//   - Any other value is double-quoted with systemd's escapes (\" \\ \` \$).
//     systemd reads it exactly; docker's --env-file does NOT strip quotes or
//     escapes (docker/cli#3630), so a docker consumer would see the quotes
//     and backslashes.
//   - A value containing a newline, carriage return, NUL or another ASCII
//     control character other than tab (older systemd drops such variables),
//     invalid UTF-8 or a Unicode noncharacter (systemd rejects the whole
//     file, docker too for invalid UTF-8), or whose line would exceed
//     MaxLineLen is refused.
//
// Errors name the variable, never the value.
func Encode(name string, value string) (string, error) {
	if !nameRE.MatchString(name) {
		return "", fmt.Errorf("invalid variable name %q (want [A-Za-z_][A-Za-z0-9_]*)", name)
	}
	if err := checkValue(value); err != nil {
		return "", fmt.Errorf("variable %s: %w", name, err)
	}
	line := name + "=" + value
	if needsQuoting(value) {
		line = name + "=" + quote(value)
	}
	if len(line) > MaxLineLen {
		return "", fmt.Errorf("variable %s: value too long for an env-file line (%d bytes, at most %d)", name, len(line), MaxLineLen)
	}
	return line, nil
}

// checkValue refuses what cannot be written as a single line that both
// readers accept. The messages describe the problem, not the value.
func checkValue(v string) error {
	if !validUTF8(v) {
		return errors.New("value is not valid UTF-8")
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\n':
			return errors.New("value contains a newline")
		case c == '\r':
			return errors.New("value contains a carriage return")
		case c == 0:
			return errors.New("value contains a NUL byte")
		case (c < ' ' && c != '\t') || c == 0x7f:
			return fmt.Errorf("value contains control character %#02x", c)
		}
	}
	return nil
}

// needsQuoting reports whether systemd would read the unquoted value
// differently: it skips leading whitespace, chomps trailing whitespace,
// starts a quoted string at a leading quote and treats backslash as an
// escape. Everything else (including inner quotes, '#', '$') is literal.
func needsQuoting(v string) bool {
	if v == "" {
		return false
	}
	first, last := v[0], v[len(v)-1]
	return strings.IndexByte(" \t", first) >= 0 ||
		strings.IndexByte(" \t", last) >= 0 ||
		first == '"' || first == '\'' ||
		strings.IndexByte(v, '\\') >= 0
}

// validUTF8 is systemd's utf8_is_valid: well-formed UTF-8 without the
// noncharacters U+FDD0..U+FDEF and U+xFFFE, U+xFFFF (src/basic/utf8.c,
// unichar_is_valid), which Go's utf8.ValidString accepts.
func validUTF8(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if (r >= 0xFDD0 && r <= 0xFDEF) || r&0xFFFE == 0xFFFE {
			return false
		}
	}
	return true
}

// quote wraps v in double quotes, backslash-escaping the characters systemd
// unescapes inside them.
func quote(v string) string {
	var b strings.Builder
	b.Grow(len(v) + 2)
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		if strings.IndexByte(sdNeedEscape, v[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('"')
	return b.String()
}

// Parser states, named after systemd's parse_env_file_internal.
const (
	preKey = iota
	inKey
	preValue
	inValue
	valueEscape
	singleQuote
	doubleQuote
	doubleQuoteEscape
	comment
	commentEscape
)

// Parse reads an env-file the way systemd's EnvironmentFile= does
// (src/basic/env-file.c, v254+), so it reads back what Encode writes and
// also hand-written systemd-style files: '#' or ';' comment lines, blank
// lines, whitespace around keys, unquoted values with trailing whitespace
// chomped and backslash escapes, single quotes (literal), double quotes with
// \" \\ \` \$ escapes, backslash-newline continuations, adjacent quoted and
// unquoted parts concatenated, CR or LF line ends. A line without '=' is
// ignored; a later assignment of a key replaces an earlier one. Keys are
// returned as systemd reads them, not checked against a name pattern.
//
// Like systemd it fails on invalid UTF-8 (including noncharacters); unlike systemd (which stops at a
// NUL byte) it fails on NUL. Errors give a line number, never content.
func Parse(data []byte) (map[string]string, error) {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return nil, fmt.Errorf("line %d: NUL byte", 1+bytes.Count(data[:i], []byte{'\n'}))
	}
	p := parser{out: map[string]string{}, line: 1, lastKeyWS: -1, lastValueWS: -1}
	for _, c := range data {
		if err := p.step(c); err != nil {
			return nil, err
		}
		if c == '\n' {
			p.line++
		}
	}
	switch p.state {
	case preValue, inValue, valueEscape, singleQuote, doubleQuote, doubleQuoteEscape:
		if p.state == inValue {
			p.chompValue()
		}
		if err := p.push(); err != nil {
			return nil, err
		}
	}
	return p.out, nil
}

type parser struct {
	state       int
	key, value  []byte
	lastKeyWS   int // start of the key's trailing whitespace, -1 if none
	lastValueWS int // start of the value's trailing whitespace, -1 if none
	line        int // current line, for errors
	keyLine     int // line where the current key started
	out         map[string]string
}

func in(set string, c byte) bool { return strings.IndexByte(set, c) >= 0 }

// step feeds one byte to the state machine; it mirrors systemd's switch.
func (p *parser) step(c byte) error {
	switch p.state {
	case preKey:
		if in(sdComments, c) {
			p.state = comment
		} else if !in(sdWhitespace, c) {
			p.state = inKey
			p.lastKeyWS = -1
			p.keyLine = p.line
			p.key = append(p.key[:0], c)
		}
	case inKey:
		switch {
		case in(sdNewline, c):
			p.state = preKey
			p.key = p.key[:0]
		case c == '=':
			p.state = preValue
			p.lastValueWS = -1
		default:
			p.trackWS(c, &p.lastKeyWS, len(p.key))
			p.key = append(p.key, c)
		}
	case preValue:
		switch {
		case in(sdNewline, c):
			p.state = preKey
			return p.push()
		case c == '\'':
			p.state = singleQuote
		case c == '"':
			p.state = doubleQuote
		case c == '\\':
			p.state = valueEscape
		case !in(sdWhitespace, c):
			p.state = inValue
			p.value = append(p.value, c)
		}
	case inValue:
		switch {
		case in(sdNewline, c):
			p.state = preKey
			p.chompValue()
			return p.push()
		case c == '\\':
			p.state = valueEscape
			p.lastValueWS = -1
		default:
			p.trackWS(c, &p.lastValueWS, len(p.value))
			p.value = append(p.value, c)
		}
	case valueEscape:
		p.state = inValue
		if !in(sdNewline, c) { // an escaped newline is eaten
			p.value = append(p.value, c)
		}
	case singleQuote:
		if c == '\'' {
			p.state = preValue
		} else {
			p.value = append(p.value, c)
		}
	case doubleQuote:
		switch c {
		case '"':
			p.state = preValue
		case '\\':
			p.state = doubleQuoteEscape
		default:
			p.value = append(p.value, c)
		}
	case doubleQuoteEscape:
		p.state = doubleQuote
		switch {
		case in(sdNeedEscape, c):
			p.value = append(p.value, c)
		case c != '\n': // like the shell, keep the backslash before other characters
			p.value = append(p.value, '\\', c)
		}
	case comment:
		if c == '\\' {
			p.state = commentEscape
		} else if in(sdNewline, c) {
			p.state = preKey
		}
	case commentEscape:
		if in(sdNewline, c) {
			p.state = preKey
		} else {
			p.state = comment
		}
	}
	return nil
}

// trackWS records where a run of trailing whitespace starts, or clears it at
// a non-whitespace byte.
func (p *parser) trackWS(c byte, last *int, n int) {
	if !in(sdWhitespace, c) {
		*last = -1
	} else if *last == -1 {
		*last = n
	}
}

func (p *parser) chompValue() {
	if p.lastValueWS >= 0 {
		p.value = p.value[:p.lastValueWS]
	}
}

// push stores the finished assignment and resets key and value.
func (p *parser) push() error {
	key := p.key
	if p.lastKeyWS >= 0 {
		key = key[:p.lastKeyWS]
	}
	if !validUTF8(string(key)) {
		return fmt.Errorf("line %d: invalid UTF-8 in variable name", p.keyLine)
	}
	if !validUTF8(string(p.value)) {
		return fmt.Errorf("line %d: invalid UTF-8 in the value of %s", p.keyLine, key)
	}
	p.out[string(key)] = string(p.value)
	p.key, p.value = p.key[:0], p.value[:0]
	return nil
}
