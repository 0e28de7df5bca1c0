package testkit

import (
	"fmt"
	"strings"
)

// Config builds the text of a tokend.toml for tests: the [state] table, the
// optional [status] and [scheduler] keys, then one [[credential]] table per
// Credential, in order. Empty fields are left out, so tokend's defaults
// apply. Values are written as quoted TOML strings; the text is laid out
// the way hand-written fixtures are (each credential starts with
// "[[credential]]\nname = ...", sink keys are indented by two spaces), so
// tests may still edit it with strings.Replace.
type Config struct {
	StateDir               string // [state] dir
	StateEncryptionKeyFile string // [state] encryption_key_file
	StatusListen           string // [status] listen
	ShutdownGrace          string // [scheduler] shutdown_grace, e.g. "5s"
	Credentials            []Credential
}

// Credential is one [[credential]] table.
type Credential struct {
	Name             string
	Grant            string // empty: tokend's default (refresh_token)
	TokenURL         string
	ClientID         string
	ClientSecret     string
	ClientSecretFile string
	RefreshTokenFile string
	AuthStyle        string
	Sinks            []Sink
}

// Sink is one [[credential.sink]] table.
type Sink struct {
	Type   string
	Path   string
	Format string
	Var    string
}

// TOML returns the config's text.
func (c Config) TOML() string {
	var b strings.Builder
	b.WriteString("[state]\n")
	key(&b, "", "dir", c.StateDir)
	key(&b, "", "encryption_key_file", c.StateEncryptionKeyFile)
	if c.StatusListen != "" {
		b.WriteString("[status]\n")
		key(&b, "", "listen", c.StatusListen)
	}
	if c.ShutdownGrace != "" {
		b.WriteString("[scheduler]\n")
		key(&b, "", "shutdown_grace", c.ShutdownGrace)
	}
	for _, cr := range c.Credentials {
		b.WriteString(cr.TOML())
	}
	return b.String()
}

// TOML returns the credential's [[credential]] table with its sinks,
// preceded by a blank line.
func (cr Credential) TOML() string {
	var b strings.Builder
	b.WriteString("\n[[credential]]\n")
	key(&b, "", "name", cr.Name)
	key(&b, "", "grant", cr.Grant)
	key(&b, "", "token_url", cr.TokenURL)
	key(&b, "", "client_id", cr.ClientID)
	key(&b, "", "client_secret", cr.ClientSecret)
	key(&b, "", "client_secret_file", cr.ClientSecretFile)
	key(&b, "", "refresh_token_file", cr.RefreshTokenFile)
	key(&b, "", "auth_style", cr.AuthStyle)
	for _, s := range cr.Sinks {
		b.WriteString("  [[credential.sink]]\n")
		key(&b, "  ", "type", s.Type)
		key(&b, "  ", "path", s.Path)
		key(&b, "  ", "format", s.Format)
		key(&b, "  ", "var", s.Var)
	}
	return b.String()
}

// key writes `k = "v"` when v is set.
func key(b *strings.Builder, indent, k, v string) {
	if v != "" {
		fmt.Fprintf(b, "%s%s = %q\n", indent, k, v)
	}
}
