package fakeprovider

import (
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// GitHubApp is a strict fake of GitHub's installation-token endpoint
// ("Create an installation access token for an app", REST API 2022-11-28)
// and of one API call that uses the token. POST
// /app/installations/{id}/access_tokens needs `Accept:
// application/vnd.github+json`, `X-GitHub-Api-Version: 2022-11-28` and
// `Authorization: Bearer <app JWT>`: an RS256 JWT verified with the app's
// public key, `iss` the app id (or client id), `iat` backdated by at least
// 30 s (GitHub's advice is 60 s), `exp - iat` at most 10 minutes and `exp`
// in the future. The optional JSON body may carry `repositories` and
// `permissions`. It answers 201 with a new token each time
// ({token, expires_at, permissions, repository_selection}); errors are
// GitHub's {message, documentation_url}: 401 for a bad JWT, 404 for an
// unknown installation, 415 for a missing Accept. GET
// /installation/repositories answers 200 to a live token and 401 to an
// unknown or expired one. Safe for concurrent use.
type GitHubApp struct {
	appID, clientID, installation string
	key                           crypto.PublicKey
	now                           func() time.Time
	ttl                           time.Duration

	mu       sync.Mutex
	tokens   map[string]time.Time // token -> expiry
	minted   []string
	rejected []string // why each refused request was refused
	bodies   []map[string]any
	jwts     []string // every app JWT presented
	mintedAt map[string]time.Time
}

// NewGitHubApp serves installation id for the app (appID, clientID) whose
// public key is key; tokens live ttl (GitHub: one hour); now nil is time.Now.
func NewGitHubApp(appID, clientID, installation string, key crypto.PublicKey, ttl time.Duration, now func() time.Time) *GitHubApp {
	if now == nil {
		now = time.Now
	}
	return &GitHubApp{appID: appID, clientID: clientID, installation: installation, key: key, now: now, ttl: ttl,
		tokens: map[string]time.Time{}, mintedAt: map[string]time.Time{}}
}

// ServeHTTP routes the two endpoints.
func (g *GitHubApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/app/installations/") && strings.HasSuffix(r.URL.Path, "/access_tokens"):
		g.mint(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/installation/repositories":
		g.use(w, r)
	default:
		g.fail(w, http.StatusNotFound, "Not Found", "no route "+r.Method+" "+r.URL.Path)
	}
}

func (g *GitHubApp) mint(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/app/installations/"), "/access_tokens")
	switch {
	case r.Header.Get("Accept") != "application/vnd.github+json":
		g.fail(w, http.StatusUnsupportedMediaType, "Unsupported 'Accept' header", "accept "+r.Header.Get("Accept"))
		return
	case r.Header.Get("X-GitHub-Api-Version") != "2022-11-28":
		g.fail(w, http.StatusBadRequest, "Unsupported API version", "api version "+r.Header.Get("X-GitHub-Api-Version"))
		return
	}
	if why := g.checkAppJWT(r.Header.Get("Authorization")); why != "" {
		g.fail(w, http.StatusUnauthorized, "A JSON web token could not be decoded", why)
		return
	}
	if id != g.installation {
		g.fail(w, http.StatusNotFound, "Not Found", "installation "+id)
		return
	}
	var body map[string]any
	if b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16)); len(b) > 0 {
		if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &body) != nil {
			g.fail(w, http.StatusBadRequest, "Problems parsing JSON", "body")
			return
		}
		for k := range body {
			if k != "repositories" && k != "permissions" && k != "repository_ids" {
				g.fail(w, http.StatusUnprocessableEntity, "Invalid request.", "body key "+k)
				return
			}
		}
	}
	var raw [20]byte
	_, _ = rand.Read(raw[:])
	tok := "ghs_" + hex.EncodeToString(raw[:])[:36]
	now := g.now()
	exp := now.Add(g.ttl).UTC().Truncate(time.Second) // GitHub's expires_at has whole seconds
	g.mu.Lock()
	g.tokens[tok] = exp
	g.mintedAt[tok] = now
	g.minted = append(g.minted, tok)
	g.bodies = append(g.bodies, body)
	g.mu.Unlock()
	perms := map[string]string{"metadata": "read"}
	if p, ok := body["permissions"].(map[string]any); ok {
		for k, v := range p {
			perms[k], _ = v.(string)
		}
	}
	sel := "all"
	if _, ok := body["repositories"]; ok {
		sel = "selected"
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_at": exp.Format(time.RFC3339),
		"permissions": perms, "repository_selection": sel})
}

// checkAppJWT returns why the Authorization header is not a valid app JWT
// ("" when it is).
func (g *GitHubApp) checkAppJWT(auth string) string {
	raw, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		return "no Bearer authorization"
	}
	g.mu.Lock()
	g.jwts = append(g.jwts, raw)
	g.mu.Unlock()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return "not an RS256 JWT: " + err.Error()
	}
	var c struct {
		Iss string `json:"iss"`
		Iat *int64 `json:"iat"`
		Exp *int64 `json:"exp"`
	}
	if err := tok.Claims(g.key, &c); err != nil {
		return "signature: " + err.Error()
	}
	now := g.now().Unix()
	switch {
	case c.Iss == "" || (c.Iss != g.appID && c.Iss != g.clientID):
		return "iss " + c.Iss
	case c.Iat == nil || c.Exp == nil:
		return "iat or exp missing"
	case *c.Iat > now-30:
		return fmt.Sprintf("iat %d not backdated (now %d)", *c.Iat, now)
	case *c.Exp-*c.Iat > 600:
		return fmt.Sprintf("exp - iat = %d s > 10 min", *c.Exp-*c.Iat)
	case *c.Exp <= now:
		return "expired"
	}
	return ""
}

// use is an API call authenticated by an installation token.
func (g *GitHubApp) use(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		tok, _ = strings.CutPrefix(auth, "token ")
	}
	g.mu.Lock()
	exp, known := g.tokens[tok]
	g.mu.Unlock()
	if !known || !g.now().Before(exp) {
		g.fail(w, http.StatusUnauthorized, "Bad credentials", "installation token unknown or expired")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"total_count":1,"repositories":[{"name":"infra"}]}`)
}

func (g *GitHubApp) fail(w http.ResponseWriter, status int, message, why string) {
	g.mu.Lock()
	g.rejected = append(g.rejected, why)
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": message,
		"documentation_url": "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app", "status": fmt.Sprint(status)})
}

// Minted lists the tokens issued, in order.
func (g *GitHubApp) Minted() []string {
	return locked(&g.mu, &g.minted)
}

// Rejected lists why each refused request was refused.
func (g *GitHubApp) Rejected() []string {
	return locked(&g.mu, &g.rejected)
}

// Bodies lists the JSON bodies of the successful mints (nil: none sent).
func (g *GitHubApp) Bodies() []map[string]any {
	return locked(&g.mu, &g.bodies)
}

// AppJWTs lists every app JWT presented, in order.
func (g *GitHubApp) AppJWTs() []string {
	return locked(&g.mu, &g.jwts)
}

// Expiry is when token expires (zero for a token never minted).
func (g *GitHubApp) Expiry(token string) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.tokens[token]
}

// MintedAt is when token was minted (zero for a token never minted).
func (g *GitHubApp) MintedAt(token string) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.mintedAt[token]
}

// locked returns a copy of list read under mu: what the fakes' accessors
// hand to tests while the server may still be appending.
func locked[T any](mu *sync.Mutex, list *[]T) []T {
	mu.Lock()
	defer mu.Unlock()
	return append([]T(nil), (*list)...)
}
