package status

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/state"
)

// TestTableShowsCauseAndGuess (issue 14 item 6): a long error chain keeps
// its cause (the end) in LAST-ERROR, --wide shows it whole with the
// generation and fingerprint, a guessed expiry is marked, and unknown times
// are "-".
func TestTableShowsCauseAndGuess(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	cause := `Post "https://idp.example/oauth/token": dial tcp 10.0.0.7:443: connect: connection refused`
	sts := []scheduler.CredentialStatus{
		{Name: "svc", Status: state.StatusBackoff, Generation: 7, TokenFP: "sha256:ab12",
			LastError: &state.ErrorInfo{Class: "transient", Code: "network", Description: cause}},
		{Name: "guess", Status: state.StatusOK, ExpiresAt: now.Add(time.Hour), ExpiresGuessed: true, NextRefresh: now.Add(45 * time.Minute)},
	}
	var buf bytes.Buffer
	WriteTable(&buf, sts, now, false)
	want := `NAME    STATUS    GENERATION   EXPIRES           NEXT-REFRESH   LAST-ERROR
svc     backoff   7            -                 -              network: …dial tcp 10.0.0.7:443: connect: connection refused
guess   ok        0            in 1h (guessed)   in 45m         -
`
	if buf.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
	buf.Reset()
	WriteTable(&buf, sts, now, true)
	lines := strings.Split(buf.String(), "\n")
	if !strings.HasPrefix(lines[0], "NAME    STATUS    GENERATION   TOKEN         EXPIRES") ||
		!strings.HasSuffix(lines[1], "network: "+cause) || !strings.Contains(lines[1], "7            sha256:ab12") {
		t.Errorf("wide table:\n%s", buf.String())
	}
	if got := LastError(scheduler.CredentialStatus{LastError: &state.ErrorInfo{Class: "storage"}}, 60); got != "storage" {
		t.Errorf("class only: %q", got)
	}
}
