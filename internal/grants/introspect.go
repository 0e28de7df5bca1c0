package grants

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/url"
	"strconv"
	"time"

	"github.com/tokend/tokend/internal/secret"
)

// ErrNoIntrospection is wrapped by the permanent *Error Introspect returns
// when the credential has no introspection_url.
var ErrNoIntrospection = errors.New("no introspection endpoint configured")

// The token_type_hint values of RFC 7662 §2.1 (registered in RFC 7009 §4.1.2).
const (
	HintAccessToken  = "access_token"
	HintRefreshToken = "refresh_token"
)

// introspectTimeout bounds FillExpiry's call: the token it completes has
// already been issued and must reach the state store soon.
const introspectTimeout = 5 * time.Second

// Introspection is an RFC 7662 §2.2 answer. Only Active is guaranteed; the
// rest is zero when the provider left it out.
type Introspection struct {
	Active    bool
	Scope     string
	ClientID  string
	Username  string
	TokenType string
	Subject   string
	ExpiresAt time.Time // from exp
	IssuedAt  time.Time // from iat
}

// CanIntrospect reports whether an introspection endpoint is configured.
func (c *Client) CanIntrospect() bool { return c.introspectURL != "" }

// Introspect asks the introspection endpoint (RFC 7662 §2.1) about token,
// authenticating the client as it does at the token endpoint. hint is the
// token_type_hint (HintAccessToken, HintRefreshToken or "" for none). The
// request is always form-encoded, as the RFC requires. Failures are *Error
// with Endpoint "introspection", classified like token-endpoint errors; an
// inactive token is not an error (Active is false).
func (c *Client) Introspect(ctx context.Context, token secret.Secret, hint string) (Introspection, error) {
	if c.introspectURL == "" {
		return Introspection{}, c.fail(&Error{Endpoint: "introspection", Code: CodeInvalidConfig, Class: ClassPermanent,
			Description: "no introspection_url configured", Err: ErrNoIntrospection})
	}
	v := url.Values{"token": {token.Reveal()}}
	if hint != "" {
		v.Set("token_type_hint", hint)
	}
	auth, err := c.clientAuth(v)
	if err != nil {
		return Introspection{}, err
	}
	req, err := c.post(ctx, c.introspectURL, v, BodyForm, auth)
	if err != nil {
		return Introspection{}, err
	}
	sensitive := append([]string{token.Reveal(), c.cfg.ClientSecret.Reveal()}, c.authSecrets(v)...)
	resp, body, e := c.send(req)
	if e == nil {
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			in, ok := parseIntrospection(body)
			if ok {
				return in, nil
			}
			e = invalidResponse(resp.StatusCode, "introspection response is not a JSON object with a boolean active")
		} else {
			e = parseFailure(body, resp.Header.Get("Content-Type"), resp.StatusCode, sensitive)
		}
	}
	c.retryAfter(e, resp)
	e.Endpoint = "introspection"
	return Introspection{}, c.fail(e)
}

// parseIntrospection reads an RFC 7662 §2.2 body; ok is false unless it is
// a JSON object with a boolean `active`.
func parseIntrospection(body []byte) (Introspection, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil || m == nil {
		return Introspection{}, false
	}
	var active bool
	if json.Unmarshal(m["active"], &active) != nil {
		return Introspection{}, false
	}
	in := Introspection{
		Active:    active,
		Scope:     jsonScope(m["scope"]),
		ClientID:  jsonString(m["client_id"]),
		Username:  jsonString(m["username"]),
		TokenType: jsonString(m["token_type"]),
		Subject:   jsonString(m["sub"]),
		ExpiresAt: unixTime(m["exp"]),
		IssuedAt:  unixTime(m["iat"]),
	}
	return in, true
}

// unixTime reads a NumericDate (RFC 7519 §2): seconds since the epoch,
// possibly fractional. Absent, non-numeric or implausible values are zero.
func unixTime(raw json.RawMessage) time.Time {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] < '0' || raw[0] > '9' {
		return time.Time{}
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || f < 1 || f > maxJWTExp {
		return time.Time{}
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// FillExpiry completes a token whose expiry was only assumed: when
// tok.ExpirySource is "default" and an introspection endpoint is configured,
// it asks for the access token's exp and, if the token is active with a
// future exp, returns tok with ExpiresAt from it and ExpirySource
// "introspection". In every other case tok comes back unchanged; err says
// why introspection did not help (nil when it was not needed). FillExpiry
// never fails the token itself: the caller must still store it (a rotated
// refresh token is in it).
func (c *Client) FillExpiry(ctx context.Context, tok Token) (Token, error) {
	if c.introspectURL == "" || tok.ExpirySource != "default" || ctx.Err() != nil {
		return tok, nil
	}
	ctx, cancel := context.WithTimeout(ctx, introspectTimeout)
	defer cancel()
	in, err := c.Introspect(ctx, tok.AccessToken, "access_token")
	switch {
	case err != nil:
		return tok, err
	case !in.Active:
		return tok, c.fail(&Error{Endpoint: "introspection", Code: "inactive", Class: ClassTransient,
			Description: "the provider reports the new access token inactive; keeping the default lifetime"})
	case in.ExpiresAt.IsZero() || !in.ExpiresAt.After(tok.IssuedAt):
		return tok, c.fail(&Error{Endpoint: "introspection", Code: CodeInvalidResponse, Class: ClassTransient,
			Description: "introspection gave no future exp; keeping the default lifetime"})
	}
	exp := in.ExpiresAt
	if exp.Sub(tok.IssuedAt) > maxLifetime {
		exp = tok.IssuedAt.Add(maxLifetime)
	}
	tok.ExpiresAt, tok.ExpirySource = exp, "introspection"
	return tok, nil
}
