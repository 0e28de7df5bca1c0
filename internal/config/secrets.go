package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/secret"
)

// ResolveSecrets fills each credential's Secret from client_secret,
// client_secret_file or client_secret_env, reads its ca_file into RootCAs,
// and lets its grant kind's and auth method's options read theirs
// (grants.SecretOptions, with ReadSecretFile: private keys, certificates).
// Load then ResolveSecrets is what a reload does too, so a replaced key or
// certificate file takes effect on reload. It returns every problem at
// once; errors name the source, never the value.
func (c *Config) ResolveSecrets() error {
	var errs []error
	for i := range c.Credentials {
		cr := &c.Credentials[i]
		what := "client secret"
		v, err := resolveSecret(cr.ClientSecret, cr.ClientSecretFile, cr.ClientSecretEnv)
		if cr.APIKey != "" || cr.APIKeyFile != "" || cr.APIKeyEnv != "" { // validate allows only one kind
			what = "API key"
			v, err = resolveSecret(cr.APIKey, cr.APIKeyFile, cr.APIKeyEnv)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("credential %q: %s: %w", cr.Name, what, err))
			continue
		}
		cr.Secret = v
		if cr.CAFile != "" {
			if cr.RootCAs, err = readCAFile(cr.CAFile); err != nil {
				errs = append(errs, fmt.Errorf("credential %q: ca_file: %w", cr.Name, err))
			}
		}
		for _, o := range []grants.Options{cr.GrantOptions, cr.AuthOptions} {
			if so, ok := o.(grants.SecretOptions); ok {
				if err := so.ResolveSecrets(ReadSecretFile); err != nil {
					errs = append(errs, fmt.Errorf("credential %q: %w", cr.Name, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// readCAFile reads a PEM bundle of CA certificates.
func readCAFile(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	pool, err := grants.ParseCAFile(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pool, nil
}

// resolveSecret reads a secret given inline, from a file or from an
// environment variable. Trailing newlines of files are trimmed (editors add
// them); anything else is kept as written.
func resolveSecret(inline, file, env string) (secret.Secret, error) {
	switch {
	case inline != "":
		return secret.New(inline), nil
	case file != "":
		b, err := os.ReadFile(file)
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			err = pe.Err // the path is named once, here
		}
		if err != nil {
			return secret.Secret{}, fmt.Errorf("reading %s: %w", file, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return secret.Secret{}, fmt.Errorf("%s is empty", file)
		}
		return secret.New(v), nil
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return secret.Secret{}, fmt.Errorf("environment variable %s is not set", env)
		}
		return secret.New(v), nil
	}
	return secret.Secret{}, nil
}

// ReadSecretFile reads a secret file such as refresh_token_file with the same
// trimming rules as client_secret_file.
func ReadSecretFile(path string) (secret.Secret, error) {
	return resolveSecret("", path, "")
}

// inlineSecretWarnings warns when a config file holds a secret inline and
// is readable by group or others (fileOf names the file of the i-th
// credential), and when a key or token file of a credential's options is
// (secretFileWarnings).
func inlineSecretWarnings(c *Config, fileOf func(i int) string) []*Problem {
	var out []*Problem
	for i := range c.Credentials {
		out = append(out, secretFileWarnings(&c.Credentials[i])...)
	}
	modes := map[string]fs.FileMode{} // file -> its permissions; 0 when private or unreadable
	for i, cr := range c.Credentials {
		if cr.ClientSecret == "" && cr.APIKey == "" {
			continue
		}
		path := fileOf(i)
		perm, ok := modes[path]
		if !ok {
			if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
				perm = fi.Mode().Perm()
			}
			modes[path] = perm
		}
		if perm == 0 {
			continue
		}
		if cr.ClientSecret != "" {
			out = append(out, &Problem{Credential: cr.Name, Key: "client_secret", at: i + 1, Msg: fmt.Sprintf(
				"is inline in %s, which is readable by group/other (mode %#o); use client_secret_file or client_secret_env, or chmod 600 the config", path, perm)})
		}
		if cr.APIKey != "" {
			out = append(out, &Problem{Credential: cr.Name, Key: "api_key", at: i + 1, Msg: fmt.Sprintf(
				"is inline in %s, which is readable by group/other (mode %#o); use api_key_file or api_key_env, or chmod 600 the config", path, perm)})
		}
	}
	return out
}

// secretFileWarnings warns about each file of cr's grant and auth options
// that holds a secret (grants.SecretFiler: signing keys, service-account
// keys, token files) and is readable by group or others.
func secretFileWarnings(cr *Credential) []*Problem {
	var out []*Problem
	for _, o := range []grants.Options{cr.GrantOptions, cr.AuthOptions} {
		sf, ok := o.(grants.SecretFiler)
		if !ok {
			continue
		}
		for _, p := range sf.SecretFiles() {
			if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o077 != 0 {
				out = append(out, &Problem{Credential: cr.Name, Msg: fmt.Sprintf("%s is readable by group/other (mode %#o); chmod 600 it", p, fi.Mode().Perm())})
			}
		}
	}
	return out
}
