package envfile

import (
	"strings"
	"testing"
)

// FuzzEnvfileRoundTrip checks that Encode either refuses a value (and only
// for a documented reason) or writes a line that Parse reads back exactly,
// alone and in a file between other lines, and that docker reads back
// exactly whenever the line is unquoted. Seeds are in
// testdata/fuzz/FuzzEnvfileRoundTrip.
func FuzzEnvfileRoundTrip(f *testing.F) {
	for _, seed := range []string{"", "eyJ0b2tlbiJ9.x-y_z~+/=", " x ", `"q"`, `a\b`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		line, err := Encode("TOKEN", value)
		if err != nil {
			if !refusable(value) {
				t.Fatalf("Encode refused %q: %v", value, err)
			}
			return
		}
		if strings.ContainsAny(line, "\n\r\x00") {
			t.Fatalf("Encode(%q) = %q spans lines or holds NUL", value, line)
		}
		if len(line) > MaxLineLen {
			t.Fatalf("Encode(%q) produced %d bytes, over MaxLineLen", value, len(line))
		}
		for _, file := range []string{
			line,
			Header + "\n" + line + "\n",
			"A=1\n" + line + "\r\nZ=\"z\"\n",
		} {
			got, err := Parse([]byte(file))
			if err != nil {
				t.Fatalf("Parse(%q): %v", file, err)
			}
			if v, ok := got["TOKEN"]; !ok || v != value {
				t.Fatalf("round trip of %q via %q gave %q (present %v)", value, line, v, ok)
			}
		}
		if line == "TOKEN="+value {
			if got := dockerParse(t, []byte(line+"\n"))["TOKEN"]; got != value {
				t.Fatalf("docker reads unquoted %q as %q", line, got)
			}
		}
	})
}

// refusable reports whether Encode may refuse value: it has a character no
// single line can carry for both readers, or may be too long (the quoted
// form bounds the line's length).
func refusable(v string) bool {
	if len("TOKEN=")+len(quote(v)) > MaxLineLen || !validUTF8(v) {
		return true
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return true
		}
	}
	return false
}
