package config

import (
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/tokend/tokend/internal/sinks/kinds"
)

// looseModeBits are the permission bits of a token file that draw a
// warning: write for group or others (anyone could swap the token a
// consumer sends), read for others (every local user can read it). Read
// for the group (0640) is the documented way to share a token with a
// consumer's group and is not warned about.
const looseModeBits fs.FileMode = 0o022 | 0o004

// warnings returns what a valid config does that an operator should know:
// a token file mode that lets others read it or group/others write it, and
// a relative sink path (resolved against the daemon's working directory,
// "/" under systemd). Each is a Problem naming its credential and sink.
func (c *Config) warnings() []*Problem {
	var out []*Problem
	for i := range c.Credentials {
		cr := &c.Credentials[i]
		for j, s := range cr.Sinks {
			k, ok := kinds.Lookup(s.Type)
			if !ok || k.File == kinds.NoFile || s.Options == nil {
				continue
			}
			at := func(key, format string, args ...any) {
				p := &Problem{Credential: cr.Name, Key: fmt.Sprintf("sink[%d].%s", j+1, key), Msg: fmt.Sprintf(format, args...)}
				if cr.Name == "" {
					p.Index = i + 1
				}
				out = append(out, p)
			}
			if path, _ := s.Target(); path != "" && !filepath.IsAbs(path) {
				at("path", "%q is relative: it is resolved against the daemon's working directory (/ under systemd); use an absolute path", path)
			}
			fm, ok := s.Options.(interface{ FileMode() (fs.FileMode, error) })
			if !ok {
				continue
			}
			switch m, err := fm.FileMode(); {
			case err != nil:
			case m&0o022 != 0:
				at("mode", "%04o lets group or others write the token file; use 0600 (or 0640 to let the consumer's group read it)", m)
			case m&looseModeBits != 0:
				at("mode", "%04o lets every local user read the token; use 0600 (or 0640 to let the consumer's group read it)", m)
			}
		}
	}
	return out
}
