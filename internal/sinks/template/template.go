// Package template is the sink that renders a Go text/template with a
// credential's token and writes the result to a file of its own, for
// consumers that want their own shape: a .netrc, a curl -K config, an
// Authorization header file, an application's JSON config. The file is
// written like every file sink (internal/sinks/file: atomic, fsync'd, 0600
// by default, unchanged content not rewritten).
//
// A template sees Data and a small set of functions (Funcs) that neither
// read files nor the environment. It runs with missingkey=error, so an
// .Extra field the response did not carry fails the write instead of
// writing "<no value>". Errors never hold the token: a template error that
// quotes a value has the token and the extra fields redacted.
package template

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/tokend/tokend/internal/sinks"
	"github.com/tokend/tokend/internal/sinks/envfile"
)

// Data is what a template sees as dot.
type Data struct {
	AccessToken   string            // the bearer value
	TokenType     string            // as the provider sent it; "Bearer" when it sent none
	Scheme        string            // the Authorization scheme: "Bearer" for any spelling of bearer (sinks.AuthScheme)
	ExpiresAt     time.Time         // zero when the provider gave no expiry
	ExpiresAtUnix int64             // ExpiresAt in Unix seconds; 0 when zero
	Scope         string            // space-separated, as granted
	Generation    uint64            // increases by one on every refresh
	Credential    string            // the credential's name
	Extra         map[string]string // the response fields the credential keeps (never nil)
}

// DataOf is tok as a template sees it.
func DataOf(tok sinks.Token) Data {
	d := Data{AccessToken: tok.AccessToken.Reveal(), TokenType: tok.TokenType, Scheme: sinks.AuthScheme(tok.TokenType), ExpiresAt: tok.ExpiresAt.UTC(),
		Scope: tok.Scope, Generation: tok.Generation, Credential: tok.Credential, Extra: tok.Extra}
	if d.TokenType == "" {
		d.TokenType = "Bearer"
	}
	if !tok.ExpiresAt.IsZero() {
		d.ExpiresAtUnix = tok.ExpiresAt.Unix()
	}
	if d.Extra == nil {
		d.Extra = map[string]string{}
	}
	return d
}

// Funcs are the functions a template may call besides text/template's
// built-ins. None reads a file or the environment.
//
//	json v          v as JSON (a string becomes a quoted JSON string)
//	quote s         s as a Go/C-style double-quoted string
//	base64 s        standard base64 of s; base64url: URL-safe, unpadded
//	shell s         s single-quoted for a POSIX shell
//	env NAME s      the env-file line NAME=s (quoted as systemd and docker read it)
//	rfc3339 t       t in RFC 3339, UTC
//	lower, upper, trim
func Funcs() template.FuncMap {
	return template.FuncMap{
		"json": func(v any) (string, error) {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(v); err != nil {
				return "", errors.New("json: value cannot be encoded")
			}
			return strings.TrimSuffix(buf.String(), "\n"), nil
		},
		"quote":     strconv.Quote,
		"base64":    func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		"base64url": func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) },
		"shell":     func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" },
		"env":       envfile.Encode,
		"rfc3339":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"lower":     strings.ToLower,
		"upper":     strings.ToUpper,
		"trim":      strings.TrimSpace,
	}
}

// Parse parses text as the template named name (its file path, or
// "template" for an inline one), with Funcs and missingkey=error. Errors
// say the line: "line 2: function \"foo\" not defined".
func Parse(name, text string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(Funcs()).Parse(text)
	if err != nil {
		return nil, tidy(name, err)
	}
	return t, nil
}

// Sample is the value Check renders a template with.
func Sample(credential string) sinks.Token {
	return sinks.Token{Credential: credential, TokenType: "Bearer", Scope: "read write", Generation: 1,
		ExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// Check executes t against Sample, so a field or function that does not
// exist, or a function given the wrong type, is found before the first
// refresh. .Extra keys cannot be known in advance: a missing one renders
// empty here (at run time it fails the write).
func Check(t *template.Template) error {
	c, err := t.Clone()
	if err != nil {
		return tidy(t.Name(), err)
	}
	c.Option("missingkey=zero")
	d := DataOf(Sample("credential"))
	d.AccessToken = "sample-access-token"
	if err := c.Execute(&bytes.Buffer{}, d); err != nil {
		return tidy(t.Name(), err)
	}
	return nil
}

// Render executes t with tok. An error has the token and the extra
// fields' values redacted.
func Render(t *template.Template, tok sinks.Token) ([]byte, error) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, DataOf(tok)); err != nil {
		msg := tidy(t.Name(), err).Error()
		msg = redact(msg, tok.AccessToken.Reveal())
		for _, v := range tok.Extra {
			msg = redact(msg, v)
		}
		return nil, errors.New(msg)
	}
	return buf.Bytes(), nil
}

func redact(msg, value string) string {
	if len(value) < 4 {
		return msg
	}
	return strings.ReplaceAll(msg, value, "[redacted]")
}

// posRE is text/template's error prefix: "template: NAME:LINE:" or
// "template: NAME:LINE:COL:".
var posRE = regexp.MustCompile(`^template: .*?:(\d+)(?::(\d+))?: `)

// tidy rewrites text/template's "template: NAME:3:7: executing \"NAME\" at
// <.X>: msg" as "line 3, column 7: at <.X>: msg".
func tidy(name string, err error) error {
	msg := err.Error()
	m := posRE.FindStringSubmatchIndex(msg)
	if m == nil || !strings.HasPrefix(msg, "template: "+name+":") {
		return fmt.Errorf("%s", strings.TrimPrefix(msg, "template: "))
	}
	pos := "line " + msg[m[2]:m[3]]
	if m[4] >= 0 {
		pos += ", column " + msg[m[4]:m[5]]
	}
	rest := strings.TrimPrefix(msg[m[1]:], fmt.Sprintf("executing %q ", name))
	return fmt.Errorf("%s: %s", pos, rest)
}
