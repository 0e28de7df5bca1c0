package grants

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/secret"
)

func validConfig() Config {
	return Config{Name: "apicbase-prod", Grant: GrantRefreshToken, TokenURL: "https://api.example/oauth/token/", ClientID: "id"}
}

func TestNewTokenURLRules(t *testing.T) {
	tests := []struct {
		url      string
		insecure bool
		ok       bool
	}{
		{"https://api.example/token", false, true},
		{"https://203.0.113.9:8443/token", false, true},
		{"http://127.0.0.1:8080/token", false, true},
		{"http://127.5.6.7/token", false, true},
		{"http://[::1]:9000/token", false, true},
		{"http://localhost/token", false, true},
		{"http://LOCALHOST:1/token", false, true},
		{"http://api.example/token", false, false},
		{"http://api.example/token", true, true},
		{"http://128.0.0.1/token", false, false},
		{"http://localhost.evil.example/token", false, false},
		{"http://127.0.0.1.nip.io/token", false, false},
		{"http://[::2]/token", false, false},
		{"http://0.0.0.0/token", false, false},
		{"ftp://api.example/token", false, false},
		{"/oauth/token", false, false},
		{"api.example/token", false, false},
		{"https://", false, false},
		{"https://user:pw@api.example/token", false, false},
		{"", false, false},
		{"https://api.example/%zz", false, false},
	}
	for _, tt := range tests {
		cfg := validConfig()
		cfg.TokenURL, cfg.AllowInsecureHTTP = tt.url, tt.insecure
		c, err := New(cfg)
		if (err == nil) != tt.ok {
			t.Errorf("New(%q, insecure=%v) err = %v, want ok=%v", tt.url, tt.insecure, err, tt.ok)
			continue
		}
		if err != nil {
			if !strings.Contains(err.Error(), `credential "apicbase-prod"`) {
				t.Errorf("error %q does not name the credential", err)
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Errorf("error %q echoes URL credentials", err)
			}
		} else if c == nil {
			t.Errorf("New(%q) returned nil client", tt.url)
		}
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"empty grant", func(c *Config) { c.Grant = "" }, "unknown grant"},
		{"unknown grant", func(c *Config) { c.Grant = "password" }, "unknown grant"},
		{"unknown auth style", func(c *Config) { c.AuthStyle = "jwt" }, "unknown auth style"},
		{"unknown body", func(c *Config) { c.Body = "xml" }, "unknown body format"},
		{"negative default lifetime", func(c *Config) { c.DefaultLifetime = -time.Second }, "must not be negative"},
		{"scope with space", func(c *Config) { c.Scopes = []string{"a b"} }, "scope"},
		{"empty scope", func(c *Config) { c.Scopes = []string{""} }, "scope"},
		{"param overrides grant_type", func(c *Config) { c.Params = map[string]string{"grant_type": "password"} }, `"grant_type"`},
		{"param sends secret twice", func(c *Config) { c.Params = map[string]string{"client_secret": "x"} }, `"client_secret"`},
		{"param refresh_token", func(c *Config) { c.Params = map[string]string{"refresh_token": "x"} }, `"refresh_token"`},
		{"param client_id with post", func(c *Config) {
			c.AuthStyle = AuthPost
			c.Params = map[string]string{"client_id": "x"}
		}, `"client_id"`},
		{"param scope with scopes", func(c *Config) {
			c.Scopes = []string{"a"}
			c.Params = map[string]string{"scope": "b"}
		}, `"scope"`},
		{"empty param name", func(c *Config) { c.Params = map[string]string{"": "x"} }, "param names"},
		{"authorization header with basic", func(c *Config) { c.Headers = map[string]string{"authorization": "Bearer x"} }, `"authorization"`},
		{"content-type header", func(c *Config) { c.Headers = map[string]string{"Content-Type": "text/xml"} }, `"Content-Type"`},
		{"bad header name", func(c *Config) { c.Headers = map[string]string{"bad header": "x"} }, "not a valid HTTP field name"},
		{"header value with newline", func(c *Config) { c.Headers = map[string]string{"X-Key": "a\r\nInjected: 1"} }, "control characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.edit(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `credential "apicbase-prod"`) {
				t.Fatalf("err = %v, want it to mention %s and the credential", err, tt.want)
			}
			if verr := Validate(cfg); verr == nil || verr.Error() != err.Error() {
				t.Fatalf("Validate = %v; want New's error %v", verr, err)
			}
		})
	}
}

