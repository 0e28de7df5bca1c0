package sinks

import (
	"fmt"
	"io/fs"
	"strconv"
)

// DefaultMode is the `mode` of a sink file when the config sets none.
const DefaultMode = "0600"

// FileKeys are the [[credential.sink]] keys of every kind that writes a
// file: its filesystem path and its permission bits. A kind's options embed
// it, so the keys are decoded, defaulted and checked the same way for each.
type FileKeys struct {
	Path string `toml:"path"` // the file; its directory must exist at start-up
	Mode string `toml:"mode"` // octal permission bits, DefaultMode when unset
}

// Defaults sets Mode to DefaultMode when it is unset.
func (k *FileKeys) Defaults() {
	if k.Mode == "" {
		k.Mode = DefaultMode
	}
}

// Validate reports a missing path and a mode that is not octal permission
// bits through bad, naming the key.
func (k *FileKeys) Validate(bad func(key, format string, args ...any)) {
	if k.Path == "" {
		bad("path", "is required")
	}
	if _, err := k.FileMode(); err != nil {
		bad("mode", "%v", err)
	}
}

// FileMode parses Mode.
func (k *FileKeys) FileMode() (fs.FileMode, error) {
	m, err := strconv.ParseUint(k.Mode, 8, 32)
	if err != nil || m > 0o777 {
		return 0, fmt.Errorf("invalid file mode %q (octal, e.g. \"0600\")", k.Mode)
	}
	return fs.FileMode(m), nil
}
