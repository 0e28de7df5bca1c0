package grants

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/tokend/tokend/internal/secret"
)

// GrantTokenExchange trades a subject token for a token of another kind,
// audience or resource (RFC 8693 §2): a Kubernetes service-account token
// for a cloud access token (workload identity federation), or another
// credential's access token for one scoped to a back end. There is no
// refresh token: tokend exchanges again before the issued token expires.
const GrantTokenExchange Grant = "token_exchange"

// TokenExchangeGrantType is the grant_type value of RFC 8693 §2.1.
const TokenExchangeGrantType = "urn:ietf:params:oauth:grant-type:token-exchange"

// Token type identifiers of RFC 8693 §3.
const (
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
)

// TokenExchangeOptions are the token_exchange grant's own keys.
type TokenExchangeOptions struct {
	// SubjectTokenFile is read afresh for every request (a projected
	// Kubernetes token is rotated under tokend's feet).
	SubjectTokenFile string `toml:"subject_token_file"`
	// SubjectCredential names another credential whose current access
	// token is the subject token.
	SubjectCredential string `toml:"subject_credential"`
	// SubjectTokenType defaults to ...:token-type:jwt for a file and
	// ...:token-type:access_token for a credential.
	SubjectTokenType   string `toml:"subject_token_type"`
	RequestedTokenType string `toml:"requested_token_type"`
	Audience           string `toml:"audience"`
	Resource           string `toml:"resource"`
	// ActorTokenFile (read afresh too) and ActorTokenType name the party
	// acting for the subject (RFC 8693 §1.1, delegation).
	ActorTokenFile string `toml:"actor_token_file"`
	ActorTokenType string `toml:"actor_token_type"`
}

// Defaults implements Options.
func (o *TokenExchangeOptions) Defaults() {
	if o.SubjectTokenType == "" {
		switch {
		case o.SubjectTokenFile != "":
			o.SubjectTokenType = TokenTypeJWT
		case o.SubjectCredential != "":
			o.SubjectTokenType = TokenTypeAccessToken
		}
	}
	if o.ActorTokenType == "" && o.ActorTokenFile != "" {
		o.ActorTokenType = TokenTypeJWT
	}
}

// Validate implements Options.
func (o *TokenExchangeOptions) Validate(bad func(field, format string, args ...any)) {
	if (o.SubjectTokenFile == "") == (o.SubjectCredential == "") {
		bad("subject_token_file", "set exactly one of subject_token_file and subject_credential")
	}
	for _, f := range []struct{ key, v string }{
		{"subject_token_type", o.SubjectTokenType}, {"requested_token_type", o.RequestedTokenType},
		{"actor_token_type", o.ActorTokenType}, {"resource", o.Resource},
	} {
		if f.v == "" {
			continue
		}
		if u, err := url.Parse(f.v); err != nil || !u.IsAbs() {
			bad(f.key, "must be an absolute URI (RFC 8693 §2.1)")
		}
	}
	if o.ActorTokenType != "" && o.ActorTokenFile == "" {
		bad("actor_token_type", "is only used with actor_token_file")
	}
}

// ResolveSecrets implements SecretOptions. The token files are read for
// every request, not kept; this only checks at start-up that they can be
// read, so a typo fails now and not at the first exchange.
func (o *TokenExchangeOptions) ResolveSecrets(read func(path string) (secret.Secret, error)) error {
	for _, p := range []string{o.SubjectTokenFile, o.ActorTokenFile} {
		if p == "" {
			continue
		}
		if _, err := read(p); err != nil {
			return fmt.Errorf("token exchange: %w", err)
		}
	}
	return nil
}

// SecretFiles implements SecretFiler: the subject and actor token files.
func (o *TokenExchangeOptions) SecretFiles() []string {
	var out []string
	for _, p := range []string{o.SubjectTokenFile, o.ActorTokenFile} {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Dependencies implements Dependent: the subject credential, if any.
func (o *TokenExchangeOptions) Dependencies() []string {
	if o.SubjectCredential == "" {
		return nil
	}
	return []string{o.SubjectCredential}
}

// Dependent is implemented by options whose grant needs other credentials'
// tokens (token_exchange's subject_credential): config checks that they
// exist and form no cycle; the daemon lends Config.CredentialToken.
type Dependent interface {
	Options
	Dependencies() []string
}

func tokenExchangeOptions(cfg *Config) *TokenExchangeOptions {
	if o, ok := cfg.GrantOptions.(*TokenExchangeOptions); ok && o != nil {
		return o
	}
	return &TokenExchangeOptions{}
}

// prepareTokenExchange fetches the subject credential's current access
// token through cfg.CredentialToken. Not having one yet (the subject
// credential has not been renewed, or its token expired) is transient: the
// scheduler retries with backoff.
func prepareTokenExchange(ctx context.Context, cfg *Config, in *GrantInput) *Error {
	o := tokenExchangeOptions(cfg)
	if o.SubjectCredential == "" {
		return nil
	}
	if cfg.CredentialToken == nil {
		return &Error{Code: CodeInvalidConfig, Class: ClassPermanent,
			Description: fmt.Sprintf("subject_credential %q: no credential lookup configured", o.SubjectCredential)}
	}
	tok, err := cfg.CredentialToken(ctx, o.SubjectCredential)
	if err != nil || tok.IsZero() {
		return &Error{Code: "subject_token_unavailable", Class: ClassTransient,
			Description: fmt.Sprintf("credential %q has no current access token", o.SubjectCredential), Err: err}
	}
	in.SubjectToken = tok
	return nil
}

// tokenExchangeRequest builds the RFC 8693 §2.1 request body.
func tokenExchangeRequest(cfg *Config, in GrantInput) (url.Values, []string, *Error) {
	o := tokenExchangeOptions(cfg)
	subject := in.SubjectToken.Reveal()
	if o.SubjectTokenFile != "" {
		var e *Error
		if subject, e = readTokenFile("subject_token_file", o.SubjectTokenFile); e != nil {
			return nil, nil, e
		}
	}
	if subject == "" {
		return nil, nil, &Error{Code: CodeInvalidConfig, Class: ClassPermanent, Description: "no subject token (subject_token_file or subject_credential)"}
	}
	v := url.Values{"grant_type": {TokenExchangeGrantType}, "subject_token": {subject}, "subject_token_type": {o.SubjectTokenType}}
	sensitive := []string{subject}
	if o.ActorTokenFile != "" {
		actor, e := readTokenFile("actor_token_file", o.ActorTokenFile)
		if e != nil {
			return nil, nil, e
		}
		v.Set("actor_token", actor)
		v.Set("actor_token_type", o.ActorTokenType)
		sensitive = append(sensitive, actor)
	}
	for k, val := range map[string]string{"requested_token_type": o.RequestedTokenType, "audience": o.Audience, "resource": o.Resource} {
		if val != "" {
			v.Set(k, val)
		}
	}
	return v, sensitive, nil
}

// readTokenFile reads a token file afresh. A missing or empty file is
// transient: a projected token may be between rotations, and a file fixed
// by the operator is picked up at the next attempt.
func readTokenFile(key, path string) (string, *Error) {
	b, err := os.ReadFile(path)
	tok := strings.TrimSpace(string(b))
	if err != nil || tok == "" {
		e := &Error{Code: "token_file_unreadable", Class: ClassTransient, Description: fmt.Sprintf("%s %s is unreadable or empty", key, path)}
		if err != nil {
			e.Err = fmt.Errorf("reading %s: %w", key, unwrapPath(err))
		}
		return "", e
	}
	return tok, nil
}

// unwrapPath is err without its *PathError wrapper (the path is named once).
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
