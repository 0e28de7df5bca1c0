package config

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// credTOML is one valid [[credential]] table named name.
func credTOML(name string) string {
	return `[[credential]]
name = "` + name + `"
token_url = "https://idp.example/token"
client_id = "id"
client_secret_env = "S"

  [[credential.sink]]
  type = "file"
  path = "/run/tokend/` + name + `.json"
`
}

// writeConfig writes files (relative path -> content) under a new
// directory and returns the path of its tokend.toml.
func writeConfig(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "tokend.toml")
}

func credNames(cfg *Config) []string {
	var out []string
	for _, c := range cfg.Credentials {
		out = append(out, c.Name)
	}
	return out
}

// TestIncludeReadsMatchesInOrder: the main file's credentials first, then
// each pattern's files in lexical order, each file once; a pattern that
// matches nothing is fine.
func TestIncludeReadsMatchesInOrder(t *testing.T) {
	path := writeConfig(t, map[string]string{
		"tokend.toml":       "include = [\"conf.d/*.toml\", \"none/*.toml\", \"conf.d/b.toml\", \"extra.toml\"]\n[state]\ndir = \"/tmp/x\"\n" + credTOML("main"),
		"conf.d/b.toml":     credTOML("b1") + credTOML("b2"),
		"conf.d/a.toml":     credTOML("a"),
		"conf.d/skip.conf":  "not toml at all [",
		"extra.toml":        credTOML("extra"),
		"conf.d/empty.toml": "# nothing here yet\n",
	})
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := credNames(cfg), []string{"main", "a", "b1", "b2", "extra"}; !slices.Equal(got, want) {
		t.Errorf("credentials = %v, want %v", got, want)
	}
	dir := filepath.Dir(path)
	want := []string{filepath.Join(dir, "conf.d/a.toml"), filepath.Join(dir, "conf.d/b.toml"), filepath.Join(dir, "conf.d/empty.toml"), filepath.Join(dir, "extra.toml")}
	if !slices.Equal(cfg.Includes, want) {
		t.Errorf("Includes = %v, want %v", cfg.Includes, want)
	}
	if cfg.Credentials[1].Sinks[0].Options == nil || cfg.State.Dir != "/tmp/x" {
		t.Errorf("included credential not decoded whole: %+v", cfg.Credentials[1])
	}
}

// TestIncludeOneString: include may be one pattern; the main file, matched
// by its own pattern, is not read twice.
func TestIncludeOneString(t *testing.T) {
	path := writeConfig(t, map[string]string{
		"tokend.toml": "include = \"*.toml\"\n" + credTOML("main"),
		"z.toml":      credTOML("z"),
	})
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := credNames(cfg); !slices.Equal(got, []string{"main", "z"}) {
		t.Errorf("credentials = %v", got)
	}
}

// TestIncludeProblemsNameTheirFile: a problem of an included credential
// names the included file and its line there, a credential without a name
// by its place in that file; problems are listed file by file.
func TestIncludeProblemsNameTheirFile(t *testing.T) {
	path := writeConfig(t, map[string]string{
		"tokend.toml": "include = [\"conf.d/*.toml\"]\n" + strings.Replace(credTOML("main"), "\n\n", "\nrefresh_befor = \"1m\"\n\n", 1),
		"conf.d/a.toml": credTOML("ok") + `
[[credential]]
name = "bad"
token_url = "https://idp.example/token"
client_id = "id"
client_secret_env = "S"
refresh_before = "soon"
tpyo = 1

  [[credential.sink]]
  type = "ftp"

[[credential]]
token_url = "https://idp.example/token"
`,
	})
	_, err := Load(path)
	a := filepath.Join(filepath.Dir(path), "conf.d", "a.toml")
	want := []string{
		path + `:7: credential "main": refresh_befor: unknown key (did you mean "refresh_before"?)`,
		a + `:16: credential "bad": refresh_before: invalid duration "soon" (use e.g. "90s", "10m", "1h")`,
		a + `:17: credential "bad": tpyo: unknown key`,
		a + `:20: credential "bad": sink[1].type: unknown sink type "ftp" (file, envfile, template or vault)`,
		a + `:22: credential[3]: name: is required`,
	}
	var got []string
	for _, p := range Problems(err) {
		got = append(got, p.Error())
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, strings.Join(got, "\n"))
		}
	}
	if i, j := slices.Index(got, want[0]), slices.Index(got, want[1]); i > j {
		t.Errorf("the main file's problems are not listed first:\n%s", strings.Join(got, "\n"))
	}
}

