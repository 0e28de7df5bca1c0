package file

import "github.com/tokend/tokend/internal/sinks"

// Config is a file sink's [[credential.sink]] table (type = "file"): the
// keys this package decodes, defaults and checks.
type Config struct {
	sinks.FileKeys        // path, mode
	Format         string `toml:"format"` // FormatRaw (default) | FormatJSON
}

// Defaults fills mode and format when unset.
func (c *Config) Defaults() {
	c.FileKeys.Defaults()
	if c.Format == "" {
		c.Format = FormatRaw
	}
}

// Validate reports every problem of the defaulted keys through bad.
func (c *Config) Validate(bad func(key, format string, args ...any)) {
	c.FileKeys.Validate(bad)
	if c.Format != FormatRaw && c.Format != FormatJSON {
		bad("format", "unknown format %q (%s or %s)", c.Format, FormatRaw, FormatJSON)
	}
}

// Target is the file the sink writes; it shares it with no other sink.
func (c *Config) Target() (path, part string) { return c.Path, "" }

// Build makes the sink with New, checking its directory now. base carries
// what the daemon's sinks share (CheckDir, DirSync, Slots); Path, Format and
// Mode come from c.
func (c *Config) Build(base Options) (*Sink, error) {
	mode, err := c.FileMode()
	if err != nil {
		return nil, err
	}
	base.Path, base.Format, base.Mode = c.Path, c.Format, mode
	return New(base)
}
