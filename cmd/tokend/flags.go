package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/logging"
)

// configEnv names the environment variable that replaces defaultConfig as
// the default of --config.
const configEnv = "TOKEND_CONFIG"

// flagSet is a command's flags: -h/--help print the usage to stdout (exit
// 0), a bad flag prints the error and the usage to stderr (exit 2).
type flagSet struct {
	*flag.FlagSet
	stdout   io.Writer
	synopsis string
}

// newFlags makes the FlagSet of `tokend <synopsis>`.
func newFlags(name, synopsis string, stdout, stderr io.Writer) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), stdout: stdout, synopsis: synopsis}
	fs.SetOutput(stderr)
	fs.Usage = func() { fs.printUsage(fs.Output()) }
	return fs
}

func (fs *flagSet) printUsage(w io.Writer) {
	out := fs.Output()
	fs.SetOutput(w)
	defer fs.SetOutput(out)
	fmt.Fprintf(w, "Usage: tokend %s\n\nFlags:\n", fs.synopsis)
	fs.PrintDefaults()
}

// parse parses flags and returns the exit code to use when parsing stops the
// command (-h gives 0 after printing the usage to stdout, a bad flag 2).
func parse(fs *flagSet, args []string) (int, bool) {
	usage := fs.Usage
	fs.Usage = func() {} // printed below, to the stream that fits
	err := fs.Parse(args)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.printUsage(fs.stdout)
		return 0, false
	case err != nil:
		fs.Usage()
		return 2, false
	}
	return 0, true
}

// parseNoArgs is parse for a command that takes no positional arguments:
// one is refused with a message (a config file given without --config would
// otherwise be ignored in favour of the default one).
func parseNoArgs(fs *flagSet, args []string) (int, bool) {
	if code, ok := parse(fs, args); !ok {
		return code, false
	}
	if fs.NArg() > 0 {
		hint := ""
		if fs.Lookup("config") != nil {
			hint = fmt.Sprintf(" (a config file is given as --config %s or -c %s)", fs.Arg(0), fs.Arg(0))
		}
		fmt.Fprintf(fs.Output(), "tokend %s: unexpected argument %q: this command takes no arguments%s\n", fs.Name(), fs.Arg(0), hint)
		return 2, false
	}
	return 0, true
}

// configFlag defines --config and its short form -c. The default is
// $TOKEND_CONFIG when set, else /etc/tokend/tokend.toml.
func configFlag(fs *flagSet, usage string) *string {
	def := defaultConfig
	if env := os.Getenv(configEnv); env != "" {
		def = env
	}
	p := fs.String("config", def, usage+" (default from $"+configEnv+" when set)")
	fs.StringVar(p, "c", def, "short for --config")
	return p
}

// logFlags defines --log-level and --log-format; the returned function
// builds the logger they ask for (NO_COLOR honoured) on w.
func logFlags(fs *flagSet) func(w io.Writer) (*zap.Logger, error) {
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	format := fs.String("log-format", logging.FormatAuto, "log format: json, console, or auto (console on a terminal, else json); NO_COLOR turns colours off")
	return func(w io.Writer) (*zap.Logger, error) {
		return logging.NewWith(w, logging.Options{Level: *level, Format: *format, NoColor: logging.NoColorEnv()})
	}
}

// parseName parses the flags of a command that takes one credential NAME,
// before or after it; a missing or second name is a usage error.
func parseName(fs *flagSet, args []string) (name string, code int, ok bool) {
	if code, ok := parse(fs, args); !ok {
		return "", code, false
	}
	name = fs.Arg(0)
	if rest := fs.Args(); len(rest) > 1 { // flags after the name
		if code, ok := parse(fs, rest[1:]); !ok {
			return "", code, false
		}
	}
	if name == "" || fs.NArg() > 1 {
		fs.Usage()
		return "", exitUsage, false
	}
	return name, 0, true
}
