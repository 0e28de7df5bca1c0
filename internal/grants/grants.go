// Package grants speaks the OAuth 2.0 token endpoint (RFC 6749 §4.1.3, §4.4,
// §6) and nothing else: it builds the request for a grant, authenticates the
// client, parses the token response and turns every failure into a typed
// *Error that says whether retrying can help. The grant types and the
// client authentication methods are one table each (kinds.go,
// authmethods.go) that the rest of tokend asks instead of switching on names.
//
// Adding a grant kind or an auth method is two edits: a file here with its
// request builder (or Apply) and, if it has config keys of its own, its
// Options struct (toml tags, Defaults, Validate; SecretOptions for key
// files, Seeder for a refresh-token seed file; options.go); then one entry
// in grantKinds or authMethods. internal/config decodes the kind's keys into
// its Options and hands them on in Config.GrantOptions or AuthOptions.
//
// The package holds no state between calls and never logs. A Client is safe
// for concurrent use; whether two concurrent refreshes with the same refresh
// token make sense is the caller's business (tokend's scheduler serialises
// them). No error produced here contains a token, a secret or a response body.
package grants

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tokend/tokend/internal/secret"
)

// BodyFormat is the encoding of the token request body.
type BodyFormat string

// The supported request body encodings.
const (
	BodyForm BodyFormat = "form" // application/x-www-form-urlencoded (RFC 6749 §3.2)
	BodyJSON BodyFormat = "json" // a JSON object of the same string fields
)

// defaultTimeout bounds a whole token request with the package's own client.
const defaultTimeout = 30 * time.Second

// Config describes one credential's token endpoint. The zero values of
// AuthStyle, Body, HTTPClient and Now select the documented defaults.
type Config struct {
	Name         string // credential name, used in every error
	Grant        Grant  // what Renew does
	TokenURL     string
	ClientID     string
	ClientSecret secret.Secret
	AuthStyle    AuthStyle  // "" = basic
	Body         BodyFormat // "" = form
	// Scopes are sent space-joined as `scope` when non-empty (RFC 6749 §3.3).
	Scopes []string
	// Params are extra body parameters. They may not set a parameter the
	// protocol owns (grant_type, client_secret, refresh_token, code, ...);
	// New rejects such a Config.
	Params map[string]string
	// Headers are extra request headers (e.g. basiq-version: 2.0). They may
	// not set Content-Type, Content-Length, Host or Transfer-Encoding, nor
	// Authorization when the auth style sends one.
	Headers map[string]string
	// ExtraFields names token-response fields to keep besides the standard
	// ones (Salesforce's instance_url, Zoho's api_domain, id_token): they
	// come back in Token.Extra. access_token and refresh_token cannot be
	// named (New rejects them): a refresh token must never reach a sink.
	ExtraFields []string
	// DefaultLifetime is used when the response has no usable expires_in and
	// the access token is not a JWT with a future exp.
	DefaultLifetime time.Duration
	// AllowInsecureHTTP allows an http:// TokenURL (or IntrospectionURL) to
	// a non-loopback host.
	AllowInsecureHTTP bool
	// OmitGrantType leaves grant_type out of client_credentials requests, for
	// providers that document a body without it (Basiq: `scope=...` only).
	OmitGrantType bool
	// GrantOptions and AuthOptions are the grant's and the auth method's own
	// keys (GrantKind.Options, AuthMethod.Options), decoded, defaulted and
	// checked by internal/config; nil when the kind has none or the Config is
	// built in code (the kind then treats every key as unset).
	GrantOptions Options
	AuthOptions  Options
	// CredentialToken returns another credential's current, unexpired
	// access token (token_exchange's subject_credential); the daemon sets
	// it from its state store. Its error must not contain a token.
	CredentialToken func(ctx context.Context, name string) (secret.Secret, error)
	// IntrospectionURL is the RFC 7662 endpoint used by Introspect and
	// FillExpiry; "" disables introspection. Same URL rules as TokenURL.
	IntrospectionURL string
	// HTTPClient nil means the package's own client: 30 s timeout, TLS
	// verification on, redirects not followed (a redirected POST is a
	// misconfigured URL, and following it could send credentials elsewhere),
	// proxies from HTTPS_PROXY/NO_PROXY. With RootCAs or a client
	// certificate (tls_client_auth), New uses a copy of it with a transport
	// of its own (withTLS); its Transport must then be an *http.Transport.
	HTTPClient *http.Client
	// RootCAs, when set, replaces the system roots for this credential's
	// endpoints (the `ca_file` key); any auth method.
	RootCAs *x509.CertPool
	// Now nil means time.Now.
	Now func() time.Time
}

