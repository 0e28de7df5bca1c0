package config

import (
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/sinks/kinds"
)

const sinkBase = `
[vault]
address = "https://vault.example:8200"

[[credential]]
name = "a"
token_url = "https://auth.example/token"
client_id = "c"
client_secret_env = "S"
`

// problems splits Decode's joined error into its problems.
func problems(t *testing.T, doc string) []string {
	t.Helper()
	_, err := Decode([]byte(doc))
	if err == nil {
		t.Fatal("config accepted")
	}
	var out []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		out = append(out, e.Error())
	}
	return out
}

func TestUnknownSinkTypeIsOneError(t *testing.T) {
	got := problems(t, sinkBase+`
  [[credential.sink]]
  type = "ftp"
  path = "/run/x"
  var = "X"
  tpyo = 1
  fields = { access_token = "t" }
`)
	if len(got) != 1 || !strings.Contains(got[0], `credential "a".sink[0].type: unknown sink type "ftp"`) {
		t.Fatalf("want one error for the type, got %q", got)
	}
	for _, k := range kinds.All() {
		if !strings.Contains(got[0], k.Name) {
			t.Errorf("%q does not name the kind %q", got[0], k.Name)
		}
	}
	if got := problems(t, sinkBase+"  [[credential.sink]]\n  path = \"/run/x\"\n"); len(got) != 1 ||
		!strings.Contains(got[0], "sink[0].type: is required (file, envfile, template or vault)") {
		t.Fatalf("missing type: %q", got)
	}
}

// TestSinkKeysAreCheckedPerTable: a key of another kind is an error on the
// sink that sets it even when another sink of the config uses it rightly,
// and an unknown key is reported with its line.
func TestSinkKeysAreCheckedPerTable(t *testing.T) {
	got := strings.Join(problems(t, sinkBase+`
  [[credential.sink]]
  type = "envfile"
  path = "/run/t.env"
  var = "A"
  [[credential.sink]]
  type = "file"
  path = "/run/a"
  format = "json"
  var = "B"
  [[credential.sink]]
  type = "vault"
  path = "tokend/a"
  mode = "0600"
  on_change = ["true"]
  [[credential.sink]]
  type = "file"
  path = "/run/b"
  colour = "blue"
`), "\n")
	for _, want := range []string{
		`credential "a".sink[1].var: is only used by envfile sinks`,
		`credential "a".sink[2].mode: is only used by file, envfile and template sinks`,
		`credential "a".sink[2].on_change: is only supported on file, envfile and template sinks`,
		"credential.sink.colour: unknown key (line 28)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	for _, wrong := range []string{"sink[0]", "sink[1].format", "sink[2].path", "sink[3].path"} {
		if strings.Contains(got, wrong) {
			t.Errorf("%s reported:\n%s", wrong, got)
		}
	}
}

// TestSinkValueOfWrongTypeNamesTheSink: a value the kind cannot decode is
// reported with the sink's key, among the config's other problems.
func TestSinkValueOfWrongTypeNamesTheSink(t *testing.T) {
	got := strings.Join(problems(t, sinkBase+`
  [[credential.sink]]
  type = "vault"
  path = "tokend/a"
  kv_version = "two"
  [[credential.sink]]
  type = "file"
  path = "/run/a"
  format = "xml"
`), "\n")
	for _, want := range []string{`credential "a".sink[0]: `, "kv_version", `credential "a".sink[1].format: unknown format "xml"`} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}
