package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"

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

// validate returns every problem in the decoded, defaulted config. The
// credentials marked in skipped did not decode (already reported): only
// their names are checked.
func (c *Config) validate(skipped []bool) []error {
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
	errs = append(errs, c.durationProblems()...)
	if c.Scheduler.MaxConcurrent < 1 {
		bad("scheduler.max_concurrent", "must be at least 1")
	}
	errs = append(errs, c.Scheduler.validateLimits()...)
	errs = append(errs, c.Scheduler.validateTimeouts()...)
	if len(c.Credentials) == 0 {
		bad("credential", "no [[credential]] configured")
	}
	errs = append(errs, c.Status.validate()...)
	names := map[string]int{}            // name -> 1-based index of its first credential
	sinks := newSinkChecker()            // sinks.go
	opts := newOptionChecker()           // kindopts.go
	proxies := newProxyChecker(c.Status) // proxy.go
	for i := range c.Credentials {
		cr := &c.Credentials[i]
		key := credKey(i, cr.Name)
		switch {
		case cr.Name == "":
			bad(key+".name", "is required")
		case !nameRE.MatchString(cr.Name):
			bad(key+".name", "must be 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit")
		case names[cr.Name] > 0: // located at this one, naming the first's place (decoder.place)
			errs = append(errs, &Problem{Credential: cr.Name, Key: "name", Msg: "is used by more than one credential", at: i + 1, also: names[cr.Name]})
		}
		if names[cr.Name] == 0 {
			names[cr.Name] = i + 1
		}
		if i < len(skipped) && skipped[i] {
			continue
		}
		errs = append(errs, atCredential(i, cr.validate(key), opts.check(key, cr), sinks.check(key, cr), proxies.check(key, cr))...)
	}
	errs = append(errs, c.validateDependencies()...) // dependencies.go
	return errs
}

// atCredential makes each problem of the lists, all about the i-th
// credential, a *Problem that names it by index (Problem.at) besides its
// name, so that one whose name another credential has too is still placed
// in its own table and file (decoder.place).
func atCredential(i int, lists ...[]error) []error {
	var out []error
	for _, errs := range lists {
		for _, e := range errs {
			for _, pe := range Problems(e) {
				p := toProblem(pe)
				if p.at == 0 {
					p.at = i + 1
				}
				out = append(out, p)
			}
		}
	}
	return out
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
		if inner := errors.Unwrap(err); inner != nil {
			err = inner // the problems, without grants' `credential "x": invalid token endpoint config` prefix
		}
		for _, p := range Problems(err) {
			// "token_url uses http://..." is a problem of the key token_url
			if field, rest, ok := strings.Cut(p.Error(), " "); ok && slices.Contains(credentialKeys(), field) {
				errs = append(errs, fmt.Errorf("%s.%s: %s", key, field, rest))
				continue
			}
			errs = append(errs, fmt.Errorf("%s: %w", key, p))
		}
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

// durationProblems reports every duration of the config that did not parse,
// under its key.
func (c *Config) durationProblems() []error {
	var errs []error
	check := func(key string, d Duration) {
		if msg := d.problem(); msg != "" {
			errs = append(errs, fmt.Errorf("%s: %s", key, msg))
		}
	}
	check("state.claim_ttl", c.State.ClaimTTL)
	check("scheduler.shutdown_grace", c.Scheduler.ShutdownGrace)
	check("scheduler.request_timeout", c.Scheduler.RequestTimeout)
	for i := range c.Credentials {
		cr := &c.Credentials[i]
		key := credKey(i, cr.Name)
		n := len(errs)
		check(key+".refresh_before", cr.RefreshBefore)
		check(key+".default_lifetime", cr.DefaultLifetime)
		for j, s := range cr.Sinks {
			check(fmt.Sprintf("%s.sink[%d].hook_timeout", key, j+1), s.HookTimeout)
		}
		if len(errs) > n {
			errs = append(errs[:n], atCredential(i, errs[n:])...)
		}
	}
	return errs
}

// credentialKeys are the keys of Credential's own fields.
var credentialKeys = sync.OnceValue(func() []string { return tomlKeysOf(reflect.TypeFor[Credential]()) })