// Client performs token requests for one credential. Create it with New.
type Client struct {
	cfg Config
	// The endpoints as requested, in url.URL.String form. Kept as strings, not
	// parsed: a *url.URL per credential was over a third of a client's memory.
	tokenURL      string
	introspectURL string // "" when no IntrospectionURL is configured
	http          *http.Client
	now           func() time.Time
}

// Validate reports what New would reject in cfg, without building a client
// (config validation checks every credential this way at start-up; a client
// each, with its HTTP transport, is garbage at scale: docs/performance.md, "Figures behind the code").
func Validate(cfg Config) error {
	_, _, _, err := check(cfg)
	return err
}

// check applies New's defaults to a copy of cfg and validates it.
func check(cfg Config) (Config, *url.URL, *url.URL, error) {
	cfg = cloneConfig(cfg)
	if cfg.AuthStyle == "" {
		cfg.AuthStyle = DefaultAuthStyle
	}
	if cfg.Body == "" {
		cfg.Body = BodyForm
	}
	if k := grantKind(cfg.Grant); cfg.TokenURL == "" && k != nil && k.Endpoint != nil {
		cfg.TokenURL = k.Endpoint(&cfg)
	}
	u, errs := validateURL("token_url", cfg.TokenURL, cfg.AllowInsecureHTTP)
	var iu *url.URL
	if cfg.IntrospectionURL != "" {
		var ierrs []error
		iu, ierrs = validateURL("introspection_url", cfg.IntrospectionURL, cfg.AllowInsecureHTTP)
		errs = append(errs, ierrs...)
	}
	errs = append(errs, validateConfig(&cfg)...)
	if len(errs) > 0 {
		return cfg, nil, nil, fmt.Errorf("credential %q: invalid token endpoint config: %w", cfg.Name, errors.Join(errs...))
	}
	return cfg, u, iu, nil
}

