package fakeprovider

import "time"

// BasicTechOptions configures a Provider the way Basic.tech's docs describe
// its OAuth endpoints: /auth/authorize and /auth/token, JSON token requests
// only, one-hour JWT access tokens, refresh tokens that rotate. PKCE is
// "optional, recommended" there; the fake requires it, to prove tokend
// sends it. Register the client with AddClient(id, "") (a public client).
func BasicTechOptions() Options {
	return Options{
		AccessTTL:   time.Hour,
		JWTAccess:   true,
		RequireBody: "json",
		RequirePKCE: true,
		Paths:       Paths{Token: "/auth/token", Authorize: "/auth/authorize", Introspect: "/auth/introspect"},
	}
}

// ApicbaseOptions configures a Provider the way Apicbase's docs describe
// it: /oauth/authorize/, /oauth/token/ and /oauth/introspect/ (trailing
// slashes included), form-encoded requests only, client credentials in the
// body or a Basic header, seven-day access tokens, single-use refresh tokens
// that never expire (reuse is invalid_grant), and authorization codes that
// expire after one minute.
func ApicbaseOptions() Options {
	return Options{
		AccessTTL:   7 * 24 * time.Hour,
		CodeTTL:     time.Minute,
		RequireBody: "form",
		Paths:       Paths{Token: "/oauth/token/", Authorize: "/oauth/authorize/", Introspect: "/oauth/introspect/"},
	}
}
