package metrics

import (
	"net/http/httptest"
	"testing"

	"github.com/tokend/tokend/internal/buildinfo"
	"github.com/tokend/tokend/internal/scheduler"
)

// TestBuildInfoGauge: /metrics has tokend_build_info 1 labelled with the
// running binary's version, revision and Go version.
func TestBuildInfoGauge(t *testing.T) {
	m := New(func() []scheduler.CredentialStatus { return nil })
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	in := buildinfo.Read()
	want := map[string]string{"version": in.Version, "revision": in.Revision, "goversion": in.GoVersion}
	if in.GoVersion == "" || in.Version == "" {
		t.Fatalf("build info without versions: %+v", in)
	}
	if got := value(t, scrape(t, srv.URL), "tokend_build_info", want); got != 1 {
		t.Fatalf("tokend_build_info%v = %v; want 1", want, got)
	}
}