// New validates cfg and returns a Client. It checks TokenURL (the grant's
// GrantKind.Endpoint when unset; absolute;
// https, or http only to a loopback host — 127.0.0.0/8, ::1, "localhost" —
// unless AllowInsecureHTTP), Grant, AuthStyle, Body, Scopes, Params and
// Headers, and returns every problem at once in an error naming the
// credential. It does not require ClientID or ClientSecret: configuration may
// be validated before secrets are resolved.
func New(cfg Config) (*Client, error) {
	cfg, u, iu, err := check(cfg)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, tokenURL: urlString(u, cfg.TokenURL), introspectURL: urlString(iu, cfg.IntrospectionURL),
		http: cfg.HTTPClient, now: cfg.Now}
	if c.http == nil {
		c.http = NewHTTPClient(0)
	}
	var cert *tls.Certificate
	if m := authMethod(cfg.AuthStyle); m.ClientCertificate != nil {
		cert = m.ClientCertificate(&cfg)
	}
	if c.http, err = withTLS(c.http, cfg.RootCAs, cert); err != nil {
		return nil, fmt.Errorf("credential %q: %w", cfg.Name, err)
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Config returns a copy of the validated configuration, with AuthStyle and
// Body defaults filled in. Mutating the copy does not affect the Client.
func (c *Client) Config() Config { return cloneConfig(c.cfg) }

// urlString is u.String(), sharing raw's memory when they are equal (nil: "").
func urlString(u *url.URL, raw string) string {
	if u == nil {
		return ""
	}
	if s := u.String(); s != raw {
		return s
	}
	return raw
}

func cloneConfig(cfg Config) Config {
	cfg.Scopes = slices.Clone(cfg.Scopes)
	cfg.Params = maps.Clone(cfg.Params)
	cfg.Headers = maps.Clone(cfg.Headers)
	cfg.ExtraFields = slices.Clone(cfg.ExtraFields)
	return cfg
}

// validateURL applies the TokenURL rules to the URL configured under key.
// The URL is never echoed in full: it might carry credentials in its query.
func validateURL(key, raw string, allowInsecure bool) (*url.URL, []error) {
	if raw == "" {
		return nil, []error{fmt.Errorf("%s is required", key)}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, []error{fmt.Errorf("%s is not a valid URL", key)}
	}
	switch {
	case !u.IsAbs() || u.Host == "" || u.Hostname() == "":
		return nil, []error{fmt.Errorf("%s must be an absolute URL with a host", key)}
	case u.User != nil:
		return nil, []error{fmt.Errorf("%s must not contain user info; use client_id and client_secret", key)}
	case u.Scheme == "https":
	case u.Scheme == "http":
		if !allowInsecure && !isLoopback(u.Hostname()) {
			return nil, []error{fmt.Errorf("%s uses http:// to non-loopback host %q; use https or set allow_insecure_http", key, u.Hostname())}
		}
	default:
		return nil, []error{fmt.Errorf("%s scheme %q is not supported (https, or http to loopback)", key, u.Scheme)}
	}
	return u, nil
}

// isLoopback reports whether host is "localhost" or a loopback IP literal.
// Other names are not resolved: DNS could say anything.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isReservedParam reports whether the protocol owns body parameter k.
func isReservedParam(k string) bool {
	switch k {
	case "grant_type", "client_secret", "refresh_token", "code", "code_verifier", "redirect_uri":
		return true
	}
	return false
}

// validateConfig checks everything but the URLs: the grant and auth method
// against their tables (and with their own Validate), then the generic parts.
func validateConfig(cfg *Config) []error {
	var errs []error
	kind, err := LookupGrant(cfg.Grant)
	if err != nil {
		errs = append(errs, err)
	} else if kind.Validate != nil {
		errs = append(errs, kind.Validate(cfg)...)
	}
	method, err := LookupAuthMethod(cfg.AuthStyle)
	if err != nil {
		errs = append(errs, err)
	} else if method.Validate != nil {
		errs = append(errs, method.Validate(cfg)...)
	}
	switch cfg.Body {
	case BodyForm, BodyJSON:
	default:
		errs = append(errs, fmt.Errorf("unknown body format %q (form, json)", cfg.Body))
	}
	if cfg.DefaultLifetime < 0 {
		errs = append(errs, errors.New("default lifetime must not be negative"))
	}
	for _, s := range cfg.Scopes {
		if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			errs = append(errs, fmt.Errorf("scope %q must be non-empty without spaces or control characters", s))
		}
	}
	for _, f := range cfg.ExtraFields {
		switch {
		case f == "" || !validHeaderName(f):
			errs = append(errs, fmt.Errorf("extra field %q is not a valid field name", f))
		case f == "access_token" || f == "refresh_token":
			errs = append(errs, fmt.Errorf("extra field %q cannot be kept: tokend handles it itself", f))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.Params)) {
		if err := checkParam(k, cfg, method); err != nil {
			errs = append(errs, err)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.Headers)) {
		if err := checkHeader(k, cfg.Headers[k], method); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// checkParam checks configured body parameter k. method is the zero
// AuthMethod when the auth style is unknown (reported on its own).
func checkParam(k string, cfg *Config, method AuthMethod) error {
	switch {
	case k == "":
		return errors.New("param names must not be empty")
	case isReservedParam(k):
		return fmt.Errorf("param %q is set by tokend and cannot be overridden", k)
	case slices.Contains(method.BodyParams, k):
		return fmt.Errorf("param %q is already sent with auth style %q", k, method.Name)
	case k == "scope" && len(cfg.Scopes) > 0:
		return errors.New(`param "scope" conflicts with scopes`)
	}
	return nil
}

// checkHeader checks configured header name: value against the headers
// tokend sets itself and those method sends.
func checkHeader(name, value string, method AuthMethod) error {
	if !validHeaderName(name) {
		return fmt.Errorf("header name %q is not a valid HTTP field name", name)
	}
	switch canon := http.CanonicalHeaderKey(name); {
	case canon == "Content-Type", canon == "Content-Length", canon == "Host", canon == "Transfer-Encoding":
		return fmt.Errorf("header %q is set by tokend and cannot be overridden", name)
	case slices.Contains(method.Headers, canon):
		return fmt.Errorf("header %q is already sent with auth style %q", name, method.Name)
	}
	if !validHeaderValue(value) {
		// The value is not echoed: a header may carry a key.
		return fmt.Errorf("header %q has a value with control characters", name)
	}
	return nil
}

// validHeaderName reports whether s is an RFC 9110 §5.6.2 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// validHeaderValue rejects control characters other than HTAB (RFC 9110 §5.5).
func validHeaderValue(s string) bool {
	for _, c := range []byte(s) {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// Ensure *Client can serve as the scheduler's token source without importing it.
var _ interface {
	Renew(context.Context, secret.Secret) (Token, error)
} = (*Client)(nil)
