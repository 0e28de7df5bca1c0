package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

const proxyCred = `
[status]
listen = "127.0.0.1:9464"

[[credential]]
name = "app"
token_url = "https://auth.example.com/token"
client_id = "c"
client_secret = "s"
`

func TestProxyKeys(t *testing.T) {
	ok := proxyCred + `
  [[credential.proxy]]
  listen = "127.0.0.1:8081"
  upstream = "https://api.example.com/base"

  [[credential.proxy]]
  listen = "unix:/run/tokend/app.sock"
  upstream = "http://127.0.0.1:9000"

  [[credential.proxy]]
  listen = "0.0.0.0:8082"
  upstream = "https://api.example.com"
  allow_remote = true
`
	cfg, err := Decode([]byte(ok))
	if err != nil {
		t.Fatalf("valid proxies (and no sink) refused: %v", err)
	}
	if p := cfg.Credentials[0].Proxies; len(p) != 3 || p[0] != (Proxy{Listen: "127.0.0.1:8081", Upstream: "https://api.example.com/base"}) || !p[2].AllowRemote {
		t.Fatalf("decoded %+v", p)
	}

	for body, want := range map[string]string{
		`listen = "0.0.0.0:8081"` + "\n  upstream = \"https://a.example\"":   `proxy[0].listen: 0.0.0.0:8081 is not a loopback address or unix socket`,
		`listen = "10.0.0.1:8081"` + "\n  upstream = \"https://a.example\"":  `proxy[0].listen: 10.0.0.1:8081 is not a loopback`,
		`listen = "127.0.0.1:9464"` + "\n  upstream = \"https://a.example\"": `proxy[0].listen: 127.0.0.1:9464 is already used by status.listen`,
		`listen = "relative.sock"` + "\n  upstream = \"https://a.example\"":  `proxy[0].listen: "relative.sock" is neither host:port nor unix:/path`,
		`listen = "127.0.0.1:1"`: `proxy[0].upstream: is required`,
		`listen = "127.0.0.1:1"` + "\n  upstream = \"http://api.example.com\"":                                 `proxy[0].upstream: http:// sends the token in clear text`,
		`listen = "127.0.0.1:1"` + "\n  upstream = \"ftp://api.example.com\"":                                  `proxy[0].upstream: "ftp://api.example.com" is not an http(s) URL`,
		`listen = "127.0.0.1:1"` + "\n  upstream = \"https://u:p@a.example\"":                                  `proxy[0].upstream: must not carry credentials`,
		`listen = "127.0.0.1:1"` + "\n  upstream = \"https://a.example\"\n  ca_file = \"/nonexistent/ca.pem\"": `proxy[0].ca_file: stat /nonexistent/ca.pem`,
		`listen = "127.0.0.1:1"` + "\n  upstream = \"https://a.example\"\n  colour = 1":                        `credential.proxy.colour: unknown key`,
	} {
		_, err := Decode([]byte(proxyCred + "  [[credential.proxy]]\n  " + body + "\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got %v\nwant %s", body, err, want)
		}
	}

	// Two proxies on one address, across credentials.
	_, err = Decode([]byte(proxyCred + `
  [[credential.proxy]]
  listen = "127.0.0.1:8081"
  upstream = "https://a.example"

[[credential]]
name = "other"
token_url = "https://auth.example.com/token"
client_id = "c"
client_secret = "s"
  [[credential.proxy]]
  listen = "127.0.0.1:8081"
  upstream = "https://b.example"
`))
	if err == nil || !strings.Contains(err.Error(), `credential "other".proxy[0].listen: 127.0.0.1:8081 is already used by credential "app".proxy[0]`) {
		t.Fatalf("duplicate listen: %v", err)
	}
	// Neither a sink nor a proxy.
	if _, err := Decode([]byte(proxyCred)); err == nil || !strings.Contains(err.Error(), "at least one [[credential.sink]] is required (or a [[credential.proxy]])") {
		t.Fatalf("no sink nor proxy: %v", err)
	}
}

// TestShippedTemplateAndProxyExamples: the commented template sink and
// proxy of tokend.toml are valid once uncommented.
func TestShippedTemplateAndProxyExamples(t *testing.T) {
	data, err := os.ReadFile("../../tokend.toml")
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for _, kind := range []string{"sink", "proxy"} {
		m := regexp.MustCompile(`(?m)^  # \[\[credential\.`+kind+`\]\]\n((?:  # .*\n)+)`).FindAllStringSubmatch(string(data), -1)
		for _, b := range m {
			if strings.Contains(b[1], `type = "template"`) || kind == "proxy" {
				lines := []string{"  [[credential." + kind + "]]"}
				for _, l := range strings.Split(strings.TrimRight(b[1], "\n"), "\n") {
					lines = append(lines, "  "+strings.TrimPrefix(l, "  # "))
				}
				tables = append(tables, strings.Join(lines, "\n"))
			}
		}
	}
	if len(tables) != 2 {
		t.Fatalf("found %d commented template/proxy examples in tokend.toml, want 2", len(tables))
	}
	doc := proxyCred + strings.Join(tables, "\n") + "\n"
	if _, err := Decode([]byte(doc)); err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
}
