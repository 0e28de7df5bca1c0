package status

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/secret"
)

// ImportRequest is a token obtained out of band (tokend authorize / tokend
// import) to hand to a running daemon. At least one of RefreshToken and
// AccessToken is required. A zero RefreshToken keeps the stored one; a zero
// AccessToken makes the daemon refresh right away. ExpiresAt zero means the
// access token's expiry is unknown (it is then not refreshed on a timer
// unless the credential has a schedule). IssuedAt zero means the daemon's
// now.
type ImportRequest struct {
	RefreshToken secret.Secret
	AccessToken  secret.Secret
	TokenType    string
	Scope        string
	ExpiresAt    time.Time
	IssuedAt     time.Time
	// RefreshTokenExpiresAt (zero: not given) and Extra (the kept response
	// fields; nil: none) travel only when set, so an older daemon still
	// accepts a request that does not use them.
	RefreshTokenExpiresAt time.Time
	Extra                 map[string]secret.Secret
}

// importBody is the wire form of ImportRequest (secret.Secret redacts itself
// in JSON, so the values travel as plain strings only here).
type importBody struct {
	RefreshToken string     `json:"refresh_token,omitempty"`
	AccessToken  string     `json:"access_token,omitempty"`
	TokenType    string     `json:"token_type,omitempty"`
	Scope        string     `json:"scope,omitempty"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
	IssuedAt     *time.Time `json:"issued_at,omitempty"`
	// Optional; see ImportRequest.
	RefreshTokenExpiresAt *time.Time        `json:"refresh_token_expires_at,omitempty"`
	Extra                 map[string]string `json:"extra_fields,omitempty"`
}

func (r ImportRequest) wire() importBody {
	b := importBody{RefreshToken: r.RefreshToken.Reveal(), AccessToken: r.AccessToken.Reveal(), TokenType: r.TokenType, Scope: r.Scope}
	if !r.ExpiresAt.IsZero() {
		t := r.ExpiresAt.UTC()
		b.ExpiresAt = &t
	}
	if !r.IssuedAt.IsZero() {
		t := r.IssuedAt.UTC()
		b.IssuedAt = &t
	}
	if !r.RefreshTokenExpiresAt.IsZero() {
		t := r.RefreshTokenExpiresAt.UTC()
		b.RefreshTokenExpiresAt = &t
	}
	for k, v := range r.Extra {
		if b.Extra == nil {
			b.Extra = make(map[string]string, len(r.Extra))
		}
		b.Extra[k] = v.Reveal()
	}
	return b
}

// decodeImport reads an import body strictly (unknown fields are errors).
// Error messages never quote the body.
func decodeImport(r io.Reader) (scheduler.ImportedToken, error) {
	var b importBody
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return scheduler.ImportedToken{}, fmt.Errorf("import body is not valid JSON (offset %d)", se.Offset)
		case errors.As(err, &te):
			return scheduler.ImportedToken{}, fmt.Errorf("import body: field %q has the wrong type", te.Field)
		}
		return scheduler.ImportedToken{}, fmt.Errorf("import body: %w", safeDecodeError(err))
	}
	if dec.More() {
		return scheduler.ImportedToken{}, errors.New("import body: more than one JSON value")
	}
	if b.RefreshToken == "" && b.AccessToken == "" {
		return scheduler.ImportedToken{}, errors.New("import body: refresh_token or access_token is required")
	}
	tok := scheduler.ImportedToken{RefreshToken: secret.New(b.RefreshToken), AccessToken: secret.New(b.AccessToken),
		TokenType: b.TokenType, Scope: b.Scope}
	if b.ExpiresAt != nil {
		tok.ExpiresAt = *b.ExpiresAt
	}
	if b.IssuedAt != nil {
		tok.IssuedAt = *b.IssuedAt
	}
	if b.RefreshTokenExpiresAt != nil {
		tok.RefreshTokenExpiresAt = *b.RefreshTokenExpiresAt
	}
	for k, v := range b.Extra {
		if tok.Extra == nil {
			tok.Extra = make(map[string]secret.Secret, len(b.Extra))
		}
		tok.Extra[k] = secret.New(v)
	}
	return tok, nil
}

// safeDecodeError keeps the messages of decoder errors that name a field or
// a limit and replaces anything else (which could echo input) with a generic
// one.
func safeDecodeError(err error) error {
	var pe *time.ParseError
	switch {
	case errors.Is(err, io.EOF):
		return errors.New("empty body")
	case errors.As(err, &pe):
		return errors.New("expires_at must be an RFC 3339 time")
	}
	msg := err.Error()
	for _, safe := range []string{"json: unknown field ", "http: request body too large", "unexpected EOF"} {
		if strings.HasPrefix(msg, safe) {
			return errors.New(msg)
		}
	}
	return errors.New("cannot decode")
}
