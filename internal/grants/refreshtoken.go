package grants

import "net/url"

// RefreshTokenOptions are the refresh_token grant's own keys.
type RefreshTokenOptions struct {
	// RefreshTokenFile holds the first refresh token (the `refresh_token_file`
	// key). It is read only when the store has no record of the credential
	// yet; afterwards the stored, rotated token is the one that counts.
	RefreshTokenFile string `toml:"refresh_token_file"`
}

// Defaults implements Options: nothing to fill.
func (*RefreshTokenOptions) Defaults() {}

// Validate implements Options: the file is read (and a problem reported)
// when the daemon seeds the credential.
func (*RefreshTokenOptions) Validate(func(field, format string, args ...any)) {}

// SeedFile implements Seeder.
func (o *RefreshTokenOptions) SeedFile() string { return o.RefreshTokenFile }

// refreshTokenRequest redeems the stored refresh token (RFC 6749 §6). It
// fails permanently, without a request, when there is none.
func refreshTokenRequest(_ *Config, in GrantInput) (url.Values, []string, *Error) {
	if in.RefreshToken.IsZero() {
		return nil, nil, &Error{Code: "no_refresh_token", Class: ClassPermanent,
			Description: "no refresh token to redeem", Err: ErrNoRefreshToken}
	}
	rt := in.RefreshToken.Reveal()
	return url.Values{"grant_type": {string(GrantRefreshToken)}, "refresh_token": {rt}}, []string{rt}, nil
}
