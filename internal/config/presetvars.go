package config

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/tokend/tokend/internal/grants"
)

// presetVar is a credential key that fills a preset's endpoint templates
// (grants.Preset.Vars): how to read it and what a value must look like
// before it becomes part of a URL.
type presetVar struct {
	get   func(cr *Credential) string
	check func(v string, allowInsecure bool) error
}

var (
	// tenantRE: an Entra tenant ID (GUID), a verified domain, or
	// common/organizations/consumers — one path segment.
	tenantRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$`)
	// domainRE: a host name with an optional port, nothing else.
	domainRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?$`)
)

// presetVars are the keys any preset's Vars may name. A preset naming one
// missing here is a programming error that TestPresetVarsAreKnown catches.
var presetVars = map[string]presetVar{
	"tenant": {
		get: func(cr *Credential) string { return cr.Tenant },
		check: func(v string, _ bool) error {
			if !tenantRE.MatchString(v) {
				return fmt.Errorf("must be a tenant ID, a domain, or common, organizations or consumers")
			}
			return nil
		},
	},
	"domain": {
		get: func(cr *Credential) string { return cr.Domain },
		check: func(v string, _ bool) error {
			if !domainRE.MatchString(v) {
				return fmt.Errorf("must be a host name such as example.okta.com (no scheme, no path)")
			}
			return nil
		},
	},
	"accounts_url": {
		get: func(cr *Credential) string { return cr.AccountsURL },
		check: func(v string, allowInsecure bool) error {
			if err := grants.CheckEndpointURL("accounts_url", v, allowInsecure); err != nil {
				return err
			}
			if u, err := url.Parse(v); err != nil || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
				return fmt.Errorf("must be the accounts server's origin, such as https://accounts.zoho.eu")
			}
			return nil
		},
	},
}

// presetVarNames is presetVars' keys, sorted.
var presetVarNames = slices.Sorted(maps.Keys(presetVars))

// expandPresetURLs fills p's endpoint templates with the credential's vars
// (or their defaults), in place. A template whose var is missing or
// invalid is dropped, so the endpoint stays unset and validation reports
// the var (validatePresetVars) rather than a URL with a placeholder.
func (cr *Credential) expandPresetURLs(p *grants.Preset) {
	if len(p.Vars) == 0 {
		return
	}
	value := func(k string) string {
		v, ok := presetVars[k]
		if !ok {
			return ""
		}
		s := v.get(cr)
		if s != "" && v.check(s, cr.AllowInsecureHTTP) != nil {
			return ""
		}
		return s
	}
	for _, u := range []*string{&p.TokenURL, &p.AuthorizeURL, &p.IntrospectionURL, &p.DeviceAuthorizationURL} {
		if *u == "" {
			continue
		}
		if out, ok := p.ExpandURL(*u, value); ok {
			*u = out
		} else {
			*u = ""
		}
	}
}

// validatePresetVars reports a var the credential's preset does not use
// ("is only used with provider ..."), an invalid value, and a required var
// left unset while no token_url or issuer replaces the preset's endpoints.
func (cr *Credential) validatePresetVars(key string) []error {
	p, ok := grants.LookupPreset(cr.Provider)
	if !ok {
		return nil // an unknown provider is reported on its own
	}
	var errs []error
	for _, k := range presetVarNames {
		v := presetVars[k].get(cr)
		def, used := p.Vars[k]
		switch {
		case v != "" && !used:
			errs = append(errs, fmt.Errorf("%s.%s: is only used with provider %s", key, k, quoteOr(presetVarUsers(k))))
		case v != "":
			if err := presetVars[k].check(v, cr.AllowInsecureHTTP); err != nil {
				errs = append(errs, fmt.Errorf("%s.%s: %w", key, k, err))
			}
		case used && def == "" && cr.Issuer == "" && cr.TokenURL == "":
			errs = append(errs, fmt.Errorf("%s.%s: is required with provider %q (or set token_url or issuer)", key, k, cr.Provider))
		}
	}
	return errs
}

// presetVarUsers lists the presets whose Vars name k, sorted.
func presetVarUsers(k string) []string {
	var names []string
	for _, n := range grants.PresetNames() {
		if p, _ := grants.LookupPreset(n); p.Vars != nil {
			if _, ok := p.Vars[k]; ok {
				names = append(names, n)
			}
		}
	}
	return names
}

// addPresetLimits gives the token endpoint host of each credential whose
// preset documents a request limit (grants.Preset.ProviderRate) a
// [[scheduler.provider]] table with that rate, unless the config has a
// table for the host (which wins whole). Called by applyDefaults after the
// credentials' presets and before the limits' own defaults, so the added
// table inherits max_per_provider and provider_burst like a written one.
func (c *Config) addPresetLimits() {
	for i := range c.Credentials {
		cr := &c.Credentials[i]
		p, ok := grants.LookupPreset(cr.Provider)
		if !ok || p.ProviderRate <= 0 || cr.ProviderKey() == "" {
			continue
		}
		host := strings.TrimPrefix(strings.TrimPrefix(cr.ProviderKey(), "https://"), "http://")
		name, _ := splitHostPort(host)
		if slices.ContainsFunc(c.Scheduler.Providers, func(l ProviderLimit) bool {
			h, _ := splitHostPort(l.Host)
			return strings.EqualFold(h, name)
		}) {
			continue
		}
		c.Scheduler.Providers = append(c.Scheduler.Providers, ProviderLimit{Host: name, Rate: ptr(p.ProviderRate)})
	}
}
