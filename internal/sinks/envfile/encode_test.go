package envfile

import (
	"bufio"
	"bytes"
	"maps"
	"strings"
	"testing"
	"unicode"
)

// dockerParse reads an env-file the way `docker run --env-file` does
// (docker/cli opts/envfile.go, pkg/kvfile): lines split by bufio.Scanner,
// leading whitespace trimmed, '#' lines skipped, split at the first '=', the
// value taken as-is (no unquoting).
func dockerParse(t *testing.T, data []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimLeftFunc(sc.Text(), unicode.IsSpace)
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("docker's scanner fails: %v", err)
	}
	return out
}

// roundTrip encodes value as NAME in a file with a header, parses it back and
// returns the line and what systemd-style parsing and docker read.
func roundTrip(t *testing.T, value string) (line, systemd, docker string) {
	t.Helper()
	line, err := Encode("NAME", value)
	if err != nil {
		t.Fatalf("Encode(%q): %v", value, err)
	}
	file := []byte(Header + "\n" + line + "\n")
	got, err := Parse(file)
	if err != nil {
		t.Fatalf("Parse(%q): %v", file, err)
	}
	if len(got) != 1 {
		t.Fatalf("Parse(%q) = %q, want only NAME", file, got)
	}
	return line, got["NAME"], dockerParse(t, file)["NAME"]
}

func TestEncodeRoundTrip(t *testing.T) {
	tests := []struct {
		name, value, line string
		dockerExact       bool // docker reads the value exactly (unquoted line)
	}{
		{"jwt", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln-_", "NAME=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln-_", true},
		{"token chars", "Aa0._~+/=-:@,", "NAME=Aa0._~+/=-:@,", true},
		{"base64 padding", "dG9rZW4==", "NAME=dG9rZW4==", true},
		{"empty", "", "NAME=", true},
		{"inner space", "a b\tc", "NAME=a b\tc", true},
		{"dollar", "$HOME${x}", "NAME=$HOME${x}", true},
		{"hash and semicolon", "#x;y #z", "NAME=#x;y #z", true},
		{"inner quotes", `a"b'c"`, `NAME=a"b'c"`, true},
		{"backtick", "`id`", "NAME=`id`", true},
		{"unicode", "tökén-日本-🔑", "NAME=tökén-日本-🔑", true},
		{"leading space", " x", `NAME=" x"`, false},
		{"trailing space", "x ", `NAME="x "`, false},
		{"leading tab", "\tx", "NAME=\"\tx\"", false},
		{"only spaces", "   ", `NAME="   "`, false},
		{"leading double quote", `"x"`, `NAME="\"x\""`, false},
		{"leading single quote", `'x'`, `NAME="'x'"`, false},
		{"backslash", `a\b`, `NAME="a\\b"`, false},
		{"backslash n", `a\nb`, `NAME="a\\nb"`, false},
		{"trailing backslash", `x\`, `NAME="x\\"`, false},
		{"all escapes", "\\ x\"$`", "NAME=\"\\\\ x\\\"\\$\\`\"", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line, systemd, docker := roundTrip(t, tt.value)
			if line != tt.line {
				t.Errorf("Encode = %q, want %q", line, tt.line)
			}
			if systemd != tt.value {
				t.Errorf("Parse read %q, want %q", systemd, tt.value)
			}
			if (docker == tt.value) != tt.dockerExact {
				t.Errorf("docker reads %q; exact = %v, want %v", docker, docker == tt.value, tt.dockerExact)
			}
		})
	}
}

