package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestProviderExamplesAreValid decodes every config block of README's
// "Providers" section and the commented preset examples at the end of
// tokend.toml, so the documentation cannot drift from the code.
func TestProviderExamplesAreValid(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start := strings.Index(section, "\n## Providers\n")
	if start < 0 {
		t.Fatal("README has no Providers section")
	}
	section = section[start:]
	if end := strings.Index(section[1:], "\n## "); end >= 0 {
		section = section[:end+1]
	}
	blocks := regexp.MustCompile("(?s)```toml\n(.*?)```").FindAllStringSubmatch(section, -1)
	if len(blocks) != 14 {
		t.Fatalf("found %d toml blocks in README's Providers section, want one per provider (14)", len(blocks))
	}
	for _, b := range blocks {
		checkExample(t, "README", b[1])
	}
	keyed := readmeSection(t, string(readme), "Credentials minted from keys")
	blocks = regexp.MustCompile("(?s)```toml\n(.*?)```").FindAllStringSubmatch(keyed, -1)
	if len(blocks) != 2 { // jwt_bearer and token_exchange; github_app's is under Providers
		t.Fatalf("found %d toml blocks in README's key-based grants section, want 2", len(blocks))
	}
	for _, b := range blocks {
		checkExample(t, "README", b[1])
	}

	example, err := os.ReadFile("../../tokend.toml")
	if err != nil {
		t.Fatal(err)
	}
	_, presets, ok := strings.Cut(string(example), "# --- provider presets")
	if !ok {
		t.Fatal("tokend.toml has no provider presets section")
	}
	var cur []string
	var examples []string
	for _, line := range strings.Split(presets, "\n") {
		switch {
		case strings.HasPrefix(line, "# [[credential]]"):
			if len(cur) > 0 {
				examples = append(examples, strings.Join(cur, "\n"))
			}
			cur = []string{"[[credential]]"}
		case len(cur) > 0 && (strings.HasPrefix(line, "# ") || line == "#"):
			if l := strings.TrimPrefix(strings.TrimPrefix(line, "#"), " "); tomlLine.MatchString(l) {
				cur = append(cur, l) // prose between the examples is left out
			}
		}
	}
	examples = append(examples, strings.Join(cur, "\n"))
	if len(examples) != 6 {
		t.Fatalf("found %d commented examples in tokend.toml, want 6", len(examples))
	}
	for _, ex := range examples {
		checkExample(t, "tokend.toml", ex)
	}
}

// tomlLine matches the lines of a commented-out example: tables, keys,
// comments and blank lines.
var tomlLine = regexp.MustCompile(`^\s*(\[|#|[a-z_]+\s*=|$)`)

func checkExample(t *testing.T, where, body string) {
	t.Helper()
	cfg, err := Decode([]byte("[state]\ndir = \"/tmp/tokend-example\"\n" + body))
	if err != nil {
		t.Errorf("%s example does not decode:\n%s\n%v", where, body, err)
		return
	}
	if len(cfg.Credentials) != 1 || noEndpoint(&cfg.Credentials[0]) {
		t.Errorf("%s example: %+v", where, cfg.Credentials)
	}
}

// TestClientAuthExamplesAreValid decodes every config block of README's
// "Client authentication" section and the commented key-based example of
// tokend.toml: each names its auth_style's keys correctly.
func TestClientAuthExamplesAreValid(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Client authentication\n")
	if !ok {
		t.Fatal("README has no Client authentication section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	blocks := regexp.MustCompile("(?s)```toml\n(.*?)```").FindAllStringSubmatch(section, -1)
	if len(blocks) != 4 {
		t.Fatalf("found %d toml blocks in README's Client authentication section, want one per key-based auth style (4)", len(blocks))
	}
	for _, b := range blocks {
		checkExample(t, "README", b[1])
	}
	example, err := os.ReadFile("../../tokend.toml")
	if err != nil {
		t.Fatal(err)
	}
	_, keyed, _ := strings.Cut(string(example), "# --- key-based client authentication")
	keyed, _, _ = strings.Cut(keyed, "# --- provider presets")
	var lines []string
	for _, line := range strings.Split(keyed, "\n") {
		if l := strings.TrimPrefix(strings.TrimPrefix(line, "#"), " "); strings.HasPrefix(line, "#") && tomlLine.MatchString(l) &&
			(len(lines) > 0 || strings.HasPrefix(l, "[[credential]]")) {
			lines = append(lines, l)
		}
	}
	if len(lines) < 10 || !strings.Contains(keyed, `auth_style = "private_key_jwt"`) {
		t.Fatalf("tokend.toml shows no key-based credential:\n%s", keyed)
	}
	checkExample(t, "tokend.toml", strings.Join(lines, "\n"))
}

// readmeSection is the text of README's "## name" section.
func readmeSection(t *testing.T, readme, name string) string {
	t.Helper()
	start := strings.Index(readme, "\n## "+name+"\n")
	if start < 0 {
		t.Fatalf("README has no %q section", name)
	}
	section := readme[start:]
	if end := strings.Index(section[1:], "\n## "); end >= 0 {
		section = section[:end+1]
	}
	return section
}

// noEndpoint reports whether cr has neither a token URL, an issuer nor one
// its grant derives (github_app, a service-account key).
func noEndpoint(cr *Credential) bool {
	return cr.TokenURL == "" && cr.Issuer == "" && cr.derivedTokenURL() == ""
}
