package demo

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/fakeprovider"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/status"
)

// TestDemoTableIsTheStatusTable (issue 14 item 6): the demo prints the
// table `tokend status` prints, under its provider counters.
func TestDemoTableIsTheStatusTable(t *testing.T) {
	sts := []scheduler.CredentialStatus{
		{Name: "demo-app", Status: state.StatusOK, Generation: 3, TokenFP: "sha256:ab"},
		{Name: "demo-service", Status: state.StatusBackoff, LastError: &state.ErrorInfo{Class: "transient", Code: "network", Description: "connection refused"}},
	}
	var demo, st bytes.Buffer
	printStatus(&demo, sts, fakeprovider.Stats{Refreshes: 2})
	status.WriteTable(&st, sts, time.Now(), false)
	lines := strings.SplitN(strings.TrimPrefix(demo.String(), "\n"), "\n", 2)
	if len(lines) != 2 || !strings.Contains(lines[0], "provider: 2 refreshes") || lines[1] != st.String() {
		t.Fatalf("demo:\n%s\ntokend status:\n%s", demo.String(), st.String())
	}
}
