package config

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/tokend/tokend/internal/grants"
)

// applyPreset fills what the credential leaves unset from its provider's
// preset (grants.LookupPreset). Set keys always win; headers are merged, a
// configured header replacing the preset's of the same name in any case.
// With issuer set, endpoints come from discovery (or explicit keys), not
// from the preset. An unknown provider is left for validate to report.
func (cr *Credential) applyPreset() {
	p, ok := grants.LookupPreset(cr.Provider)
	if !ok {
		return
	}
	if cr.Grant == "" {
		cr.Grant = string(p.Grant)
	}
	if cr.Issuer == "" {
		cr.expandPresetURLs(&p) // {tenant}, {domain}, {accounts_url} (presetvars.go)
		if cr.TokenURL == "" && p.TokenPath != "" {
			base := cr.APIURL
			if base == "" {
				base = p.APIURL
			}
			cr.TokenURL = strings.TrimRight(base, "/") + p.TokenPath
		}
		cr.TokenURL = orDefault(cr.TokenURL, p.TokenURL)
		cr.AuthorizeURL = orDefault(cr.AuthorizeURL, p.AuthorizeURL)
		cr.IntrospectionURL = orDefault(cr.IntrospectionURL, p.IntrospectionURL)
		cr.DeviceAuthorizationURL = orDefault(cr.DeviceAuthorizationURL, p.DeviceAuthorizationURL)
	}
	if cr.ExtraFields == nil { // `extra_fields = []` keeps none
		cr.ExtraFields = p.ExtraFields
	}
	cr.AuthStyle = orDefault(cr.AuthStyle, string(p.AuthStyle))
	cr.Body = orDefault(cr.Body, string(p.Body))
	if cr.Scopes == nil { // `scopes = []` keeps an empty list
		cr.Scopes = p.Scopes
	}
	if len(p.Headers) > 0 {
		merged := p.Headers
		for k, v := range cr.Headers {
			for pk := range merged {
				if http.CanonicalHeaderKey(pk) == http.CanonicalHeaderKey(k) {
					delete(merged, pk)
				}
			}
			merged[k] = v
		}
		cr.Headers = merged
	}
	if cr.PKCE == nil {
		v := p.PKCE
		cr.PKCE = &v
	}
	if cr.SendGrantType == nil {
		v := !p.OmitGrantType
		cr.SendGrantType = &v
	}
	if cr.DefaultLifetime.Duration == 0 {
		cr.DefaultLifetime.Duration = p.Lifetime
	}
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// UsesPKCE reports whether `tokend authorize` sends a PKCE S256 challenge
// for this credential (the `pkce` key, defaulted from the preset).
func (cr *Credential) UsesPKCE() bool { return cr.PKCE == nil || *cr.PKCE }

// checkableGrantsConfig is GrantsConfig with the issuer standing in for a
// token_url that discovery will fill in at start-up, so that everything else
// is still validated now. An unknown grant or auth style (validateKinds
// reports it, once) is replaced by the default, for the same reason.
func (cr *Credential) checkableGrantsConfig() grants.Config {
	gc := cr.GrantsConfig()
	if gc.TokenURL == "" {
		gc.TokenURL = cr.Issuer
	}
	if _, err := grants.LookupGrant(gc.Grant); err != nil {
		gc.Grant = grants.DefaultGrant
	}
	if _, err := grants.LookupAuthMethod(gc.AuthStyle); err != nil {
		gc.AuthStyle = grants.DefaultAuthStyle
	}
	return gc
}

// validateProvider checks the preset and bootstrap keys.
func (cr *Credential) validateProvider(key string) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", key, field, fmt.Sprintf(format, args...)))
	}
	for _, u := range []struct{ key, val string }{
		{"authorize_url", cr.AuthorizeURL}, {"issuer", cr.Issuer}, {"api_url", cr.APIURL},
		{"device_authorization_url", cr.DeviceAuthorizationURL},
	} {
		if u.val == "" {
			continue
		}
		if err := grants.CheckEndpointURL(u.key, u.val, cr.AllowInsecureHTTP); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
	}
	if cr.Issuer != "" {
		if u, err := url.Parse(cr.Issuer); err == nil && (u.RawQuery != "" || u.Fragment != "") {
			bad("issuer", "must not have a query or fragment (RFC 8414 §2)")
		}
	}
	if cr.RedirectURI != "" {
		if err := checkRedirectURI(cr.RedirectURI); err != nil {
			bad("redirect_uri", "%v", err)
		}
	}
	if p, ok := grants.LookupPreset(cr.Provider); ok && cr.APIURL != "" && p.TokenPath == "" && !cr.grantReads("api_url") {
		bad("api_url", "is only used by providers whose token endpoint lives on an API host (basiq) and by grant github_app")
	}
	errs = append(errs, cr.validatePresetVars(key)...)
	return errs
}

// checkRedirectURI accepts https URLs and http URLs to a loopback host (the
// ones `tokend authorize` can listen on, RFC 8252 §7.3).
func checkRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("must be an absolute URL")
	}
	if u.Fragment != "" {
		return fmt.Errorf("must not have a fragment (RFC 6749 §3.1.2)")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if IsLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("http:// is only allowed to 127.0.0.1, [::1] or localhost (where tokend authorize listens)")
	}
	return fmt.Errorf("scheme %q is not supported (https, or http to a loopback host)", u.Scheme)
}

// IsLoopbackHost reports whether host is "localhost" or a loopback IP
// literal (127.0.0.0/8, ::1). Names other than localhost are not resolved.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
