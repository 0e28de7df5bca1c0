package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.25.0", Main: debug.Module{Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}, {Key: "vcs.time", Value: "2026-12-05T10:00:00Z"}}}
	in := fromBuildInfo(bi, true, "")
	if in != (Info{Version: "v1.2.3", Revision: "abc123", Time: "2026-12-05T10:00:00Z", Modified: true, GoVersion: "go1.25.0"}) {
		t.Fatalf("%+v", in)
	}
	if got := in.String(); got != "tokend v1.2.3 (revision abc123, modified, go1.25.0)" {
		t.Fatalf("String() = %q", got)
	}
	if in := fromBuildInfo(bi, true, "v9.9.9"); in.Version != "v9.9.9" || in.Revision != "abc123" {
		t.Fatalf("ldflags override: %+v", in)
	}
	if in := fromBuildInfo(nil, false, ""); in.Version != "unknown" || in.Revision != "unknown" || in.GoVersion == "" {
		t.Fatalf("no build info: %+v", in)
	}
}

func TestRevisionLinkerOverride(t *testing.T) {
	// scripts/release sets Revision with -ldflags -X; a test binary has no
	// VCS information, so Read shows the override or "unknown".
	if got := Read().Revision; got != "unknown" {
		t.Fatalf("a test binary has revision %q", got)
	}
	Revision = "3b8dd382ce7b9f0e21b0fc3d3bc161688aa5c761"
	t.Cleanup(func() { Revision = "" })
	if got := Read(); got.Revision != Revision || !strings.Contains(got.String(), "(revision "+Revision+", ") {
		t.Fatalf("Read with Revision set: %+v", got)
	}
}
