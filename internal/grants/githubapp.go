package grants

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tokend/tokend/internal/jwtsign"
	"github.com/tokend/tokend/internal/secret"
)

// GrantGitHubApp mints GitHub App installation tokens: an app JWT signed
// with the app's key is exchanged at POST
// {api_url}/app/installations/{installation_id}/access_tokens for a token
// that lives one hour and cannot be renewed, so tokend mints a new one
// ahead of expiry. This is GitHub's REST API, not an OAuth token endpoint.
const GrantGitHubApp Grant = "github_app"

// GitHubAPIURL is api.github.com, the default api_url.
const GitHubAPIURL = "https://api.github.com"

// gitHubAPIVersion is the REST API version tokend speaks.
const gitHubAPIVersion = "2022-11-28"

// The app JWT's timing (GitHub "Generating a JSON Web Token for a GitHub
// App"): iat 60 s in the past against clock drift, exp at most 10 minutes
// after iat — 9 leave a minute for a clock that runs ahead of GitHub's.
const (
	gitHubJWTBackdate = 60 * time.Second
	gitHubJWTLifetime = 9 * time.Minute
)

// GitHubAppOptions are the github_app grant's own keys.
type GitHubAppOptions struct {
	KeyOptions
	// AppID is the app's numeric id, the JWT's iss; client_id (Iv1...)
	// may be given instead.
	AppID string `toml:"app_id"`
	// InstallationID is the installation whose token is minted.
	InstallationID string `toml:"installation_id"`
	// APIURL is the REST API root: https://api.github.com (default) or
	// https://HOST/api/v3 for GitHub Enterprise Server.
	APIURL string `toml:"api_url"`
	// Repositories narrows the token to these repositories (names).
	Repositories []string `toml:"repositories"`
	// Permissions narrows the token's permissions ({contents = "read"}).
	Permissions map[string]string `toml:"permissions"`
}

// Defaults implements Options.
func (o *GitHubAppOptions) Defaults() {
	if o.APIURL == "" {
		o.APIURL = GitHubAPIURL
	}
}

// Validate implements Options.
func (o *GitHubAppOptions) Validate(bad func(field, format string, args ...any)) {
	o.validateKey(bad, true)
	if slices.Contains(jwtsign.KeyAlgs, o.SigningAlg) && o.SigningAlg != jwtsign.RS256 {
		bad("signing_alg", "GitHub App JWTs are RS256")
	}
	if !isDigits(o.InstallationID) {
		bad("installation_id", "is required: the installation's numeric id")
	}
	if o.AppID != "" && !isDigits(o.AppID) {
		bad("app_id", "must be the app's numeric id (or set client_id instead)")
	}
	for _, r := range o.Repositories {
		if r == "" || strings.ContainsAny(r, "/ ") {
			bad("repositories", "%q is not a repository name (no owner, no spaces)", r)
		}
	}
}

// ResolveSecrets implements SecretOptions: it reads the app's private key.
func (o *GitHubAppOptions) ResolveSecrets(read func(path string) (secret.Secret, error)) error {
	return o.resolveKey(read)
}

func gitHubAppOptions(cfg *Config) *GitHubAppOptions {
	if o, ok := cfg.GrantOptions.(*GitHubAppOptions); ok && o != nil {
		return o
	}
	o := &GitHubAppOptions{}
	o.Defaults()
	return o
}

// gitHubAppEndpoint is the installation's access_tokens URL.
func gitHubAppEndpoint(cfg *Config) string {
	o := gitHubAppOptions(cfg)
	if o.InstallationID == "" {
		return ""
	}
	return strings.TrimRight(o.APIURL, "/") + "/app/installations/" + o.InstallationID + "/access_tokens"
}

// validateGitHubApp checks what the options cannot see alone.
func validateGitHubApp(cfg *Config) []error {
	var errs []error
	o := gitHubAppOptions(cfg)
	if o.AppID == "" && cfg.ClientID == "" {
		errs = append(errs, fmt.Errorf("grant %s needs app_id (or client_id)", GrantGitHubApp))
	}
	if cfg.AuthStyle != AuthNone {
		errs = append(errs, fmt.Errorf("grant %s authenticates with its app JWT: auth_style %q does not apply", GrantGitHubApp, cfg.AuthStyle))
	}
	if len(cfg.Scopes) > 0 || len(cfg.Params) > 0 {
		errs = append(errs, fmt.Errorf("grant %s takes no scopes or params (use permissions and repositories)", GrantGitHubApp))
	}
	return errs
}

