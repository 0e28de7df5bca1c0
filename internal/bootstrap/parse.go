package bootstrap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/secret"
)

// maxImport caps what `tokend import` reads; a token JSON is a few KiB.
const maxImport = 64 << 10

// Imported is what ParseImport read.
type Imported struct {
	Token scheduler.ImportedToken
	// ExpirySource says where Token.ExpiresAt came from: "expires_in",
	// "expires_at", "jwt", or "" when the access token's expiry is unknown
	// (or there is no access token).
	ExpirySource string
}

// tokenJSON is the accepted token document: a token-endpoint response
// (RFC 6749 §5.1) as Apicbase and others show it, optionally with an
// absolute expires_at instead of expires_in. Other fields are ignored.
type tokenJSON struct {
	AccessToken  *string         `json:"access_token"`
	RefreshToken *string         `json:"refresh_token"`
	TokenType    string          `json:"token_type"`
	Scope        json.RawMessage `json:"scope"`
	ExpiresIn    json.RawMessage `json:"expires_in"`
	ExpiresAt    json.RawMessage `json:"expires_at"`
}

// ParseImport reads what `tokend import` was given at time now: either one
// line holding a refresh token, or a JSON object with access_token,
// refresh_token, expires_in or expires_at (RFC 3339 or seconds since the
// epoch), token_type and scope. Tokens must be RFC 6749 appendix A VSCHARs.
// Errors never quote the input.
func ParseImport(data []byte, now time.Time) (Imported, error) {
	if len(data) > maxImport {
		return Imported{}, fmt.Errorf("input is larger than %d KiB", maxImport>>10)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return Imported{}, errors.New("no token given (empty input)")
	}
	if data[0] == '{' {
		return parseJSON(data, now)
	}
	if bytes.ContainsAny(data, "\r\n") {
		return Imported{}, errors.New("expected one line holding a refresh token, or a token JSON object; got several lines")
	}
	rt := string(data)
	if strings.ContainsAny(rt, " \t") || !vschars(rt) {
		return Imported{}, errors.New("the refresh token contains spaces or characters outside RFC 6749 appendix A")
	}
	return Imported{Token: scheduler.ImportedToken{RefreshToken: secret.New(rt)}}, nil
}

func parseJSON(data []byte, now time.Time) (Imported, error) {
	var tj tokenJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&tj); err != nil {
		return Imported{}, errors.New("the token JSON is not a valid JSON object of the documented fields")
	}
	if dec.More() {
		return Imported{}, errors.New("the token JSON is followed by more data")
	}
	at, rt := deref(tj.AccessToken), deref(tj.RefreshToken)
	switch {
	case at == "" && rt == "":
		return Imported{}, errors.New("the token JSON has neither access_token nor refresh_token")
	case !vschars(at) || !vschars(rt) || strings.ContainsAny(rt, " \t"):
		return Imported{}, errors.New("a token in the JSON has characters outside RFC 6749 appendix A")
	case !vschars(tj.TokenType):
		return Imported{}, errors.New("token_type has characters outside RFC 6749 appendix A")
	}
	im := Imported{Token: scheduler.ImportedToken{
		AccessToken: secret.New(at), RefreshToken: secret.New(rt), TokenType: tj.TokenType, IssuedAt: now,
	}}
	if at != "" && (im.Token.TokenType == "" || strings.EqualFold(im.Token.TokenType, "bearer")) {
		im.Token.TokenType = "Bearer"
	}
	im.Token.Scope = scopeOf(tj.Scope)
	if at == "" {
		return im, nil
	}
	switch {
	case len(tj.ExpiresIn) > 0 && string(tj.ExpiresIn) != "null":
		secs, ok := number(tj.ExpiresIn)
		if !ok || secs <= 0 {
			return Imported{}, errors.New("expires_in must be a positive number of seconds")
		}
		im.Token.ExpiresAt, im.ExpirySource = now.Add(time.Duration(min(secs, 10*365*86400)*float64(time.Second))), "expires_in"
	case len(tj.ExpiresAt) > 0 && string(tj.ExpiresAt) != "null":
		t, ok := timeOf(tj.ExpiresAt)
		if !ok {
			return Imported{}, errors.New("expires_at must be an RFC 3339 time or seconds since the epoch")
		}
		im.Token.ExpiresAt, im.ExpirySource = t, "expires_at"
	default:
		if exp, ok := grants.JWTExpiry(at); ok {
			im.Token.ExpiresAt, im.ExpirySource = exp, "jwt"
		}
	}
	return im, nil
}

// CompleteExpiry settles an imported access token whose expiry is unknown:
// it asks the introspection endpoint when the client has one; if that does
// not give a future exp, the access token is dropped so that the daemon
// refreshes at once (a token of unknown age must not be served as fresh).
// note says what happened, for the operator; it is empty when nothing had to
// be done.
func CompleteExpiry(ctx context.Context, c *grants.Client, im *Imported, now time.Time) (note string) {
	t := &im.Token
	if t.AccessToken.IsZero() || im.ExpirySource != "" {
		return ""
	}
	if c != nil && c.CanIntrospect() {
		in, err := c.Introspect(ctx, t.AccessToken, "access_token")
		if err == nil && in.Active && in.ExpiresAt.After(now) {
			t.ExpiresAt, im.ExpirySource = in.ExpiresAt, "introspection"
			return "access token expiry from introspection: " + in.ExpiresAt.Format(time.RFC3339)
		}
		if err == nil && !in.Active {
			note = "introspection says the access token is inactive; "
		} else if err != nil {
			note = fmt.Sprintf("introspection failed (%v); ", err)
		}
	}
	t.AccessToken, t.TokenType, t.ExpiresAt = secret.New(""), "", time.Time{}
	if t.RefreshToken.IsZero() {
		return note + "the access token's expiry is unknown and there is no refresh token"
	}
	return note + "the access token's expiry is unknown: it is not stored; tokend refreshes with the refresh token at once"
}

func number(raw json.RawMessage) (float64, bool) {
	s := strings.TrimSpace(string(raw))
	if uq, err := strconv.Unquote(s); err == nil {
		s = uq
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
}

func timeOf(raw json.RawMessage) (time.Time, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		t, err := time.Parse(time.RFC3339, s)
		return t.UTC(), err == nil
	}
	f, ok := number(raw)
	if !ok || f < 1 || f > 253402300799 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}

func scopeOf(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.Join(strings.Fields(s), " ")
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.Join(list, " ")
	}
	return ""
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// vschars reports whether s is RFC 6749 appendix A VSCHARs (%x20-7E).
func vschars(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