func TestEncodeRefuses(t *testing.T) {
	const secretPart = "SECRETPART"
	tests := []struct {
		name, varName, value, want string
	}{
		{"newline", "TOKEN", secretPart + "\nB", "variable TOKEN: value contains a newline"},
		{"carriage return", "TOKEN", secretPart + "\r", "variable TOKEN: value contains a carriage return"},
		{"NUL", "TOKEN", secretPart + "\x00", "variable TOKEN: value contains a NUL byte"},
		{"escape char", "TOKEN", secretPart + "\x1b[0m", "variable TOKEN: value contains control character 0x1b"},
		{"DEL", "TOKEN", secretPart + "\x7f", "variable TOKEN: value contains control character 0x7f"},
		{"invalid utf8", "TOKEN", secretPart + "\xff", "variable TOKEN: value is not valid UTF-8"},
		{"noncharacter", "TOKEN", secretPart + "\uFFFE", "variable TOKEN: value is not valid UTF-8"},
		{"too long", "TOKEN", secretPart + strings.Repeat("a", MaxLineLen), "variable TOKEN: value too long"},
		{"bad name digit", "1X", "v", `invalid variable name "1X"`},
		{"bad name dash", "A-B", "v", `invalid variable name "A-B"`},
		{"empty name", "", "v", `invalid variable name ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line, err := Encode(tt.varName, tt.value)
			if err == nil {
				t.Fatalf("Encode accepted it: %q", line)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error %q, want prefix %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secretPart) {
				t.Errorf("error %q leaks the value", err)
			}
		})
	}
}

// TestMaxLineLenFitsDocker checks the limit against docker's reader: the
// longest line Encode produces still scans, one byte more would not.
func TestMaxLineLenFitsDocker(t *testing.T) {
	value := strings.Repeat("a", MaxLineLen-len("NAME="))
	line, err := Encode("NAME", value)
	if err != nil {
		t.Fatalf("Encode at the limit: %v", err)
	}
	if got := dockerParse(t, []byte(line+"\n"))["NAME"]; got != value {
		t.Errorf("docker read %d bytes, want %d", len(got), len(value))
	}
	if _, err := Encode("NAME", value+"a"); err == nil {
		t.Error("Encode accepted a line one byte over MaxLineLen")
	}
	sc := bufio.NewScanner(strings.NewReader(line + "a\n"))
	for sc.Scan() {
	}
	if sc.Err() == nil {
		t.Error("docker's scanner accepts a line over MaxLineLen; the limit is needlessly low")
	}
}

// TestParseSystemdStyle checks Parse against hand-written files whose
// meaning is fixed by systemd's parser and its tests (test-env-file.c).
func TestParseSystemdStyle(t *testing.T) {
	tests := []struct {
		name, file string
		want       map[string]string
	}{
		{"continuations", "a=a\nb=b\\\nc\nd=d\\\ne\\\nf\ng=g\\ \nh=h\ni=i\\",
			map[string]string{"a": "a", "b": "bc", "d": "def", "g": "g ", "h": "h", "i": "i"}},
		{"escaped newline at end", "a=a\\\n", map[string]string{"a": "a"}},
		{"comments and quotes", "# Generated\n\nHWMON=\"coretemp f71882fg\"\n; other comment\nM_0=coretemp\nM_1=f71882fg",
			map[string]string{"HWMON": "coretemp f71882fg", "M_0": "coretemp", "M_1": "f71882fg"}},
		{"empty values", "a=\nb=", map[string]string{"a": "", "b": ""}},
		{"whitespace around", "  KEY  =   value with  spaces   \t\n", map[string]string{"KEY": "value with  spaces"}},
		{"single quotes literal", `A='x\y "$z'`, map[string]string{"A": `x\y "$z`}},
		{"double quote escapes", `A="\"\\\$\` + "`" + `\n\q"`, map[string]string{"A": `"\$` + "`" + `\n\q`}},
		{"multi-line double quotes", "A=\"l1\nl2\"\nB=b", map[string]string{"A": "l1\nl2", "B": "b"}},
		{"quoted newline continuation", "A=\"x\\\ny\"", map[string]string{"A": "xy"}},
		{"concatenation", `A="x y"'z'w`, map[string]string{"A": "x yzw"}},
		{"space between quoted parts", `A="x" "y"`, map[string]string{"A": "xy"}},
		{"inner quote is literal", `A=a"b`, map[string]string{"A": `a"b`}},
		{"crlf", "A=1\r\nB=2\r\n", map[string]string{"A": "1", "B": "2"}},
		{"no equals ignored", "JUNK\nA=1\nMORE", map[string]string{"A": "1"}},
		{"last one wins", "A=1\nA=2", map[string]string{"A": "2"}},
		{"comment escape ends at newline", "# c \\\nA=1", map[string]string{"A": "1"}},
		{"unterminated quote", `A="abc`, map[string]string{"A": "abc"}},
		{"leading escape", `A=\ x`, map[string]string{"A": " x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("Parse(%q)\n got %q\nwant %q", tt.file, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, file, want string }{
		{"NUL", "A=1\nB=x\x00y", "line 2: NUL byte"},
		{"invalid utf8 value", "# h\nA=SECRET\xff", "line 2: invalid UTF-8 in the value of A"},
		{"invalid utf8 key", "A\xff=1", "line 1: invalid UTF-8 in variable name"},
		{"noncharacter", "A=\uFDD0", "line 1: invalid UTF-8 in the value of A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.file))
			if err == nil || err.Error() != tt.want {
				t.Errorf("Parse error = %v, want %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error leaks the value: %v", err)
			}
		})
	}
}

// TestParseReadsWholeEncodedFile parses a file with many encoded variables,
// including quoted ones, in one go.
func TestParseReadsWholeEncodedFile(t *testing.T) {
	want := map[string]string{
		"A": "plain", "B": " lead", "C": `back\slash`, "D": "", "E": `"q"`, "F": "trail\t",
	}
	var b strings.Builder
	b.WriteString(Header + "\n")
	for _, k := range []string{"A", "B", "C", "D", "E", "F"} {
		line, err := Encode(k, want[k])
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(line + "\n")
	}
	got, err := Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("Parse\n got %q\nwant %q", got, want)
	}
}
