package config

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/robfig/cron/v3"

	"github.com/tokend/tokend/internal/grants"
)

var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	// headerRE is an RFC 9110 token.
	headerRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// cronParser accepts standard 5-field specs and descriptors (@daily, @every 6h).
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a credential's schedule string.
func ParseSchedule(spec string) (cron.Schedule, error) { return cronParser.Parse(spec) }

// validate returns every problem in the decoded, defaulted config.
func (c *Config) validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.State.Backend != "file" && c.State.Backend != "vault" {
		bad("state.backend", "unknown backend %q (supported: file, vault)", c.State.Backend)
	}
	if c.State.EncryptionKeyFile != "" && c.State.Backend == "vault" {
		bad("state.encryption_key_file", "applies to the file backend only (Vault encrypts its storage itself)")
	}
	errs = append(errs, c.validateVault()...)
	if c.Scheduler.MaxConcurrent < 1 {
		bad("scheduler.max_concurrent", "must be at least 1")
	}
	errs = append(errs, c.Scheduler.validateLimits()...)
	errs = append(errs, c.Scheduler.validateTimeouts()...)
	if len(c.Credentials) == 0 {
		bad("credential", "no [[credential]] configured")
	}
	errs = append(errs, c.Status.validate()...)
	names := map[string]bool{}
	sinks := newSinkChecker()            // sinks.go
	opts := newOptionChecker()           // kindopts.go
	proxies := newProxyChecker(c.Status) // proxy.go
	for i := range c.Credentials {
		cr := &c.Credentials[i]
		key := fmt.Sprintf("credential[%d]", i)
		if cr.Name != "" {
			key = fmt.Sprintf("credential %q", cr.Name)
		}
		switch {
		case cr.Name == "":
			bad(key+".name", "is required")
		case !nameRE.MatchString(cr.Name):
			bad(key+".name", "must be 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit")
		case names[cr.Name]:
			bad(key+".name", "is used by more than one credential")
		}
		names[cr.Name] = true
		errs = append(errs, cr.validate(key)...)
		errs = append(errs, opts.check(key, cr)...)
		errs = append(errs, sinks.check(key, cr)...)
		errs = append(errs, proxies.check(key, cr)...)
	}
	errs = append(errs, c.validateDependencies()...) // dependencies.go
	return errs
}

func (cr *Credential) validate(key string) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", key, field, fmt.Sprintf(format, args...)))
	}
	if _, ok := grants.LookupPreset(cr.Provider); !ok {
		bad("provider", "unknown provider %q (supported: %s)", cr.Provider, strings.Join(grants.PresetNames(), ", "))
	}
	errs = append(errs, cr.validateKinds(key)...)
	if cr.TokenURL == "" && cr.Issuer == "" && cr.derivedTokenURL() == "" {
		bad("token_url", "is required (or issuer, to discover it)")
	} else if err := grants.Validate(cr.checkableGrantsConfig()); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", key, err))
	}
	errs = append(errs, cr.validateProvider(key)...)
	if cr.RefreshBefore.Duration < 0 {
		bad("refresh_before", "must not be negative")
	}
	if cr.DefaultLifetime.Duration < 0 {
		bad("default_lifetime", "must not be negative")
	}
	if cr.Schedule != "" {
		if _, err := ParseSchedule(cr.Schedule); err != nil {
			bad("schedule", "invalid schedule %q: %v", cr.Schedule, err)
		}
	}
	for h := range cr.Headers {
		if !headerRE.MatchString(h) {
			bad("headers", "invalid header name %q", h)
		}
	}
	if len(cr.Sinks) == 0 && len(cr.Proxies) == 0 {
		bad("sink", "at least one [[credential.sink]] is required (or a [[credential.proxy]])")
	}
	return errs
}

// GrantsConfig is the token-endpoint configuration of the credential.
func (cr *Credential) GrantsConfig() grants.Config {
	return grants.Config{
		Name:              cr.Name,
		Grant:             grants.Grant(cr.Grant),
		TokenURL:          cr.TokenURL,
		ClientID:          cr.ClientID,
		ClientSecret:      cr.Secret,
		AuthStyle:         grants.AuthStyle(cr.AuthStyle),
		Body:              grants.BodyFormat(cr.Body),
		Scopes:            cr.Scopes,
		Params:            cr.Params,
		Headers:           cr.Headers,
		DefaultLifetime:   cr.DefaultLifetime.Duration,
		AllowInsecureHTTP: cr.AllowInsecureHTTP,
		OmitGrantType:     cr.SendGrantType != nil && !*cr.SendGrantType,
		GrantOptions:      cr.GrantOptions,
		AuthOptions:       cr.AuthOptions,
		IntrospectionURL:  cr.IntrospectionURL,
		RootCAs:           cr.RootCAs,
		ExtraFields:       cr.ExtraFields,
	}
}