// TestIncludeDuplicateNameNamesBothPlaces: the same credential name in two
// files (or twice in one) is one problem at the second, naming the first.
func TestIncludeDuplicateNameNamesBothPlaces(t *testing.T) {
	path := writeConfig(t, map[string]string{
		"tokend.toml":   "include = \"conf.d/*.toml\"\n" + credTOML("x"),
		"conf.d/a.toml": "\n" + credTOML("y") + credTOML("x") + credTOML("y"),
	})
	_, err := Load(path)
	a := filepath.Join(filepath.Dir(path), "conf.d", "a.toml")
	var got []string
	for _, p := range Problems(err) {
		if strings.Contains(p.Error(), "name: ") { // not the sinks' paths, the same for the same name
			got = append(got, p.Error())
		}
	}
	want := []string{
		a + `:12: credential "x": name: is used by more than one credential (also at ` + path + `:3)`,
		a + `:21: credential "y": name: is used by more than one credential (also at ` + a + `:3)`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestIncludedFileHoldsCredentialsOnly: the top-level tables and include
// stay in the main file (includes do not nest); each is a problem at its
// line in the included file, and the nested include is not followed.
func TestIncludedFileHoldsCredentialsOnly(t *testing.T) {
	path := writeConfig(t, map[string]string{
		"tokend.toml":   "include = \"conf.d/*.toml\"\n" + credTOML("main"),
		"conf.d/a.toml": "include = \"more/*.toml\"\n[scheduler]\nmax_concurrent = 2\n\n" + credTOML("a"),
		"more/b.toml":   credTOML("b"),
		"conf.d/c.toml": "colour = 1\n" + credTOML("c"),
	})
	_, err := Load(path)
	dir := filepath.Dir(path)
	a, c := filepath.Join(dir, "conf.d", "a.toml"), filepath.Join(dir, "conf.d", "c.toml")
	var got []string
	for _, p := range Problems(err) {
		got = append(got, p.Error())
	}
	want := []string{
		a + ":1: include: includes do not nest: only the main config file may include files",
		a + ":2: scheduler: only [[credential]] tables may be in an included file: set scheduler in the main config file",
		c + ":1: colour: unknown key",
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestIncludeSyntaxError: a file that does not parse stops the load, named
// with its line, as the main file does.
func TestIncludeSyntaxError(t *testing.T) {
	path := writeConfig(t, map[string]string{
		"tokend.toml":   "include = \"conf.d/*.toml\"\n" + credTOML("main"),
		"conf.d/a.toml": credTOML("a") + "client_id = \n",
	})
	_, err := Load(path)
	a := filepath.Join(filepath.Dir(path), "conf.d", "a.toml")
	if ps := Problems(err); len(ps) != 1 || !strings.HasPrefix(ps[0].Error(), a+":10: ") {
		t.Errorf("err = %v", err)
	}
}

// TestIncludeBadValues: include must be a string or strings; a bad
// pattern and an unreadable match are problems of include; bytes
// (Decode) have no directory to include from.
func TestIncludeBadValues(t *testing.T) {
	for _, tc := range []struct{ include, want string }{
		{"includes = \"a\"", `:1: includes: unknown key (did you mean "include"?)`},
		{"include = 7", ":1: include: must be a string or an array of strings (glob patterns), not int64"},
		{"include = [\"a\", 1]", ":1: include: must be a string or an array of strings (glob patterns), not an array holding int64"},
		{"include = \"[\"", `:1: include: pattern "`},
		{"include = \"dir\"", ":1: include: read "},
	} {
		path := writeConfig(t, map[string]string{"tokend.toml": tc.include + "\n" + credTOML("main"), "dir/x": ""})
		_, err := Load(path)
		if ps := Problems(err); len(ps) != 1 || !strings.HasPrefix(ps[0].Error(), path+tc.want) {
			t.Errorf("%s: err = %v, want %s%s", tc.include, err, path, tc.want)
		}
	}
	_, err := Decode([]byte("include = \"conf.d/*.toml\"\n" + credTOML("main")))
	if ps := Problems(err); len(ps) != 1 || ps[0].Error() != "line 1: include: a config decoded from bytes has no directory to include files from (load it from a file)" {
		t.Errorf("Decode: err = %v", err)
	}
}

// TestIncludeReglobs: each Load globs again, so a reload (daemon.Reload
// calls Load) picks up a file added to conf.d and drops a removed one.
func TestIncludeReglobs(t *testing.T) {
	path := writeConfig(t, map[string]string{
		"tokend.toml":   "include = \"conf.d/*.toml\"\n" + credTOML("main"),
		"conf.d/a.toml": credTOML("a"),
	})
	dir := filepath.Join(filepath.Dir(path), "conf.d")
	if err := os.WriteFile(filepath.Join(dir, "b.toml"), []byte(credTOML("b")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil || !slices.Equal(credNames(cfg), []string{"main", "a", "b"}) {
		t.Fatalf("after adding b: %v, %v", cfg, err)
	}
	if err := os.Remove(filepath.Join(dir, "a.toml")); err != nil {
		t.Fatal(err)
	}
	cfg, err = Load(path)
	if err != nil || !slices.Equal(credNames(cfg), []string{"main", "b"}) {
		t.Fatalf("after removing a: %v, %v", cfg, err)
	}
}

// TestIncludeInlineSecretWarningNamesItsFile: an inline secret is warned
// about when the file that holds it is readable by others, naming that file.
func TestIncludeInlineSecretWarningNamesItsFile(t *testing.T) {
	path := writeConfig(t, map[string]string{
		"tokend.toml":   "include = \"conf.d/*.toml\"\n" + credTOML("main"),
		"conf.d/a.toml": strings.Replace(credTOML("a"), `client_secret_env = "S"`, `client_secret = "inline"`, 1),
	})
	a := filepath.Join(filepath.Dir(path), "conf.d", "a.toml")
	if err := os.Chmod(a, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := a + `:5: credential "a": client_secret: is inline in ` + a + `, which is readable by group/other (mode 0644)`
	if len(cfg.Warnings) != 1 || !strings.HasPrefix(cfg.Warnings[0], want) || strings.Contains(cfg.Warnings[0], "inline\"") {
		t.Errorf("warnings = %q, want one starting %q", cfg.Warnings, want)
	}
}

// TestIncludeREADMEExample loads README's include example as it is laid
// out there: the main file and one file in conf.d.
func TestIncludeREADMEExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n### `include`")
	if !ok {
		t.Fatal("README has no include section")
	}
	section, _, _ = strings.Cut(section, "\n### ")
	blocks := regexp.MustCompile("(?s)```toml\n(.*?)```").FindAllStringSubmatch(section, -1)
	if len(blocks) != 2 || !strings.HasPrefix(blocks[0][1], "# /etc/tokend/tokend.toml\n") || !strings.HasPrefix(blocks[1][1], "# /etc/tokend/conf.d/billing.toml\n") {
		t.Fatalf("want the main file's and conf.d/billing.toml's blocks, found %d", len(blocks))
	}
	path := writeConfig(t, map[string]string{"tokend.toml": blocks[0][1], "conf.d/billing.toml": blocks[1][1]})
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := credNames(cfg); !slices.Equal(got, []string{"billing"}) || len(cfg.Includes) != 1 {
		t.Errorf("credentials %v from %v", got, cfg.Includes)
	}
}
