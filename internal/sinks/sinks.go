// Package sinks defines the value that tokend delivers to its sinks. The
// implementations live in sub-packages (file, envfile, ...), one each, and the
// scheduler declares the small Sink interface it drives.
package sinks

import (
	"time"

	"github.com/tokend/tokend/internal/secret"
)

// Token is what a sink receives: the current access token of one credential
// and what a consumer needs to use it. It has no refresh-token field on
// purpose, so no sink can leak a refresh token.
type Token struct {
	Credential  string        // credential name from the config
	AccessToken secret.Secret // the bearer value consumers send
	TokenType   string        // usually "Bearer"
	Scope       string        // space-separated, as granted
	ExpiresAt   time.Time     // zero when the provider gave no expiry
	Generation  uint64        // increases by one on every successful refresh
	// Extra holds the token response's fields the credential keeps
	// (Salesforce's instance_url, Zoho's api_domain, id_token, ...), by
	// name; nil when it keeps none. Values are strings as the provider sent
	// them (JSON numbers and booleans in their JSON form).
	Extra map[string]string
}
