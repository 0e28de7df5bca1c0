package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"strings"
)

// ProviderLimit is one [[scheduler.provider]] table: the per-provider limits
// for the token endpoint at Host, replacing the [scheduler] max_per_provider,
// provider_rate and provider_burst for it. Unset keys take those values (after
// applyDefaults every pointer is set).
type ProviderLimit struct {
	// Host is the token endpoint's host name, optionally with ":port" to
	// match one port only (an entry with a port wins over one without).
	Host          string   `toml:"host"`
	MaxConcurrent *int     `toml:"max_concurrent"`
	Rate          *float64 `toml:"rate"`
	Burst         *int     `toml:"burst"`
}

// ProviderKey names the provider whose limits the credential's refreshes
// count against: its token endpoint's scheme://host:port (default port
// filled in), so credentials sharing a token endpoint host share the limits.
// Call it after presets and discovery have set token_url; "" when token_url
// is unset.
func (cr *Credential) ProviderKey() string {
	raw := cr.TokenURL
	if raw == "" {
		raw = cr.derivedTokenURL() // github_app's API host, a service account's token_uri
	}
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return ""
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[scheme]
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// LimitFor returns the limits for a provider key (Credential.ProviderKey):
// the matching [[scheduler.provider]] entry's, else the [scheduler] ones.
// Zero maxConcurrent or rate means no such bound; burst is at least 1.
func (s *Scheduler) LimitFor(providerKey string) (maxConcurrent int, rate float64, burst int) {
	maxConcurrent, rate, burst = s.MaxPerProvider, s.ProviderRate, s.ProviderBurst
	u, err := url.Parse(providerKey)
	if err != nil {
		return maxConcurrent, rate, burst
	}
	var best *ProviderLimit
	for i := range s.Providers {
		p := &s.Providers[i]
		host, port := splitHostPort(p.Host)
		if host == u.Hostname() && (port == "" || port == u.Port()) && (best == nil || port != "") {
			best = p
		}
	}
	if best != nil {
		maxConcurrent, rate, burst = deref(best.MaxConcurrent, maxConcurrent), deref(best.Rate, rate), deref(best.Burst, burst)
	}
	return maxConcurrent, rate, max(burst, 1)
}

// applyLimitDefaults fills unset per-provider keys (called by applyDefaults):
// an override inherits max_per_provider and provider_rate, and an explicit
// provider_burst; otherwise its burst is max(1, its concurrency bound).
// Invalid [scheduler] values are not inherited, so each problem is reported
// once, under the key that has it.
func (s *Scheduler) applyLimitDefaults() {
	for i := range s.Providers {
		p := &s.Providers[i]
		if p.MaxConcurrent == nil {
			p.MaxConcurrent = ptr(max(0, s.MaxPerProvider))
		}
		if p.Rate == nil {
			p.Rate = ptr(0.0)
			if validRate(s.ProviderRate) {
				*p.Rate = s.ProviderRate
			}
		}
		if p.Burst == nil {
			p.Burst = ptr(max(1, *p.MaxConcurrent))
			if s.ProviderBurst > 0 {
				*p.Burst = s.ProviderBurst
			}
		}
	}
	if s.ProviderBurst == 0 {
		s.ProviderBurst = max(1, s.MaxPerProvider)
	}
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func validRate(v float64) bool { return v >= 0 && !math.IsInf(v, 0) }

// validateLimits checks the per-provider keys, naming each bad one.
func (s *Scheduler) validateLimits() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	checkRate := func(key string, v float64) {
		if !validRate(v) { // NaN compares false
			bad(key, "must be a number of calls per second, 0 for unlimited")
		}
	}
	if s.MaxPerProvider < 0 {
		bad("scheduler.max_per_provider", "must not be negative (0: only max_concurrent applies)")
	}
	checkRate("scheduler.provider_rate", s.ProviderRate)
	if s.ProviderBurst < 0 {
		bad("scheduler.provider_burst", "must not be negative")
	}
	seen := map[string]int{}
	for i, p := range s.Providers {
		key := fmt.Sprintf("scheduler.provider[%d]", i)
		switch host, _ := splitHostPort(p.Host); {
		case p.Host == "":
			bad(key+".host", "is required (the token endpoint's host, like \"au-api.basiq.io\")")
		case host == "" || !validHost(p.Host):
			bad(key+".host", "%q must be a host name or host:port (like \"au-api.basiq.io\"), not a URL", p.Host)
		default:
			norm := strings.ToLower(p.Host)
			if j, dup := seen[norm]; dup {
				bad(key+".host", "%q is already listed in scheduler.provider[%d]", p.Host, j)
			}
			seen[norm] = i
		}
		if p.MaxConcurrent != nil && *p.MaxConcurrent < 0 {
			bad(key+".max_concurrent", "must not be negative (0: only scheduler.max_concurrent applies)")
		}
		if p.Rate != nil {
			checkRate(key+".rate", *p.Rate)
		}
		if p.Burst != nil && *p.Burst < 0 {
			bad(key+".burst", "must not be negative")
		}
	}
	return errs
}

// validHost accepts "host" and "host:port" (IPv6 in brackets), nothing else.
func validHost(h string) bool {
	u, err := url.Parse("//" + h)
	return err == nil && u.Host == h && u.User == nil && u.Path == "" && u.RawQuery == "" && u.Fragment == ""
}

// splitHostPort returns the lower-case host name and the port ("" when none).
func splitHostPort(h string) (host, port string) {
	u, err := url.Parse("//" + h)
	if err != nil {
		return "", ""
	}
	return strings.ToLower(u.Hostname()), u.Port()
}
