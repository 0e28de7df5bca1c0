package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// bigConfig is a config of n credentials, with edit(i, table) changing the
// i-th table's text (0-based).
func bigConfig(n int, edit func(i int, table string) string) string {
	var sb strings.Builder
	sb.WriteString("# head\n[state]\ndir = \"/tmp/x\"\n\n[scheduler]\nmax_concurrent = 4\n\n")
	for i := range n {
		t := credTOML(fmt.Sprintf("c%03d", i))
		if edit != nil {
			t = edit(i, t)
		}
		sb.WriteString(t + "\n")
	}
	return sb.String()
}

// TestSplitFileParts: a large plain file is cut before every splitRun-th
// [[credential]], the parts together being the file, each knowing its first line.
func TestSplitFileParts(t *testing.T) {
	text := bigConfig(250, nil)
	parts := splitFile(text)
	if len(parts) != 4 {
		t.Fatalf("%d parts, want the head and 3 runs", len(parts))
	}
	var joined strings.Builder
	for i, p := range parts {
		joined.WriteString(text[p.start:p.end])
		if p.line != strings.Count(text[:p.start], "\n") {
			t.Errorf("part %d: line %d, want %d", i, p.line, strings.Count(text[:p.start], "\n"))
		}
		if n := strings.Count(text[p.start:p.end], "[[credential]]"); i > 0 && n != min(splitRun, 250-(i-1)*splitRun) {
			t.Errorf("part %d holds %d credentials", i, n)
		}
	}
	if joined.String() != text {
		t.Error("the parts are not the file")
	}
	if !strings.HasPrefix(text[parts[1].start:], "[[credential]]\nname = \"c000\"") {
		t.Errorf("part 1 starts %q", text[parts[1].start:][:30])
	}
}

// TestSplitFileSkipsStringsAndArrays: a header-like line inside a
// multi-line string or array is no cut point, and a comment or a string
// with brackets does not confuse the count of open arrays.
func TestSplitFileSkipsStringsAndArrays(t *testing.T) {
	text := bigConfig(201, func(i int, table string) string {
		switch i {
		case 99: // the 100th: a cut would fall on the next [[credential]] line
			return table + "x = \"\"\"\n[[credential]]\n\\\"\"\"\n\"\"\"\ny = '''\n[[credential]]\n''''\nz = [ # ]\n  [1, \"]\"],\n  ['[', 2],\n]\n"
		}
		return table
	})
	parts := splitFile(text)
	if len(parts) != 4 {
		t.Fatalf("%d parts", len(parts))
	}
	for _, p := range parts[1:] {
		if !strings.HasPrefix(text[p.start:], "[[credential]]\nname = ") {
			t.Errorf("a part starts inside a value: %q", text[p.start:][:40])
		}
	}
}

// TestSplitFileRefuses: a layout where a cut could change the meaning is
// decoded whole.
func TestSplitFileRefuses(t *testing.T) {
	for name, text := range map[string]string{
		"few credentials":           bigConfig(splitRun, nil),
		"a table after credentials": bigConfig(250, nil) + "[status]\nlisten = \"127.0.0.1:1\"\n",
		"credential as a table":     bigConfig(250, nil) + "[credential]\nname = \"x\"\n",
		"credential key in head":    "credential.name = \"x\"\n" + bigConfig(250, nil),
		"quoted header":             bigConfig(250, nil) + "[[\"credential\"]]\nname = \"q\"\n",
		"string not closed":         bigConfig(250, nil) + "name = \"x\n",
		"array not closed":          bigConfig(250, nil) + "scopes = [\n",
		"string not closed at end":  bigConfig(250, nil) + "x = '''\n",
	} {
		if parts := splitFile(text); parts != nil {
			t.Errorf("%s: split into %d parts", name, len(parts))
		}
	}
}

// TestSplitDecodesAsWhole: decoding a large file in parts gives what
// decoding it whole gives: the same config, or the same problems at the
// same lines (an unknown key in many parts reported once per line, a key
// left undecoded in one table but decoded in another not reported, the
// lines of type errors found after the part was parsed), and the same
// syntax error.
func TestSplitDecodesAsWhole(t *testing.T) {
	decodeBoth := func(t *testing.T, text string) (split, whole *Config, serr, werr error) {
		t.Helper()
		if splitFile(text) == nil {
			t.Fatal("the test's config is not split")
		}
		split, serr = (&decoder{det: newDetacher()}).run([]byte(text), "big.toml")
		whole, werr = (&decoder{det: newDetacher(), whole: true}).run([]byte(text), "big.toml")
		return
	}
	t.Run("valid", func(t *testing.T) {
		text := bigConfig(350, func(i int, table string) string {
			if i%7 == 0 {
				table = strings.Replace(table, "client_id = \"id\"", "client_id = \"id\"\nscopes = [\"a\", \"b\"]\nrefresh_token_file = \"/etc/rt\"\nrefresh_before = \"5m\"", 1)
			}
			return table
		})
		split, whole, serr, werr := decodeBoth(t, text)
		if serr != nil || werr != nil {
			t.Fatalf("split: %v\nwhole: %v", serr, werr)
		}
		if !reflect.DeepEqual(split, whole) {
			t.Error("the configs differ")
		}
	})
	t.Run("problems", func(t *testing.T) {
		text := bigConfig(350, func(i int, table string) string {
			add := func(s string) string {
				return strings.Replace(table, "client_id = \"id\"", "client_id = \"id\"\n"+s, 1)
			}
			switch i {
			case 5, 205, 206:
				return add("tpyo = 1")
			case 10:
				return add("refresh_token_file = \"/etc/rt\"")
			case 150: // its option key is not its grant's (unknown); credential 10 decodes it
				return add("grant = \"pasword\"\nrefresh_token_file = \"/etc/rt\"")
			case 260:
				return add("refresh_token_file = 7")
			case 270:
				return table + "  format = 7\n"
			case 300:
				return strings.Replace(table, "c300", "c010", 1)
			case 320:
				return strings.Replace(table, "name = \"c320\"\n", "", 1)
			case 330:
				return add("default_lifetime = \"forever\"")
			case 340:
				return add("scopes = 5")
			}
			return table
		})
		_, _, serr, werr := decodeBoth(t, text)
		if serr == nil || werr == nil || serr.Error() != werr.Error() {
			t.Fatalf("split:\n%v\nwhole:\n%v", serr, werr)
		}
		for _, want := range []string{`big.toml:2066: credential "c205": tpyo: unknown key`, `credential "c260": refresh_token_file: incompatible types`,
			`credential "c010": name: is used by more than one credential (also at big.toml:`, "credential[321]: name: is required"} {
			if !strings.Contains(serr.Error(), want) {
				t.Errorf("missing %q in:\n%v", want, serr)
			}
		}
	})
	t.Run("syntax error", func(t *testing.T) {
		text := bigConfig(350, func(i int, table string) string {
			if i == 250 {
				return table + "oops = \n"
			}
			return table
		})
		_, _, serr, werr := decodeBoth(t, text)
		if serr == nil || werr == nil || serr.Error() != werr.Error() || !strings.HasPrefix(serr.Error(), "big.toml:") {
			t.Fatalf("split: %v\nwhole: %v", serr, werr)
		}
	})
}
