// Package discovery fills a credential's endpoints from its authorization
// server's metadata: RFC 8414 (/.well-known/oauth-authorization-server),
// then OpenID Connect Discovery 1.0 (/.well-known/openid-configuration).
//
// It runs at start-up of `tokend run` and `tokend authorize` (it needs the
// network), never during `tokend validate`. A document whose issuer differs
// from the configured one is refused (RFC 8414 §3.3): it could point tokend's
// secrets at someone else's token endpoint.
package discovery

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/grants"
)

// maxDocument caps a metadata document; real ones are a few KiB.
const maxDocument = 1 << 20

// defaultTimeout bounds one metadata request with the package's own client.
const defaultTimeout = 15 * time.Second

// ErrIssuerMismatch is wrapped when a document names another issuer.
var ErrIssuerMismatch = errors.New("metadata issuer does not match the configured issuer")

// ErrUnavailable is wrapped when the issuer could not answer: no
// connection, a timeout, HTTP 408, 429 or 5xx, or a body cut short. Other
// failures are answers (no document, another issuer, not JSON): the
// configuration is wrong, not the network.
var ErrUnavailable = errors.New("issuer unavailable")

// Metadata is the part of an authorization server's metadata (RFC 8414 §2)
// tokend uses.
type Metadata struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	IntrospectionEndpoint string   `json:"introspection_endpoint"`
	CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
	// DeviceAuthorizationEndpoint is RFC 8628 §4's metadata.
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint"`
	// URL is the document the metadata came from.
	URL string `json:"-"`
}

// WellKnownURLs returns the documents tried for issuer, in order: the RFC
// 8414 §3.1 form (well-known path inserted before the issuer's path), then
// the OpenID Connect form (appended to it).
func WellKnownURLs(issuer string) ([]string, error) {
	u, err := url.Parse(issuer)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return nil, errors.New("issuer must be an absolute URL")
	}
	origin, path := u.Scheme+"://"+u.Host, strings.TrimRight(u.EscapedPath(), "/")
	return []string{
		origin + "/.well-known/oauth-authorization-server" + path,
		origin + path + "/.well-known/openid-configuration",
	}, nil
}

// Fetch returns issuer's metadata. It tries the RFC 8414 document, and the
// OpenID Connect one only if the first is absent (HTTP 404 or 410). A
// document must be JSON, name exactly issuer and give a token_endpoint. hc
// nil means a client with a 15 s timeout. Errors never contain a body.
func Fetch(ctx context.Context, hc *http.Client, issuer string) (Metadata, error) {
	if hc == nil {
		hc = &http.Client{Timeout: defaultTimeout}
	}
	urls, err := WellKnownURLs(issuer)
	if err != nil {
		return Metadata{}, err
	}
	var errs []error
	for _, u := range urls {
		md, found, err := fetchOne(ctx, hc, u)
		if err != nil {
			return Metadata{}, err
		}
		if !found {
			errs = append(errs, fmt.Errorf("%s: not found", u))
			continue
		}
		if md.Issuer != issuer {
			return Metadata{}, fmt.Errorf("%s names issuer %q, configured %q: %w", u, md.Issuer, issuer, ErrIssuerMismatch)
		}
		if md.TokenEndpoint == "" {
			return Metadata{}, fmt.Errorf("%s has no token_endpoint", u)
		}
		return md, nil
	}
	return Metadata{}, fmt.Errorf("no authorization server metadata for %s: %w", issuer, errors.Join(errs...))
}

