package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tokend/tokend/internal/grants"
)

// derivedTokenURL is the URL the credential's grant derives from its own
// options when token_url is unset (grants.GrantKind.Endpoint: github_app's
// installation URL, a service-account key's token_uri); "" when none.
func (cr *Credential) derivedTokenURL() string {
	k := cr.GrantKind()
	if k.Endpoint == nil {
		return ""
	}
	gc := cr.GrantsConfig()
	return k.Endpoint(&gc)
}

// grantReads reports whether the credential's grant kind reads key into its
// options (a shared key such as api_url).
func (cr *Credential) grantReads(key string) bool {
	k := lookupOptionKind("grant", cr.Grant)
	return k != nil && slices.Contains(k.keys, key)
}

// Dependencies lists the credentials whose current access token this
// credential's grant uses (grants.Dependent: token_exchange's
// subject_credential); nil when none.
func (cr *Credential) Dependencies() []string {
	if d, ok := cr.GrantOptions.(grants.Dependent); ok {
		return d.Dependencies()
	}
	return nil
}

// validateDependencies checks that every credential a credential depends on
// exists and that no chain of them leads back to where it started.
func (c *Config) validateDependencies() []error {
	var errs []error
	deps := map[string][]string{}
	for _, cr := range c.Credentials {
		deps[cr.Name] = cr.Dependencies()
	}
	for _, cr := range c.Credentials {
		for _, d := range deps[cr.Name] {
			if _, ok := deps[d]; !ok {
				errs = append(errs, fmt.Errorf("credential %q.subject_credential: no credential is called %q", cr.Name, d))
			}
		}
		if path := cycleFrom(cr.Name, deps); path != nil {
			errs = append(errs, fmt.Errorf("credential %q.subject_credential: the credentials depend on each other in a cycle (%s)", cr.Name, strings.Join(path, " -> ")))
		}
	}
	return errs
}

// cycleFrom returns a dependency path from start back to start, or nil.
func cycleFrom(start string, deps map[string][]string) []string {
	seen := map[string]bool{}
	var walk func(name string, path []string) []string
	walk = func(name string, path []string) []string {
		for _, d := range deps[name] {
			if d == start {
				return append(path, d)
			}
			if !seen[d] {
				seen[d] = true
				if p := walk(d, append(path, d)); p != nil {
					return p
				}
			}
		}
		return nil
	}
	return walk(start, []string{start})
}
