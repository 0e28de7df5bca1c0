// Package buildinfo says which tokend is running: the release version, the
// VCS revision it was built from and the Go version, read from the binary's
// embedded build information (runtime/debug.ReadBuildInfo). `tokend version`
// prints it and the tokend_build_info metric exports it.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version, when set at build time with
// -ldflags "-X github.com/tokend/tokend/internal/buildinfo.Version=v1.2.3",
// overrides the module version of the build information. It is never
// changed at run time.
var Version string

// Revision, when set at build time with
// -ldflags "-X github.com/tokend/tokend/internal/buildinfo.Revision=<commit>"
// (scripts/release does), overrides the VCS revision of the build
// information, which builds without a .git directory (or with
// -buildvcs=false) lack. It is never changed at run time.
var Revision string

// Info describes the running binary. Unknown fields are "unknown".
type Info struct {
	Version   string // release or module version, e.g. v1.2.3 or v0.0.0-2026…-abcdef123456
	Revision  string // VCS revision (commit hash)
	Time      string // commit time, RFC 3339; "" when unknown
	Modified  bool   // built from a tree with uncommitted changes
	GoVersion string // the Go toolchain, e.g. go1.25.0
}

// Read returns the running binary's Info.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	in := fromBuildInfo(bi, ok, Version)
	if Revision != "" {
		in.Revision = Revision
	}
	return in
}

func fromBuildInfo(bi *debug.BuildInfo, ok bool, override string) Info {
	in := Info{Version: "unknown", Revision: "unknown", GoVersion: runtime.Version()}
	if ok && bi != nil {
		if v := bi.Main.Version; v != "" {
			in.Version = v
		}
		if bi.GoVersion != "" {
			in.GoVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				in.Revision = s.Value
			case "vcs.time":
				in.Time = s.Value
			case "vcs.modified":
				in.Modified = s.Value == "true"
			}
		}
	}
	if override != "" {
		in.Version = override
	}
	return in
}

// String is the one-line form `tokend version` prints:
// "tokend VERSION (revision REV[, modified], GOVERSION)".
func (in Info) String() string {
	rev := in.Revision
	if in.Modified {
		rev += ", modified"
	}
	return fmt.Sprintf("tokend %s (revision %s, %s)", in.Version, rev, in.GoVersion)
}
