package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tokend/tokend/internal/grants"
)

// kindKey is a credential key that only some grant kinds or auth methods
// use (grants.GrantKind.Keys, grants.AuthMethod.Keys).
type kindKey struct {
	set func(cr *Credential) bool
	// problem is the message when the key is set but the credential's kind
	// does not use it; users is the quoted names of the kinds that do.
	problem func(cr *Credential, users string) string
}

// kindKeys are the keys the grant and auth-method tables may list in Keys:
// the kind-specific keys that are still fields of Credential, because a rule
// of their own ties them to the rest of it (send_grant_type: its default
// comes from the provider preset and only false belongs to a kind; api_key:
// one of the client secret's sources, checked and resolved with them). A new
// kind's keys belong in its grants.Options instead (kindopts.go). A kind that
// lists a key missing here is a programming error that the table tests catch.
var kindKeys = map[string]kindKey{
	"send_grant_type": {
		// true is what every grant does, so only false belongs to a kind.
		set:     func(cr *Credential) bool { return cr.SendGrantType != nil && !*cr.SendGrantType },
		problem: func(_ *Credential, users string) string { return "false is only possible with grant " + users },
	},
	"api_key": {
		set: func(cr *Credential) bool { return cr.APIKey != "" || cr.APIKeyFile != "" || cr.APIKeyEnv != "" },
		problem: func(cr *Credential, users string) string {
			return fmt.Sprintf("is only used with auth_style %s (use client_secret for %q)", users, cr.AuthStyle)
		},
	},
}

// kindKeyNames is kindKeys' keys, sorted: problems come in a stable order.
var kindKeyNames = slices.Sorted(maps.Keys(kindKeys))

// GrantKind is the credential's grant kind; the zero GrantKind when the
// grant is unknown (which validation reports).
func (cr *Credential) GrantKind() grants.GrantKind {
	k, _ := grants.LookupGrant(grants.Grant(cr.Grant))
	return k
}

// validateKinds checks the credential's grant and auth_style against their
// tables (an unknown one is one error naming the known ones), the keys and
// secrets they need, and the keys that belong to other kinds.
func (cr *Credential) validateKinds(key string) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", key, field, fmt.Sprintf(format, args...)))
	}
	kind, gerr := grants.LookupGrant(grants.Grant(cr.Grant))
	if gerr != nil || !kind.Configurable {
		bad("grant", "unknown grant %q (supported: %s)", cr.Grant, strings.Join(grants.GrantNames(), ", "))
	}
	method, aerr := grants.LookupAuthMethod(grants.AuthStyle(cr.AuthStyle))
	if aerr != nil {
		bad("auth_style", "%v", aerr)
	}
	// A grant that authenticates by itself needs no client_id with "none"
	// (RFC 7523 §3.1: client authentication is optional there).
	selfAuth := gerr == nil && kind.AuthOptional && method.Name == grants.AuthNone
	if cr.ClientID == "" && (aerr != nil || method.NeedsClientID) && !selfAuth {
		bad("client_id", "is required")
	}
	n := 0
	for _, v := range []string{cr.ClientSecret, cr.ClientSecretFile, cr.ClientSecretEnv, cr.APIKey, cr.APIKeyFile, cr.APIKeyEnv} {
		if v != "" {
			n++
		}
	}
	switch {
	case n > 1:
		bad("client_secret", "set only one of client_secret, client_secret_file, client_secret_env, api_key, api_key_file, api_key_env")
	case n == 0 && aerr == nil && method.Secret == grants.SecretAPIKey:
		bad("api_key_file", "an API key is required with auth_style %q (api_key_file, api_key_env or api_key)", cr.AuthStyle)
	case n == 0 && aerr == nil && method.Secret == grants.SecretClientSecret:
		bad("client_secret_file", "a client secret is required with auth_style %q (or use auth_style = \"none\")", cr.AuthStyle)
	}
	if gerr == nil && kind.Configurable {
		errs = append(errs, cr.checkKindKeys(key, kind.Keys, grantUsers)...)
	}
	if aerr == nil {
		errs = append(errs, cr.checkKindKeys(key, method.Keys, authUsers)...)
	}
	return errs
}

// checkKindKeys reports the keys that users lists for some kind, that are
// set, and that the credential's own kind (whose keys are own) does not use.
func (cr *Credential) checkKindKeys(key string, own []string, users func(k string) []string) []error {
	var errs []error
	for _, k := range kindKeyNames {
		if !kindKeys[k].set(cr) || slices.Contains(own, k) {
			continue
		}
		names := users(k)
		if len(names) == 0 {
			continue // a key of the other table (grant vs auth method)
		}
		errs = append(errs, fmt.Errorf("%s.%s: %s", key, k, kindKeys[k].problem(cr, quoteOr(names))))
	}
	return errs
}

// grantUsers lists the configurable grants that use key k.
func grantUsers(k string) []string {
	var names []string
	for _, g := range grants.GrantKinds() {
		if g.Configurable && slices.Contains(g.Keys, k) {
			names = append(names, string(g.Name))
		}
	}
	return names
}

// authUsers lists the auth methods that use key k.
func authUsers(k string) []string {
	var names []string
	for _, m := range grants.AuthMethods() {
		if slices.Contains(m.Keys, k) {
			names = append(names, string(m.Name))
		}
	}
	return names
}

// quoteOr is `"a"`, `"a" or "b"`, `"a", "b" or "c"`.
func quoteOr(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