func TestNewReportsAllProblemsWithoutSecrets(t *testing.T) {
	cfg := validConfig()
	cfg.TokenURL = "http://api.example/token"
	cfg.Grant = "nope"
	cfg.ClientSecret = secret.New("super-secret-value")
	cfg.Headers = map[string]string{"X-Api-Key": "header-key-value\n"}
	_, err := New(cfg)
	if err == nil {
		t.Fatal("want error")
	}
	for _, want := range []string{"http://", "unknown grant", "control characters"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	for _, leak := range []string{"super-secret-value", "header-key-value"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error %q leaks %q", err, leak)
		}
	}
}

func TestNewAllowsWhatConfigValidatesLater(t *testing.T) {
	// Config validates before secrets are resolved: no id or secret is fine here.
	for _, style := range []AuthStyle{AuthBasic, AuthPost, AuthNone, AuthBasicRaw} {
		cfg := validConfig()
		cfg.ClientID, cfg.AuthStyle = "", style
		if _, err := New(cfg); err != nil {
			t.Errorf("%s: %v", style, err)
		}
		if err := Validate(cfg); err != nil {
			t.Errorf("Validate %s: %v", style, err)
		}
	}
	cfg := validConfig()
	cfg.AuthStyle = AuthPost
	cfg.Headers = map[string]string{"Authorization": "Token abc"} // no auth header of ours to clash with
	if _, err := New(cfg); err != nil {
		t.Errorf("custom Authorization with post: %v", err)
	}
}

func TestConfigCopyAndDefaults(t *testing.T) {
	cfg := validConfig()
	cfg.Scopes = []string{"a"}
	cfg.Params = map[string]string{"p": "1"}
	cfg.Headers = map[string]string{"X-H": "1"}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Scopes[0], cfg.Params["p"], cfg.Headers["X-H"] = "changed", "changed", "changed"
	got := c.Config()
	if got.Scopes[0] != "a" || got.Params["p"] != "1" || got.Headers["X-H"] != "1" {
		t.Errorf("client config aliased the caller's: %+v", got)
	}
	got.Scopes[0], got.Params["p"] = "changed", "changed"
	if again := c.Config(); again.Scopes[0] != "a" || again.Params["p"] != "1" {
		t.Errorf("Config() returned internal state: %+v", again)
	}
	if got.AuthStyle != AuthBasic || got.Body != BodyForm || got.Name != "apicbase-prod" {
		t.Errorf("defaults not filled: %+v", got)
	}
}

func TestDefaultHTTPClient(t *testing.T) {
	c, err := New(validConfig())
	if err != nil {
		t.Fatal(err)
	}
	if c.http.Timeout != 30*time.Second {
		t.Errorf("timeout = %v", c.http.Timeout)
	}
	if c.http.CheckRedirect == nil || !errors.Is(c.http.CheckRedirect(nil, nil), http.ErrUseLastResponse) {
		t.Error("default client follows redirects")
	}
	tr, ok := c.http.Transport.(*http.Transport)
	if !ok || tr == http.DefaultTransport || (tr.TLSClientConfig != nil && tr.TLSClientConfig.InsecureSkipVerify) {
		t.Error("default client must own a transport with TLS verification on")
	}
	own := &http.Client{}
	cfg := validConfig()
	cfg.HTTPClient = own
	if c2, _ := New(cfg); c2.http != own {
		t.Error("HTTPClient not used")
	}
}
