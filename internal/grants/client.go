package grants

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tokend/tokend/internal/secret"
)

// ErrNoRefreshToken is wrapped by the permanent *Error that Refresh and Renew
// return when called without a refresh token (Code "no_refresh_token").
var ErrNoRefreshToken = errors.New("no refresh token")

// ErrNoAuthorizationCode is wrapped by the permanent *Error that ExchangeCode
// returns for an empty code (Code "no_authorization_code").
var ErrNoAuthorizationCode = errors.New("no authorization code")

// Token is a successful token-endpoint answer (RFC 6749 §5.1).
type Token struct {
	AccessToken secret.Secret
	// RefreshToken is zero when the provider returned none: the caller keeps
	// its old one (RFC 6749 §6: issuing a new one is optional).
	RefreshToken secret.Secret
	// TokenType is "Bearer" when the provider said bearer in any case or
	// nothing at all; otherwise as given.
	TokenType string
	Scope     string
	// IssuedAt is when the request was sent; ExpiresAt counts from it, so it
	// never lies later than the provider meant.
	IssuedAt time.Time
	// ExpiresAt is zero only if nothing gave an expiry and DefaultLifetime is 0.
	ExpiresAt time.Time
	// ExpirySource says where ExpiresAt came from: "expires_in", "jwt",
	// "default", "introspection" (set by FillExpiry), "expires_at"
	// (github_app) or "" (no expiry).
	ExpirySource string
	// IssuedTokenType is a token exchange's issued_token_type (RFC 8693
	// §2.2.1): what kind of token AccessToken is; "" when not said. Not a
	// secret.
	IssuedTokenType string
	// RefreshTokenExpiresAt is when the refresh token dies, from
	// refresh_token_expires_in (GitHub) or x_refresh_token_expires_in
	// (Intuit) counted from IssuedAt; zero when the answer gave neither.
	RefreshTokenExpiresAt time.Time
	// Extra holds the fields named by Config.ExtraFields that the answer
	// carried (strings as sent, other JSON values in compact JSON), nil when
	// none. Values are secrets for logging purposes (id_token is a
	// credential).
	Extra map[string]secret.Secret
}

// Renew performs the configured grant: the request its GrantKind builds
// (refresh_token and authorization_code, whose tokens are renewed with their
// refresh token, RFC 6749 §1.5, redeem refreshToken and fail permanently
// when it is empty; client_credentials ignores it), sent the same way for
// every grant. Errors are *Error; see Error for their classification.
func (c *Client) Renew(ctx context.Context, refreshToken secret.Secret) (Token, error) {
	kind := grantKind(c.cfg.Grant) // never nil: New checked the grant
	in := GrantInput{RefreshToken: refreshToken}
	if kind.Prepare != nil {
		if e := kind.Prepare(ctx, &c.cfg, &in); e != nil {
			return Token{}, c.fail(e)
		}
	}
	if kind.Send != nil {
		tok, e := kind.Send(ctx, c, in)
		if e != nil {
			return Token{}, c.fail(e)
		}
		return tok, nil
	}
	return c.grant(ctx, kind.Request, in)
}

// Refresh redeems refreshToken (RFC 6749 §6) whatever the configured grant.
// The returned Token's RefreshToken is the rotated one, or zero if the
// provider kept the old one.
func (c *Client) Refresh(ctx context.Context, refreshToken secret.Secret) (Token, error) {
	return c.grant(ctx, refreshTokenRequest, GrantInput{RefreshToken: refreshToken})
}

// ClientCredentials requests a token with the client's own credentials
// (RFC 6749 §4.4). With Config.OmitGrantType the body carries no grant_type.
func (c *Client) ClientCredentials(ctx context.Context) (Token, error) {
	return c.grant(ctx, clientCredentialsRequest, GrantInput{})
}

// ExchangeCode redeems an authorization code (RFC 6749 §4.1.3). redirectURI
// and codeVerifier (PKCE, RFC 7636 §4.5) are sent only when non-empty.
func (c *Client) ExchangeCode(ctx context.Context, code secret.Secret, redirectURI, codeVerifier string) (Token, error) {
	if code.IsZero() {
		return Token{}, &Error{Credential: c.cfg.Name, Code: "no_authorization_code", Class: ClassPermanent,
			Description: "no authorization code to redeem", Err: ErrNoAuthorizationCode}
	}
	v := url.Values{"grant_type": {string(GrantAuthorizationCode)}, "code": {code.Reveal()}}
	if redirectURI != "" {
		v.Set("redirect_uri", redirectURI)
	}
	if codeVerifier != "" {
		v.Set("code_verifier", codeVerifier)
	}
	return c.do(ctx, v, code.Reveal(), codeVerifier)
}

// grant sends the request that build makes from in.
func (c *Client) grant(ctx context.Context, build func(*Config, GrantInput) (url.Values, []string, *Error), in GrantInput) (Token, error) {
	v, sensitive, e := build(&c.cfg, in)
	if e != nil {
		return Token{}, c.fail(e)
	}
	return c.do(ctx, v, sensitive...)
}

// do sends one token request with the grant fields in v. sensitive lists the
// values (besides the client secret) that must never appear in an error.
func (c *Client) do(ctx context.Context, v url.Values, sensitive ...string) (Token, error) {
	sensitive = append(sensitive, c.cfg.ClientSecret.Reveal())
	req, err := c.newRequest(ctx, v)
	if err != nil {
		return Token{}, err
	}
	sensitive = append(sensitive, c.authSecrets(v)...)
	sent := c.now()
	resp, body, e := c.send(req)
	if e == nil {
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			tok, pe := parseSuccess(body, resp.Header.Get("Content-Type"), sent, c.cfg.DefaultLifetime, resp.StatusCode, sensitive, c.cfg.ExtraFields)
			if pe == nil {
				return tok, nil
			}
			e = pe
		} else {
			e = parseFailure(body, resp.Header.Get("Content-Type"), resp.StatusCode, sensitive)
		}
	}
	c.retryAfter(e, resp)
	return Token{}, c.fail(e)
}

