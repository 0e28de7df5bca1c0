package sinks

import "strings"

// AuthScheme is the Authorization header scheme for a token type: "Bearer"
// for an empty type or any spelling of bearer (the scheme is
// case-insensitive, RFC 6750 §1.1, but some servers only take "Bearer"),
// else the type as the provider sent it.
func AuthScheme(tokenType string) string {
	if tokenType == "" || strings.EqualFold(tokenType, "bearer") {
		return "Bearer"
	}
	return tokenType
}
