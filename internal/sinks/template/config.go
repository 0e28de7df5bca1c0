package template

import (
	"fmt"
	"os"
	"text/template"

	"github.com/tokend/tokend/internal/sinks"
	"github.com/tokend/tokend/internal/sinks/file"
)

// Config is a template sink's [[credential.sink]] table (type =
// "template"): the file it writes (path, mode) and its template, inline
// (template) or read from template_file at start-up and reload.
type Config struct {
	sinks.FileKeys        // path, mode
	Template       string `toml:"template"`      // the template text
	TemplateFile   string `toml:"template_file"` // or a file holding it

	parsed *template.Template // set by Validate when the template is good
}

// Defaults fills mode when unset.
func (c *Config) Defaults() { c.FileKeys.Defaults() }

// Validate reports every problem of the keys through bad: path and mode,
// exactly one of template and template_file, a template_file that cannot
// be read, and a template that does not parse or fails on a sample token
// (Check), with its line.
func (c *Config) Validate(bad func(key, format string, args ...any)) {
	c.FileKeys.Validate(bad)
	c.parsed = nil
	key := "template"
	switch {
	case c.Template != "" && c.TemplateFile != "":
		bad("template", "set template or template_file, not both")
		return
	case c.Template == "" && c.TemplateFile == "":
		bad("template", "is required (or template_file)")
		return
	case c.TemplateFile != "":
		key = "template_file"
	}
	t, err := c.load()
	if err == nil {
		err = Check(t)
	}
	if err != nil {
		bad(key, "%v", err)
		return
	}
	c.parsed = t
}

// load reads and parses the template.
func (c *Config) load() (*template.Template, error) {
	if c.TemplateFile == "" {
		return Parse("template", c.Template)
	}
	data, err := os.ReadFile(c.TemplateFile)
	if err != nil {
		return nil, fmt.Errorf("reading the template: %w", err)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%s is empty", c.TemplateFile)
	}
	return Parse(c.TemplateFile, string(data))
}

// Target is the file the sink writes; it shares it with no other sink.
func (c *Config) Target() (path, part string) { return c.Path, "" }

// Build makes the sink: a file sink (base carries what the daemon's file
// sinks share) whose bytes are the rendered template. It parses and checks
// the template again when Validate has not (a config built in code).
func (c *Config) Build(base file.Options) (*file.Sink, error) {
	mode, err := c.FileMode()
	if err != nil {
		return nil, err
	}
	t := c.parsed
	if t == nil {
		if t, err = c.load(); err == nil {
			err = Check(t)
		}
		if err != nil {
			return nil, fmt.Errorf("template sink %s: %w", c.Path, err)
		}
	}
	base.Path, base.Mode, base.Kind = c.Path, mode, "template"
	base.Encode = func(tok sinks.Token) ([]byte, error) { return Render(t, tok) }
	return file.New(base)
}