// roundTrip sends req, built by a grant that speaks another wire format
// (GrantKind.Send), through the same funnel as do: the 1 MiB cap, network
// failures transient, Retry-After honoured. parse turns the answer into a
// Token or a classified *Error; sensitive lists the values it must redact.
func (c *Client) roundTrip(req *http.Request, sensitive []string,
	parse func(resp *http.Response, body []byte, sent time.Time, sensitive []string) (Token, *Error)) (Token, *Error) {
	sent := c.now()
	resp, body, e := c.send(req)
	if e == nil {
		tok, pe := parse(resp, body, sent, sensitive)
		if pe == nil {
			return tok, nil
		}
		e = pe
	}
	c.retryAfter(e, resp)
	return Token{}, e
}

// send performs req and reads at most 1 MiB of the answer. On a network or
// read failure it returns a transient *Error (and resp when one arrived).
func (c *Client) send(req *http.Request) (*http.Response, []byte, *Error) {
	resp, err := c.http.Do(req)
	if err != nil {
		// *url.Error carries the method and URL, never the body; drop the
		// URL's query too, in case a provider wants a key there.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = safeURL(req.URL)
		}
		return nil, nil, &Error{Code: CodeNetwork, Class: ClassTransient, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodySize+1))
	switch {
	case err != nil:
		return resp, nil, &Error{Status: resp.StatusCode, Code: CodeNetwork, Class: ClassTransient, Err: err}
	case len(body) > maxBodySize:
		return resp, nil, &Error{Status: resp.StatusCode, Code: CodeResponseTooLarge, Class: ClassTransient,
			Description: "response larger than 1 MiB"}
	}
	return resp, body, nil
}

// retryAfter copies the answer's Retry-After into e. RFC 9110 §10.2.3:
// honoured on any failed answer, 429 and 503 above all.
func (c *Client) retryAfter(e *Error, resp *http.Response) {
	if resp == nil {
		return
	}
	if d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), c.now()); ok {
		e.RetryAfter = d
	}
}

func (c *Client) fail(e *Error) *Error {
	e.Credential = c.cfg.Name
	return e
}

// newRequest builds the token-endpoint POST with client authentication applied.
func (c *Client) newRequest(ctx context.Context, v url.Values) (*http.Request, error) {
	cfg := &c.cfg
	if bs, ok := cfg.GrantOptions.(bodyScoper); len(cfg.Scopes) > 0 && (!ok || bs.ScopesInBody()) {
		v.Set("scope", strings.Join(cfg.Scopes, " "))
	}
	auth, err := c.clientAuth(v)
	if err != nil {
		return nil, err
	}
	for k, p := range cfg.Params {
		if _, taken := v[k]; !taken { // New already rejects conflicts; never override grant fields
			v.Set(k, p)
		}
	}
	return c.post(ctx, c.tokenURL, v, cfg.Body, auth)
}

// bodyScoper is implemented by grant options that may carry the scopes
// elsewhere (jwt_bearer: in the assertion's scope claim, for Google).
type bodyScoper interface{ ScopesInBody() bool }

// clientAuth applies the configured AuthMethod: it adds to v and returns the
// headers the method sets.
func (c *Client) clientAuth(v url.Values) (http.Header, error) {
	h := http.Header{}
	if e := authMethod(c.cfg.AuthStyle).Apply(&c.cfg, v, h); e != nil { // New checked the style
		return nil, c.fail(e)
	}
	return h, nil
}

// authSecrets are the values of the secret body parameters the auth method
// set in v (AuthMethod.SecretParams), for redaction.
func (c *Client) authSecrets(v url.Values) []string {
	var out []string
	for _, p := range authMethod(c.cfg.AuthStyle).SecretParams {
		if s := v.Get(p); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// post builds a POST of v to u, encoded as body, with the configured extra
// headers and then the client authentication's headers auth.
func (c *Client) post(ctx context.Context, u string, v url.Values, body BodyFormat, auth http.Header) (*http.Request, error) {
	var data io.Reader = strings.NewReader(v.Encode()) // no []byte copy of the form
	ctype := "application/x-www-form-urlencoded"
	if body == BodyJSON {
		obj := make(map[string]string, len(v))
		for k := range v {
			obj[k] = v.Get(k)
		}
		b, err := json.Marshal(obj)
		if err != nil { // a map of strings always marshals
			return nil, c.fail(&Error{Code: CodeInvalidConfig, Class: ClassPermanent, Description: "encoding JSON body"})
		}
		data, ctype = bytes.NewReader(b), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, data)
	if err != nil {
		return nil, c.fail(&Error{Code: CodeInvalidConfig, Class: ClassPermanent, Description: "building request", Err: err})
	}
	req.Header.Set("Accept", "application/json")
	for k, h := range c.cfg.Headers {
		req.Header.Set(k, h)
	}
	req.Header.Set("Content-Type", ctype)
	for k, vals := range auth {
		req.Header[k] = vals
	}
	return req, nil
}

// safeURL is u without user info, query or fragment, for error messages.
func safeURL(u *url.URL) string {
	v := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	if u.RawQuery != "" {
		v.RawQuery = "redacted"
	}
	return v.String()
}
