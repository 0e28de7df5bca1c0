package fakeprovider

import (
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// GoogleSA is a strict fake of Google's OAuth 2.0 token endpoint for
// service accounts ("Using OAuth 2.0 for Server to Server Applications"):
// a form POST with grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer
// and an assertion that is an RS256 JWT whose `kid` is the key's
// private_key_id, signed by the service account's key, with `iss` its
// client_email, `aud` exactly the token_uri, a non-empty `scope` claim,
// `exp - iat` at most one hour and `iat` not in the future. It answers
// {access_token, expires_in 3599, token_type Bearer} with a fresh token,
// and Google's {error: invalid_grant, error_description} with 400
// otherwise. Safe for concurrent use.
type GoogleSA struct {
	email, keyID string
	key          crypto.PublicKey
	now          func() time.Time
	// TokenURI is the `aud` every assertion must carry (the key file's
	// token_uri); set it once the server's address is known.
	TokenURI string

	mu         sync.Mutex
	issued     []string
	scopes     []string
	subjects   []string
	rejected   []string
	assertions []string // every assertion presented
}

// NewGoogleSA accepts assertions of the service account email whose key
// (id keyID) has public half key; now nil is time.Now.
func NewGoogleSA(email, keyID string, key crypto.PublicKey, now func() time.Time) *GoogleSA {
	if now == nil {
		now = time.Now
	}
	return &GoogleSA{email: email, keyID: keyID, key: key, now: now}
}

// ServeHTTP is the token endpoint.
func (g *GoogleSA) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Method != http.MethodPost || mt != "application/x-www-form-urlencoded" || r.ParseForm() != nil {
		g.fail(w, "invalid_request", "form POST required")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		g.fail(w, "unsupported_grant_type", "Invalid grant_type: "+gt)
		return
	}
	g.mu.Lock()
	g.assertions = append(g.assertions, r.PostForm.Get("assertion"))
	g.mu.Unlock()
	scope, sub, why := g.check(r.PostForm.Get("assertion"))
	if why != "" {
		g.fail(w, "invalid_grant", why)
		return
	}
	var raw [24]byte
	_, _ = rand.Read(raw[:])
	tok := "ya29.c." + hex.EncodeToString(raw[:])
	g.mu.Lock()
	g.issued = append(g.issued, tok)
	g.scopes = append(g.scopes, scope)
	g.subjects = append(g.subjects, sub)
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "expires_in": 3599, "token_type": "Bearer"})
}

// check verifies the assertion; why is "" when it is good.
func (g *GoogleSA) check(raw string) (scope, sub, why string) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return "", "", "Invalid JWT: not an RS256 JWS"
	}
	if kid := tok.Headers[0].KeyID; kid != g.keyID {
		return "", "", fmt.Sprintf("Invalid JWT Signature (kid %q)", kid)
	}
	var c struct {
		Iss   string           `json:"iss"`
		Sub   string           `json:"sub"`
		Aud   jwt.Audience     `json:"aud"`
		Scope string           `json:"scope"`
		Iat   *jwt.NumericDate `json:"iat"`
		Exp   *jwt.NumericDate `json:"exp"`
	}
	if err := tok.Claims(g.key, &c); err != nil {
		return "", "", "Invalid JWT Signature."
	}
	now := g.now()
	switch {
	case c.Iss != g.email:
		return "", "", "Invalid issuer: " + c.Iss
	case len(c.Aud) != 1 || c.Aud[0] != g.TokenURI:
		return "", "", "Invalid JWT: audience " + strings.Join(c.Aud, ",") + " is not the token_uri"
	case c.Scope == "":
		return "", "", "Invalid JWT: no scope claim"
	case c.Iat == nil || c.Exp == nil:
		return "", "", "Invalid JWT: iat and exp are required"
	case c.Exp.Time().Sub(c.Iat.Time()) > time.Hour:
		return "", "", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe"
	case c.Iat.Time().After(now.Add(5*time.Second)) || !c.Exp.Time().After(now):
		return "", "", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values"
	}
	return c.Scope, c.Sub, ""
}

func (g *GoogleSA) fail(w http.ResponseWriter, code, desc string) {
	g.mu.Lock()
	g.rejected = append(g.rejected, code+": "+desc)
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// Issued lists the access tokens issued, in order.
func (g *GoogleSA) Issued() []string {
	return locked(&g.mu, &g.issued)
}

// Scopes lists the scope claim of each accepted assertion.
func (g *GoogleSA) Scopes() []string {
	return locked(&g.mu, &g.scopes)
}

// Rejected lists why each refused request was refused.
func (g *GoogleSA) Rejected() []string {
	return locked(&g.mu, &g.rejected)
}

// Subjects lists the sub claim of each accepted assertion ("" when none).
func (g *GoogleSA) Subjects() []string {
	return locked(&g.mu, &g.subjects)
}

// Assertions lists every assertion presented, in order.
func (g *GoogleSA) Assertions() []string {
	return locked(&g.mu, &g.assertions)
}
