package fakeprovider

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// state is everything the provider knows; it is exactly what StateFile holds.
// Every method that touches it runs with Provider.mu held (suffix Locked).
type state struct {
	Version    int                      `json:"version"`
	NextFamily uint64                   `json:"next_family"`
	Clients    map[string]*client       `json:"clients"`
	Families   map[string]*family       `json:"families"`
	Refresh    map[string]*refreshToken `json:"refresh_tokens"`
	Access     map[string]*accessToken  `json:"access_tokens"`
	Codes      map[string]*authCode     `json:"authorization_codes"`
	Issued     []string                 `json:"issued_refresh_tokens"`
	Presented  []string                 `json:"presented_refresh_tokens"`
	Stats      Stats                    `json:"stats"`
}

// client is a registered OAuth client; an empty Secret is a public client.
type client struct {
	Secret string `json:"secret,omitempty"`
}

// family is the chain of refresh tokens descending from one grant. Revoking
// it kills all of its refresh and access tokens (RFC 9700 §4.14.2).
type family struct {
	ClientID  string    `json:"client_id"`
	Scope     string    `json:"scope,omitempty"`
	Created   time.Time `json:"created"`
	Revoked   bool      `json:"revoked,omitempty"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// refreshToken is one link of a family; it is live until Used.
type refreshToken struct {
	Family   string    `json:"family"`
	IssuedAt time.Time `json:"issued_at"`
	Used     bool      `json:"used,omitempty"`
	UsedAt   time.Time `json:"used_at,omitzero"`
}

// accessToken is an issued access token; Family is empty for
// client_credentials tokens, which belong to no family.
type accessToken struct {
	ClientID  string    `json:"client_id"`
	Family    string    `json:"family,omitempty"`
	Scope     string    `json:"scope,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

// authCode is an authorization code minted by /authorize or
// IssueAuthorizationCode. Challenge is the PKCE S256 code_challenge
// (RFC 7636 §4.2), empty when the request had none.
type authCode struct {
	ClientID    string    `json:"client_id"`
	RedirectURI string    `json:"redirect_uri,omitempty"`
	Scope       string    `json:"scope,omitempty"`
	Challenge   string    `json:"code_challenge,omitempty"`
	ExpiresAt   time.Time `json:"expires_at"`
	Used        bool      `json:"used,omitempty"`
	Family      string    `json:"family,omitempty"` // the family the exchange started
}

// tokenResponse is the successful token response of RFC 6749 §5.1.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    *int64 `json:"expires_in,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// maxAccessTokens is when issuing starts sweeping expired access tokens, so
// a long demo run does not grow the state file without bound.
const maxAccessTokens = 1024

func newState() *state {
	return &state{
		Version:  stateVersion,
		Clients:  map[string]*client{},
		Families: map[string]*family{},
		Refresh:  map[string]*refreshToken{},
		Access:   map[string]*accessToken{},
		Codes:    map[string]*authCode{},
	}
}

// refreshLocked serves grant_type=refresh_token (RFC 6749 §6) with rotation
// and reuse detection. A token presented by a client it was not issued to is
// refused without touching it (no reuse, no revocation); a refused scope
// does not consume the token either.
func (p *Provider) refreshLocked(clientID string, params map[string]string) (*tokenResponse, *oauthError) {
	tok := params["refresh_token"]
	if tok == "" {
		return nil, errRequest("missing refresh_token")
	}
	p.st.Presented = append(p.st.Presented, tok)
	rt := p.st.Refresh[tok]
	if rt == nil {
		return nil, errGrant("unknown refresh token")
	}
	fam := p.st.Families[rt.Family]
	if fam.ClientID != clientID {
		return nil, errGrant("refresh token was issued to another client")
	}
	if rt.Used {
		// RFC 9700 §4.14.2: a used refresh token coming back means either the
		// legitimate client or an attacker holds a copy; revoke the family so
		// neither can go on.
		p.st.Stats.Reuses++
		if !fam.Revoked {
			fam.Revoked, fam.RevokedAt = true, p.now()
			p.st.Stats.FamiliesRevoked++
			p.dirty = true
		}
		return nil, errGrant("refresh token was already used; its token family is revoked")
	}
	if fam.Revoked {
		return nil, errGrant("refresh token family was revoked")
	}
	scope, oerr := narrowScope(params["scope"], fam.Scope)
	if oerr != nil {
		return nil, oerr
	}
	rt.Used, rt.UsedAt = true, p.now()
	resp := p.accessResponseLocked(clientID, rt.Family, scope)
	resp.RefreshToken = p.issueRefreshLocked(rt.Family)
	p.st.Stats.Refreshes++
	return resp, nil
}

// clientCredentialsLocked serves grant_type=client_credentials (RFC 6749
// §4.4), which only confidential clients may use.
func (p *Provider) clientCredentialsLocked(clientID string, params map[string]string) (*tokenResponse, *oauthError) {
	if p.st.Clients[clientID].Secret == "" {
		return nil, &oauthError{status: 400, code: "unauthorized_client", desc: "public clients cannot use client_credentials"}
	}
	scope := normalizeScope(params["scope"])
	if !validScope(scope) {
		return nil, errScope("malformed scope")
	}
	resp := p.accessResponseLocked(clientID, "", scope)
	p.st.Stats.ClientCredentials++
	return resp, nil
}

// exchangeCodeLocked serves grant_type=authorization_code (RFC 6749 §4.1.3,
// with RFC 7636 §4.6 PKCE verification); it starts a new token family. A
// refused code stays unused unless it was already used or expired.
func (p *Provider) exchangeCodeLocked(clientID string, params map[string]string) (*tokenResponse, *oauthError) {
	code := params["code"]
	if code == "" {
		return nil, errRequest("missing code")
	}
	ac := p.st.Codes[code]
	if ac == nil || ac.ClientID != clientID {
		return nil, errGrant("unknown authorization code")
	}
	if ac.Used {
		// RFC 6749 §4.1.2: deny, and revoke what the code already produced.
		if fam := p.st.Families[ac.Family]; fam != nil && !fam.Revoked {
			fam.Revoked, fam.RevokedAt = true, p.now()
			p.st.Stats.FamiliesRevoked++
			p.dirty = true
		}
		return nil, errGrant("authorization code was already used")
	}
	if !p.now().Before(ac.ExpiresAt) {
		return nil, errGrant("authorization code expired")
	}
	if ac.RedirectURI != "" && params["redirect_uri"] != ac.RedirectURI {
		return nil, errGrant("redirect_uri does not match the authorization request")
	}
	if oerr := checkVerifier(ac.Challenge, params["code_verifier"]); oerr != nil {
		return nil, oerr
	}
	ac.Used = true
	ac.Family = p.newFamilyLocked(clientID, ac.Scope)
	resp := p.accessResponseLocked(clientID, ac.Family, ac.Scope)
	resp.RefreshToken = p.issueRefreshLocked(ac.Family)
	p.st.Stats.CodeExchanges++
	return resp, nil
}

// newFamilyLocked starts a token family and returns its id.
func (p *Provider) newFamilyLocked(clientID, scope string) string {
	p.st.NextFamily++
	id := "f" + strconv.FormatUint(p.st.NextFamily, 10)
	p.st.Families[id] = &family{ClientID: clientID, Scope: scope, Created: p.now()}
	p.dirty = true
	return id
}

// issueRefreshLocked mints the next live refresh token of a family.
func (p *Provider) issueRefreshLocked(familyID string) string {
	tok := randomToken("rt_")
	p.st.Refresh[tok] = &refreshToken{Family: familyID, IssuedAt: p.now()}
	p.st.Issued = append(p.st.Issued, tok)
	p.dirty = true
	return tok
}

// accessResponseLocked mints an access token and the response around it.
func (p *Provider) accessResponseLocked(clientID, familyID, scope string) *tokenResponse {
	now := p.now()
	exp := now.Add(p.ttl)
	tok := randomToken("at_")
	if p.jwt {
		tok = jwtToken(clientID, scope, now, exp)
	}
	if len(p.st.Access) >= max(maxAccessTokens, 2*p.swept) {
		for k, at := range p.st.Access {
			if !now.Before(at.ExpiresAt) {
				delete(p.st.Access, k)
			}
		}
		p.swept = len(p.st.Access)
	}
	p.st.Access[tok] = &accessToken{ClientID: clientID, Family: familyID, Scope: scope, ExpiresAt: exp}
	p.dirty = true
	resp := &tokenResponse{AccessToken: tok, TokenType: "Bearer", Scope: scope}
	if !p.omitExp {
		secs := int64(p.ttl / time.Second) // round down: never announce more life than there is
		resp.ExpiresIn = &secs
	}
	return resp
}

// authenticateLocked identifies the client per RFC 6749 §2.3.1: HTTP Basic
// with form-urlencoded id and secret, or client_id/client_secret in the body,
// never both (§2.3); a public client sends client_id alone.
func (p *Provider) authenticateLocked(authz string, params map[string]string) (string, *oauthError) {
	id, secret := params["client_id"], params["client_secret"]
	if authz != "" {
		bid, bsecret, ok := parseBasic(authz)
		if !ok {
			return "", errClient(true, "malformed or unsupported Authorization header")
		}
		if secret != "" {
			return "", errRequest("more than one client authentication method used")
		}
		if id != "" && id != bid {
			return "", errRequest("client_id in the body does not match the Authorization header")
		}
		c := p.st.Clients[bid]
		if c == nil || c.Secret == "" || !secretsEqual(bsecret, c.Secret) {
			return "", errClient(true, "client authentication failed")
		}
		return bid, nil
	}
	if id == "" {
		return "", errClient(false, "client authentication required")
	}
	c := p.st.Clients[id]
	switch {
	case c == nil:
		return "", errClient(false, "client authentication failed")
	case c.Secret == "" && secret != "":
		return "", errClient(false, "public client must not send a client_secret")
	case c.Secret != "" && secret == "":
		return "", errClient(false, "client_secret required")
	case c.Secret != "" && !secretsEqual(secret, c.Secret):
		return "", errClient(false, "client authentication failed")
	}
	return id, nil
}

// parseBasic decodes "Basic base64(urlenc(id):urlenc(secret))"; the
// form-urlencoding of both parts is what RFC 6749 §2.3.1 requires.
func parseBasic(authz string) (id, secret string, ok bool) {
	scheme, rest, found := strings.Cut(authz, " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if err != nil {
		return "", "", false
	}
	u, pw, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false
	}
	id, err1 := url.QueryUnescape(u)
	secret, err2 := url.QueryUnescape(pw)
	if err1 != nil || err2 != nil || id == "" {
		return "", "", false
	}
	return id, secret, true
}

func secretsEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// narrowScope checks a refresh request's scope against the family's: absent
// means the original grant (RFC 6749 §6), present must be a subset.
func narrowScope(requested, granted string) (string, *oauthError) {
	requested = normalizeScope(requested)
	if requested == "" {
		return granted, nil
	}
	if !validScope(requested) {
		return "", errScope("malformed scope")
	}
	have := strings.Fields(granted)
	for _, s := range strings.Fields(requested) {
		if !slices.Contains(have, s) {
			return "", errScope("requested scope exceeds the original grant")
		}
	}
	return requested, nil
}

// normalizeScope collapses whitespace in a space-delimited scope list.
func normalizeScope(s string) string { return strings.Join(strings.Fields(s), " ") }

// validScope checks the scope-token syntax of RFC 6749 §3.3
// (%x21 / %x23-5B / %x5D-7E between single spaces).
func validScope(s string) bool {
	for _, r := range s {
		if r != ' ' && (r < 0x21 || r > 0x7e || r == '"' || r == '\\') {
			return false
		}
	}
	return true
}

// randomToken returns prefix + 32 random bytes in unpadded base64url.
func randomToken(prefix string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program instead)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// jwtToken builds a JWT-shaped access token. The signature is random bytes:
// the token looks real to a client that only reads exp, and verifies nowhere.
func jwtToken(clientID, scope string, iat, exp time.Time) string {
	enc := base64.RawURLEncoding
	claims, _ := json.Marshal(struct {
		Iss      string `json:"iss"`
		Sub      string `json:"sub"`
		ClientID string `json:"client_id"`
		Scope    string `json:"scope,omitempty"`
		Iat      int64  `json:"iat"`
		Exp      int64  `json:"exp"`
		Jti      string `json:"jti"`
	}{"fakeprovider", clientID, clientID, scope, iat.Unix(), exp.Unix(), randomToken("")})
	sig := make([]byte, 32)
	_, _ = rand.Read(sig)
	return enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." +
		enc.EncodeToString(claims) + "." + enc.EncodeToString(sig)
}
