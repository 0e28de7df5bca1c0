package grants

import "github.com/tokend/tokend/internal/secret"

// Options are the config keys of one grant kind or auth method beyond the
// keys every credential shares: a pointer to the kind's own struct, whose
// fields carry toml tags, defined in the kind's file. GrantKind.Options and
// AuthMethod.Options return an empty one; internal/config decodes the
// credential's table into it (a key of another kind's options is refused
// there, naming the kinds that use it), calls Defaults, then Validate, and
// passes it on in Config.GrantOptions or Config.AuthOptions, where the
// kind's Validate, Request or Apply read it with a type assertion.
//
// A Config built in code may leave GrantOptions and AuthOptions nil: a kind
// treats nil as its options with every key unset.
type Options interface {
	// Defaults fills the keys left unset.
	Defaults()
	// Validate reports each problem through bad: field is the key (e.g.
	// "private_key_file"), format and args the message, as fmt.Sprintf.
	Validate(bad func(field, format string, args ...any))
}

// SecretOptions is implemented by Options that name files (or variables)
// holding secrets to read at start-up, as client_secret_file is:
// config.ResolveSecrets calls ResolveSecrets with read, which reads a file
// with the trimming rules of client_secret_file and whose errors name the
// file, never its content. The options keep what they read in fields of
// type secret.Secret (toml:"-"). An error must not contain a secret.
type SecretOptions interface {
	Options
	ResolveSecrets(read func(path string) (secret.Secret, error)) error
}

// Seeder is implemented by the Options of a grant kind that spends refresh
// tokens and can take the first one from a file (refresh_token_file): the
// daemon reads SeedFile, lazily, only when the store holds no record yet.
type Seeder interface {
	Options
	SeedFile() string // "" when none is configured
}

// newOptions returns a constructor of empty options of type T, for a
// table entry's Options.
func newOptions[T any, P interface {
	*T
	Options
}]() func() Options {
	return func() Options { return P(new(T)) }
}
