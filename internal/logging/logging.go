// Package logging builds tokend's zap logger: JSON for machines when the
// output is not a terminal, a readable console format when it is, unless a
// format is asked for. Colour only on a terminal, never with NO_COLOR.
package logging

import (
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
)

// The log formats Options.Format accepts.
const (
	FormatAuto    = "auto"    // console on a terminal, else JSON (the default)
	FormatJSON    = "json"    // one JSON object per line
	FormatConsole = "console" // tab-separated, human-readable
)

// Options configures New's logger. The zero value is level info, format auto,
// colour on a terminal.
type Options struct {
	Level   string // "debug", "info" (default), "warn", "error"
	Format  string // FormatAuto (default), FormatJSON or FormatConsole
	NoColor bool   // no ANSI colours even on a terminal (https://no-color.org: NO_COLOR set and not empty)
}

// NoColorEnv reports whether the environment asks for no colour: NO_COLOR
// set to a non-empty value (https://no-color.org).
func NoColorEnv() bool { return os.Getenv("NO_COLOR") != "" }

// New returns a logger writing to w at the given level ("debug", "info",
// "warn", "error") in the automatic format, honouring NO_COLOR. Keys are
// snake_case; times are ISO 8601.
func New(w io.Writer, level string) (*zap.Logger, error) {
	return NewWith(w, Options{Level: level, NoColor: NoColorEnv()})
}

// NewWith returns a logger writing to w as opts says. An unknown level or
// format is an error naming the accepted values.
func NewWith(w io.Writer, opts Options) (*zap.Logger, error) {
	if opts.Level == "" {
		opts.Level = "info"
	}
	lvl, err := zapcore.ParseLevel(opts.Level)
	if err != nil {
		return nil, fmt.Errorf("invalid log level %q (debug, info, warn, error)", opts.Level)
	}
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	console := tty
	switch opts.Format {
	case "", FormatAuto:
	case FormatJSON:
		console = false
	case FormatConsole:
		console = true
	default:
		return nil, fmt.Errorf("invalid log format %q (json, console, auto)", opts.Format)
	}
	ec := zap.NewProductionEncoderConfig()
	ec.TimeKey = "time"
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	ec.EncodeDuration = roundedDurationEncoder
	var enc zapcore.Encoder
	if console {
		ec.EncodeLevel = zapcore.CapitalLevelEncoder
		if tty && !opts.NoColor {
			ec.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		enc = zapcore.NewJSONEncoder(ec)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), lvl)), nil
}

// roundedDurationEncoder writes a duration as a string an operator reads at
// a glance (issue 14 item 6: retry_in "4s", not "3.987041226s"): see Round.
func roundedDurationEncoder(d time.Duration, enc zapcore.PrimitiveArrayEncoder) {
	enc.AppendString(Round(d).String())
}

// Round is d as logs show it: whole seconds from a minute up, tenths of a
// second from a second, tenths of a millisecond from a millisecond, whole
// microseconds below.
func Round(d time.Duration) time.Duration {
	switch a := d.Abs(); {
	case a >= time.Minute:
		return d.Round(time.Second)
	case a >= time.Second:
		return d.Round(100 * time.Millisecond)
	case a >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
