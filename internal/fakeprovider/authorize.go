package fakeprovider

import (
	"crypto/sha256"
	"encoding/base64"
	"html"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// serveAuthorize is the authorization endpoint (RFC 6749 §4.1.1) with the
// user's consent taken for granted. Requests that cannot be redirected
// safely (unknown client, bad redirect_uri) get a 400 page; other errors are
// redirected as RFC 6749 §4.1.2.1 says. On success it redirects to
// redirect_uri with code and state; without a redirect_uri it shows the code
// on a page, as Apicbase does for applications with no redirect URL.
func (p *Provider) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "the authorization endpoint accepts only GET", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	clientID, redirect, state := q.Get("client_id"), q.Get("redirect_uri"), q.Get("state")
	p.mu.Lock()
	_, known := p.st.Clients[clientID]
	p.mu.Unlock()
	if !known {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	var target *url.URL
	if redirect != "" {
		u, err := url.Parse(redirect)
		if err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" || (u.Scheme != "http" && u.Scheme != "https") {
			http.Error(w, "invalid redirect_uri", http.StatusBadRequest)
			return
		}
		target = u
	}
	fail := func(code, desc string) {
		if target == nil {
			http.Error(w, code+": "+desc, http.StatusBadRequest)
			return
		}
		redirectTo(w, r, target, url.Values{"error": {code}, "error_description": {desc}, "state": {state}})
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "response_type must be code")
		return
	case !validScope(q.Get("scope")):
		fail("invalid_scope", "malformed scope")
		return
	case challenge == "" && method != "":
		fail("invalid_request", "code_challenge_method without code_challenge")
		return
	case challenge != "" && method != "S256":
		fail("invalid_request", "only code_challenge_method=S256 is supported") // RFC 7636 §4.2: plain is for those who cannot hash
		return
	case challenge != "" && !validChallenge(challenge):
		fail("invalid_request", "malformed code_challenge")
		return
	case challenge == "" && p.pkce:
		fail("invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256")
		return
	}
	p.mu.Lock()
	code := p.issueCodeLocked(&authCode{ClientID: clientID, RedirectURI: redirect, Scope: normalizeScope(q.Get("scope")), Challenge: challenge})
	p.st.Stats.Authorizations++
	err := p.persistLocked()
	p.mu.Unlock()
	if err != nil {
		fail("server_error", "the provider could not save its state")
		return
	}
	if target == nil {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = io.WriteString(w, `<p>Your authorization code (valid for `+p.codeTTL.String()+`):</p><code id="code">`+html.EscapeString(code)+`</code>`)
		return
	}
	v := url.Values{"code": {code}}
	if state != "" {
		v.Set("state", state)
	}
	redirectTo(w, r, target, v)
}

// redirectTo sends a 302 to target with v added to its query.
func redirectTo(w http.ResponseWriter, r *http.Request, target *url.URL, v url.Values) {
	u := *target
	q := u.Query()
	for k, vs := range v {
		if vs[0] != "" {
			q.Set(k, vs[0])
		}
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// validChallenge checks an S256 challenge: 43 base64url characters.
func validChallenge(c string) bool {
	b, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil && len(b) == sha256.Size
}

// checkVerifier verifies a code_verifier against the code's challenge
// (RFC 7636 §4.6). A verifier for a code issued without a challenge is
// refused too (OAuth 2.1 §4.1.3): it means the client and server disagree.
func checkVerifier(challenge, verifier string) *oauthError {
	switch {
	case challenge == "" && verifier == "":
		return nil
	case challenge == "":
		return errGrant("code_verifier sent, but the authorization request had no code_challenge")
	case verifier == "":
		return errGrant("code_verifier required: the authorization request had a code_challenge")
	case len(verifier) < 43 || len(verifier) > 128 || strings.ContainsFunc(verifier, notUnreserved):
		return errRequest("code_verifier must be 43-128 unreserved characters (RFC 7636 §4.1)")
	}
	sum := sha256.Sum256([]byte(verifier))
	if !secretsEqual(base64.RawURLEncoding.EncodeToString(sum[:]), challenge) {
		return errGrant("PKCE verification failed: code_verifier does not match code_challenge")
	}
	return nil
}

func notUnreserved(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r))
}

// checkEncoding enforces Options.RequireBody on a token request.
func (p *Provider) checkEncoding(r *http.Request) *oauthError {
	if p.body == "" {
		return nil
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	want := "application/x-www-form-urlencoded"
	if p.body == "json" {
		want = "application/json"
	}
	if mt != want {
		return errRequest("this provider's token endpoint takes " + want)
	}
	return nil
}

// introspection is the RFC 7662 §2.2 answer.
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
}

// serveIntrospect is the introspection endpoint (RFC 7662): POST, form
// body, client authentication as at the token endpoint. A token that is
// unknown, expired, used, revoked or another client's is {"active":false}.
func (p *Provider) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	body, readErr := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	params, oerr := parseRequest(r, body, readErr)
	if oerr == nil {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
			oerr = errRequest("introspection requests are form-encoded (RFC 7662 §2.1)")
		}
	}
	if oerr != nil {
		writeError(w, oerr)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	clientID, oerr := p.authenticateLocked(r.Header.Get("Authorization"), params)
	if oerr != nil {
		writeError(w, oerr)
		return
	}
	p.st.Stats.Introspections++
	p.dirty = true
	_ = p.persistLocked()
	tok := params["token"]
	if tok == "" {
		writeError(w, errRequest("missing token"))
		return
	}
	now := p.now()
	if at, ok := p.st.Access[tok]; ok && at.ClientID == clientID && now.Before(at.ExpiresAt) &&
		(at.Family == "" || !p.st.Families[at.Family].Revoked) {
		writeJSON(w, http.StatusOK, introspection{Active: true, Scope: at.Scope, ClientID: clientID, TokenType: "Bearer", Exp: at.ExpiresAt.Unix()})
		return
	}
	if rt, ok := p.st.Refresh[tok]; ok {
		fam := p.st.Families[rt.Family]
		if fam.ClientID == clientID && !rt.Used && !fam.Revoked {
			writeJSON(w, http.StatusOK, introspection{Active: true, Scope: fam.Scope, ClientID: clientID, TokenType: "refresh_token"})
			return
		}
	}
	writeJSON(w, http.StatusOK, introspection{Active: false})
}