// gitHubAppSend mints an installation token.
func gitHubAppSend(ctx context.Context, c *Client, _ GrantInput) (Token, *Error) {
	cfg := &c.cfg
	o := gitHubAppOptions(cfg)
	s, e := o.signer("")
	if e != nil {
		return Token{}, e
	}
	now := c.now()
	iat := now.Add(-gitHubJWTBackdate)
	appJWT, err := s.Sign(jwtsign.Claims{Issuer: or(o.AppID, cfg.ClientID), IssuedAt: iat, Expiry: iat.Add(gitHubJWTLifetime)})
	if err != nil {
		return Token{}, signingError(err)
	}
	var body []byte
	if len(o.Repositories) > 0 || len(o.Permissions) > 0 {
		req := struct {
			Repositories []string          `json:"repositories,omitempty"`
			Permissions  map[string]string `json:"permissions,omitempty"`
		}{o.Repositories, o.Permissions}
		body, _ = json.Marshal(req) // strings only: cannot fail
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, bytes.NewReader(body))
	if err != nil {
		return Token{}, &Error{Code: CodeInvalidConfig, Class: ClassPermanent, Description: "building request", Err: err}
	}
	for k, v := range cfg.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", gitHubAPIVersion)
	req.Header.Set("Authorization", "Bearer "+appJWT)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.roundTrip(req, []string{appJWT}, parseGitHubAnswer)
}

// parseGitHubAnswer reads the answer of the access_tokens endpoint: 201
// with {token, expires_at, permissions, repository_selection}; an error is
// {message, documentation_url}.
func parseGitHubAnswer(resp *http.Response, body []byte, sent time.Time, sensitive []string) (Token, *Error) {
	var a struct {
		Token     string `json:"token"`
		ExpiresAt string `json:"expires_at"`
		Message   string `json:"message"`
	}
	ok := json.Unmarshal(body, &a) == nil
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Token{}, gitHubError(resp, a.Message, append(sensitive, a.Token), sent)
	}
	switch {
	case !ok:
		return Token{}, invalidResponse(resp.StatusCode, "GitHub answer is not JSON")
	case a.Token == "" || !isVSChars(a.Token):
		return Token{}, invalidResponse(resp.StatusCode, "GitHub answer has no usable token")
	}
	tok := Token{AccessToken: secret.New(a.Token), TokenType: "Bearer", IssuedAt: sent}
	if exp, err := time.Parse(time.RFC3339, a.ExpiresAt); err == nil && exp.After(sent) {
		if exp.Sub(sent) > maxLifetime {
			exp = sent.Add(maxLifetime)
		}
		tok.ExpiresAt, tok.ExpirySource = exp, "expires_at"
	} else {
		// GitHub documents one hour; a missing expires_at is an API change.
		return Token{}, invalidResponse(resp.StatusCode, "GitHub answer has no future expires_at")
	}
	return tok, nil
}

// gitHubError classifies a failed GitHub answer: 401 (the app JWT was
// refused: wrong key, app id or clock), 403 (no access), 404 (no such
// installation) and 422 are permanent; 429, 5xx and a 403 that is a rate
// limit (Retry-After, or x-ratelimit-remaining 0) are transient, and wait
// until x-ratelimit-reset when there is no Retry-After.
func gitHubError(resp *http.Response, message string, sensitive []string, now time.Time) *Error {
	status := resp.StatusCode
	code := map[int]string{401: "bad_credentials", 403: "forbidden", 404: "not_found", 422: "validation_failed"}[status]
	if code == "" {
		code = CodeHTTPStatus
	}
	e := &Error{Status: status, Code: code, Description: clean(message, maxDescription, sensitive), Class: classify(status, code)}
	rateLimited := resp.Header.Get("Retry-After") != "" || resp.Header.Get("X-Ratelimit-Remaining") == "0"
	if status == http.StatusForbidden && rateLimited || status == http.StatusTooManyRequests {
		e.Code, e.Class = "rate_limited", ClassTransient
		if n, err := strconv.ParseInt(resp.Header.Get("X-Ratelimit-Reset"), 10, 64); err == nil && resp.Header.Get("Retry-After") == "" {
			if d := time.Unix(n, 0).Sub(now); d > 0 {
				e.RetryAfter = min(d, time.Hour)
			}
		}
	}
	return e
}