// fetchOne GETs one document. found is false for 404/410.
func fetchOne(ctx context.Context, hc *http.Client, u string) (Metadata, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Metadata{}, false, fmt.Errorf("metadata request %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return Metadata{}, false, fmt.Errorf("fetching metadata: %w: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	switch c := resp.StatusCode; {
	case c == http.StatusNotFound || c == http.StatusGone:
		return Metadata{}, false, nil
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return Metadata{}, false, fmt.Errorf("fetching metadata %s: HTTP %d: %w", u, c, ErrUnavailable)
	case c != http.StatusOK:
		return Metadata{}, false, fmt.Errorf("fetching metadata %s: HTTP %d", u, c)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return Metadata{}, false, fmt.Errorf("reading metadata %s: %w: %w", u, ErrUnavailable, err)
	}
	if len(body) > maxDocument {
		return Metadata{}, false, fmt.Errorf("metadata %s is larger than 1 MiB", u)
	}
	var md Metadata
	if err := json.Unmarshal(body, &md); err != nil {
		return Metadata{}, false, fmt.Errorf("metadata %s is not a JSON object", u)
	}
	md.URL = u
	return md, true, nil
}

// Apply runs ApplyCredential for every credential that sets issuer,
// fetching each issuer's metadata once, and returns every problem at once.
func Apply(ctx context.Context, cfg *config.Config, hc *http.Client) error {
	cache := map[string]Metadata{}
	var errs []error
	for i := range cfg.Credentials {
		if err := applyCached(ctx, &cfg.Credentials[i], hc, cache); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ApplyCredential fetches cr's issuer metadata (if cr sets issuer) and fills
// token_url, authorize_url, introspection_url and device_authorization_url
// where cr does not set them, then checks the result as `tokend validate`
// checks a token_url.
func ApplyCredential(ctx context.Context, cr *config.Credential, hc *http.Client) error {
	return applyCached(ctx, cr, hc, map[string]Metadata{})
}

func applyCached(ctx context.Context, cr *config.Credential, hc *http.Client, cache map[string]Metadata) error {
	if cr.Issuer == "" {
		return nil
	}
	md, ok := cache[cr.Issuer]
	if !ok {
		var err error
		if md, err = Fetch(ctx, trusting(hc, cr), cr.Issuer); err != nil {
			return fmt.Errorf("credential %q: discovery: %w", cr.Name, err)
		}
		cache[cr.Issuer] = md
	}
	return check(cr, md)
}

// check fills cr from md and checks the result.
func check(cr *config.Credential, md Metadata) error {
	fill(cr, md)
	var errs []error
	if err := grants.Validate(cr.GrantsConfig()); err != nil {
		errs = append(errs, err)
	}
	if cr.AuthorizeURL != "" {
		errs = append(errs, grants.CheckEndpointURL("authorize_url", cr.AuthorizeURL, cr.AllowInsecureHTTP))
	}
	if cr.DeviceAuthorizationURL != "" {
		errs = append(errs, grants.CheckEndpointURL("device_authorization_url", cr.DeviceAuthorizationURL, cr.AllowInsecureHTTP))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("credential %q: endpoints discovered at %s: %w", cr.Name, md.URL, err)
	}
	return nil
}

// trusting is hc, or, when hc is nil and the credential has a ca_file, a
// client that trusts those CAs for its issuer (an internal Keycloak or
// Okta behind a private CA), proxies still from the environment.
func trusting(hc *http.Client, cr *config.Credential) *http.Client {
	if hc != nil || cr.RootCAs == nil {
		return hc
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: cr.RootCAs, MinVersion: tls.VersionTLS12}
	return &http.Client{Timeout: defaultTimeout, Transport: tr}
}

// fill copies discovered endpoints into the keys the credential left empty.
func fill(cr *config.Credential, md Metadata) {
	if cr.TokenURL == "" {
		cr.TokenURL = md.TokenEndpoint
	}
	if cr.AuthorizeURL == "" {
		cr.AuthorizeURL = md.AuthorizationEndpoint
	}
	if cr.IntrospectionURL == "" {
		cr.IntrospectionURL = md.IntrospectionEndpoint
	}
	if cr.DeviceAuthorizationURL == "" {
		cr.DeviceAuthorizationURL = md.DeviceAuthorizationEndpoint
	}
}
