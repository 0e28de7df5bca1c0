package envfile

import (
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/tokend/tokend/internal/sinks"
)

// Config is an envfile sink's [[credential.sink]] table (type = "envfile"):
// one variable of an env-file. Several sinks, of one credential or of many,
// may name one path, each with its own variable.
type Config struct {
	sinks.FileKeys        // path, mode
	Var            string `toml:"var"` // the variable the sink writes
}

// Files hands out the variables of the env-files that a set of sinks shares:
// one File per path, so every variable of a file is written through it. The
// daemon implements it for its whole life (reloads register the new
// config's variables on the running Files). Variable rejects a variable
// already registered by this set of sinks.
type Files interface {
	Variable(path string, mode fs.FileMode, name string) (*Sink, error)
}

// Defaults fills mode when unset.
func (c *Config) Defaults() { c.FileKeys.Defaults() }

// Validate reports every problem of the defaulted keys through bad.
func (c *Config) Validate(bad func(key, format string, args ...any)) {
	c.FileKeys.Validate(bad)
	switch {
	case c.Var == "":
		bad("var", "is required for an envfile sink")
	case !nameRE.MatchString(c.Var):
		bad("var", "%q is not a valid variable name", c.Var)
	}
}

// Target is the env-file and the variable the sink writes in it.
func (c *Config) Target() (path, part string) { return c.Path, c.Var }

// Build registers the sink's variable on the File that files holds for its
// path (opened, and its directory checked, on first use).
func (c *Config) Build(files Files) (*Sink, error) {
	if files == nil {
		return nil, fmt.Errorf("env-file %s: no env-file registry to build with", c.Path)
	}
	mode, err := c.FileMode()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(c.Path)
	if err != nil {
		return nil, err
	}
	return files.Variable(abs, mode, c.Var)
}
