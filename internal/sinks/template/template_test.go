package template_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/sinks"
	"github.com/tokend/tokend/internal/sinks/envfile"
	"github.com/tokend/tokend/internal/sinks/kinds"
)

// readmeExamples returns the [[credential.sink]] blocks of README's
// "Template sinks" section by the base name of their path, with path set to
// a file in dir and a template_file written into dir from the comment that
// shows its content.
func readmeExamples(t *testing.T, dir string) map[string]string {
	t.Helper()
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n### Template sinks\n")
	if !ok {
		t.Fatal("README has no Template sinks section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	out := map[string]string{}
	for _, m := range regexp.MustCompile("(?s)```toml\n(.*?)```").FindAllStringSubmatch(section, -1) {
		block := m[1]
		path := regexp.MustCompile(`(?m)^  path = "(.*)"$`).FindStringSubmatch(block)
		if path == nil {
			t.Fatalf("README example without a path:\n%s", block)
		}
		name := filepath.Base(path[1])
		block = strings.Replace(block, path[0], fmt.Sprintf("  path = %q", filepath.Join(dir, name)), 1)
		if tf := regexp.MustCompile(`(?m)^  template_file = "(.*)"$`).FindStringSubmatch(block); tf != nil {
			content := regexp.MustCompile(`(?m)^  # ` + regexp.QuoteMeta(tf[1]) + ":\n  # (.*)$").FindStringSubmatch(block)
			if content == nil {
				t.Fatalf("README example %s does not show its template file", name)
			}
			file := filepath.Join(dir, filepath.Base(tf[1]))
			if err := os.WriteFile(file, []byte(content[1]+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			block = strings.Replace(block, tf[0], fmt.Sprintf("  template_file = %q", file), 1)
		}
		out[name] = block
	}
	if len(out) != 4 {
		t.Fatalf("found %d examples in README's Template sinks section, want 4: %v", len(out), out)
	}
	return out
}

// example builds README's example that writes name and writes tok through
// it; it returns the file's path.
func example(t *testing.T, name string, tok sinks.Token) string {
	t.Helper()
	dir := t.TempDir()
	block, ok := readmeExamples(t, dir)[name]
	if !ok {
		t.Fatalf("README has no template example writing %s", name)
	}
	sk := buildTable(t, block)
	if err := sk.Write(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// build decodes one credential with one template sink (body: its keys
// after type) through the config, as tokend run does, and builds it.
func build(t *testing.T, body string) kinds.Sink {
	t.Helper()
	return buildTable(t, "  [[credential.sink]]\n  type = \"template\"\n  "+body+"\n")
}

// buildTable is build with the whole [[credential.sink]] table given.
func buildTable(t *testing.T, table string) kinds.Sink {
	t.Helper()
	cfg, err := config.Decode([]byte(`
[[credential]]
name = "app"
token_url = "http://127.0.0.1:1/token"
client_id = "c"
client_secret = "s"

` + table))
	if err != nil {
		t.Fatal(err)
	}
	sc := cfg.Credentials[0].Sinks[0]
	k, _ := kinds.Lookup(sc.Type)
	sk, err := k.Build(sc.Options, kinds.Env{Credential: "app"})
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

func token(at string) sinks.Token {
	return sinks.Token{Credential: "app", AccessToken: secret.New(at), TokenType: "Bearer", Scope: "read",
		ExpiresAt: time.Unix(1900000000, 0), Generation: 7,
		Extra: map[string]string{"api_host": "127.0.0.1", "instance_url": "https://eu1.example.com"}}
}

func writeWith(t *testing.T, tmpl string, tok sinks.Token) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out")
	sk := build(t, fmt.Sprintf("path = %q\n  template = %q", path, tmpl))
	if err := sk.Write(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	return path
}

// parseNetrc reads a .netrc as ftp/curl/Go's old net/netrc do: whitespace
// separated tokens, "machine NAME" starts an entry, then login/password.
func parseNetrc(t *testing.T, path string) map[string][2]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Split(bufio.ScanWords)
	out := map[string][2]string{}
	var machine string
	for sc.Scan() {
		switch sc.Text() {
		case "machine":
			sc.Scan()
			machine = sc.Text()
		case "login", "password":
			key := sc.Text()
			sc.Scan()
			e := out[machine]
			if key == "login" {
				e[0] = sc.Text()
			} else {
				e[1] = sc.Text()
			}
			out[machine] = e
		default:
			t.Fatalf("unexpected netrc token %q", sc.Text())
		}
	}
	return out
}

func TestNetrcExample(t *testing.T) {
	path := example(t, "netrc", token("at-netrc-1"))
	got := parseNetrc(t, path)
	if e := got["api.example.com"]; len(got) != 1 || e != [2]string{"oauth", "at-netrc-1"} {
		t.Fatalf("netrc entry = %v", got)
	}
}

// curlServer answers 200 only with the expected Authorization header.
func curlServer(t *testing.T, want string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != want {
			http.Error(w, "wrong token", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func runCurl(t *testing.T, args ...string) string {
	t.Helper()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatalf("curl is needed by this test: %v", err)
	}
	out, err := exec.Command(curl, append([]string{"-sS", "--fail", "--noproxy", "*"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("curl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestCurlConfigExample(t *testing.T) {
	tok := token(`at-"curl"\1`) // quotes and a backslash: the config's escaping must hold
	tok.TokenType = "bearer"    // sent as Bearer
	path := example(t, "curl.conf", tok)
	srv := curlServer(t, `Bearer at-"curl"\1`)
	if got := runCurl(t, "-K", path, srv.URL); got != "ok" {
		t.Fatalf("curl -K: %q", got)
	}
}

func TestHeaderFileExample(t *testing.T) {
	path := example(t, "auth-header", token("at-header-1"))
	srv := curlServer(t, "Bearer at-header-1")
	if got := runCurl(t, "-H", "@"+path, srv.URL); got != "ok" {
		t.Fatalf("curl -H @file: %q", got)
	}
}

func TestJSONConfigExample(t *testing.T) {
	tok := token("at-json-\"1\"\n")
	path := example(t, "api.json", tok)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		API struct {
			Token     string    `json:"token"`
			ExpiresAt time.Time `json:"expires_at"`
			Expires   int64     `json:"expires"`
		} `json:"api"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if doc.API.Token != "at-json-\"1\"\n" || doc.API.Expires != 1900000000 || !doc.API.ExpiresAt.Equal(time.Unix(1900000000, 0)) {
		t.Fatalf("decoded %+v", doc)
	}
}

// TestTemplateFileAndUnchangedContent: template_file is read at build; a
// sink built again (a restart, a reload) that renders what the file already
// holds leaves it (its inode) alone; a new token replaces it.
func TestTemplateFileAndUnchangedContent(t *testing.T) {
	dir := t.TempDir()
	tf, path := filepath.Join(dir, "t.tmpl"), filepath.Join(dir, "out")
	if err := os.WriteFile(tf, []byte("Authorization: {{ .Scheme }} {{ .AccessToken }}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf("path = %q\n  template_file = %q\n  mode = \"0640\"", path, tf)
	sk := build(t, body)
	if !strings.HasPrefix(sk.String(), "template:") {
		t.Fatalf("name %q", sk.String())
	}
	for i, at := range []string{"at-1", "at-1", "at-2"} {
		before, _ := os.Stat(path)
		if i == 1 {
			sk = build(t, body) // a restart
		}
		if err := sk.Write(context.Background(), token(at)); err != nil {
			t.Fatal(err)
		}
		after, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if after.Mode().Perm() != 0o640 {
			t.Fatalf("mode %v", after.Mode().Perm())
		}
		if i == 1 && !os.SameFile(before, after) {
			t.Fatal("unchanged content was rewritten")
		}
		if i == 2 && os.SameFile(before, after) {
			t.Fatal("a new token did not replace the file")
		}
	}
	if data, _ := os.ReadFile(path); string(data) != "Authorization: Bearer at-2\n" {
		t.Fatalf("file %q", data)
	}
}

// TestBrokenTemplatesAreConfigErrors: validation parses and runs every
// template against a sample, naming the key and the template's line.
func TestBrokenTemplatesAreConfigErrors(t *testing.T) {
	dir := t.TempDir()
	tf := filepath.Join(dir, "bad.tmpl")
	if err := os.WriteFile(tf, []byte("line one\n{{ .AccessToken }}\n{{ .Nope }}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ body, want string }{
		{`template = "a\n{{ .AccessToken | nosuch }}"`, `sink[0].template: line 2: function "nosuch" not defined`},
		{`template = "ok\n\n{{ .AccesToken }}"`, `sink[0].template: line 3, column 3: at <.AccesToken>: can't evaluate field AccesToken`},
		{`template = "{{ if }}"`, `sink[0].template: line 1: missing value for if`},
		{`template = "{{ rfc3339 .Scope }}"`, `sink[0].template: line 1, column 11: at <.Scope>: wrong type for value; expected time.Time; got string`},
		{fmt.Sprintf(`template_file = %q`, tf), `sink[0].template_file: line 3, column 3: at <.Nope>: can't evaluate field Nope`},
		{fmt.Sprintf(`template_file = %q`, filepath.Join(dir, "missing")), `sink[0].template_file: reading the template:`},
		{fmt.Sprintf(`template = "x"`+"\n"+`  template_file = %q`, tf), `sink[0].template: set template or template_file, not both`},
		{``, `sink[0].template: is required (or template_file)`},
	}
	for _, c := range cases {
		_, err := config.Decode([]byte(fmt.Sprintf(`
[[credential]]
name = "app"
token_url = "http://127.0.0.1:1/token"
client_id = "c"
client_secret = "s"

  [[credential.sink]]
  type = "template"
  path = %q
  %s
`, filepath.Join(dir, "out"), c.body)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n got %v\nwant %s", c.body, err, c.want)
		}
	}
}

// TestRuntimeErrorsHoldNoToken: a missing .Extra key fails the write (no
// "<no value>" in the file), and an error that would quote a value has the
// token and the extra values redacted.
func TestRuntimeErrorsHoldNoToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out")
	sk := build(t, fmt.Sprintf("path = %q\n  template = %q", path, `{{ .Extra.missing }}`))
	if err := sk.Write(context.Background(), token("at-secret-value")); err == nil || !strings.Contains(err.Error(), `map has no entry for key "missing"`) {
		t.Fatalf("missing extra key: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("a failed render wrote the file")
	}
	sk = build(t, fmt.Sprintf("path = %q\n  template = %q", path, `{{ if ne .Generation 1 }}{{ env .AccessToken "x" }}{{ end }}`))
	err := sk.Write(context.Background(), token("at-secret-value"))
	if err == nil || strings.Contains(err.Error(), "at-secret-value") || !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("error %v", err)
	}
}

// TestFuncs: the escaping functions do what the README says.
func TestFuncs(t *testing.T) {
	tok := token("a'b c")
	for tmpl, want := range map[string]string{
		`{{ shell .AccessToken }}`:                    `'a'\''b c'`,
		`{{ env "APP_TOKEN" .AccessToken }}`:          envLine(t, "APP_TOKEN", "a'b c"),
		`{{ base64 .AccessToken }}`:                   `YSdiIGM=`,
		`{{ base64url "??>" }}`:                       `Pz8-`,
		`{{ quote .AccessToken }}`:                    `"a'b c"`,
		`{{ json .Generation }} {{ .Credential }}`:    `7 app`,
		`{{ rfc3339 .ExpiresAt }} {{ upper .Scope }}`: `2030-03-17T17:46:40Z READ`,
	} {
		data, err := os.ReadFile(writeWith(t, tmpl, tok))
		if err != nil || string(data) != want {
			t.Errorf("%s = %q (%v), want %q", tmpl, data, err, want)
		}
	}
}

func envLine(t *testing.T, name, value string) string {
	line, err := envfile.Encode(name, value)
	if err != nil {
		t.Fatal(err)
	}
	return line
}
