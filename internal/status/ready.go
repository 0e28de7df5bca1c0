package status

import (
	"fmt"
	"time"

	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/state"
)

// ReadyReport is the /readyz answer.
type ReadyReport struct {
	Ready       bool       `json:"ready"`
	StoreOpen   bool       `json:"store_open"`
	Credentials int        `json:"credentials"`
	NotReady    []NotReady `json:"not_ready,omitempty"`
}

// NotReady names a credential that keeps the daemon from being ready.
type NotReady struct {
	Name   string       `json:"name"`
	Status state.Status `json:"status"`
	Reason string       `json:"reason"`
}

// Readiness decides /readyz: ready when the state store is open and every
// credential is ok, or refreshing or in backoff while its access token still
// has time left (an unknown expiry counts as time left). Pending credentials
// (no token yet) and those that need re-authorization are not ready.
func Readiness(storeOpen bool, sts []scheduler.CredentialStatus, now time.Time) ReadyReport {
	r := ReadyReport{StoreOpen: storeOpen, Credentials: len(sts)}
	for _, st := range sts {
		if reason := notReadyReason(st, now); reason != "" {
			r.NotReady = append(r.NotReady, NotReady{Name: st.Name, Status: st.Status, Reason: reason})
		}
	}
	r.Ready = storeOpen && len(r.NotReady) == 0
	return r
}

// noToken is the fingerprint of the empty secret (no access token).
var noToken = secret.Secret{}.Fingerprint()

func notReadyReason(st scheduler.CredentialStatus, now time.Time) string {
	hasToken := st.TokenFP != "" && st.TokenFP != noToken
	timeLeft := hasToken && (st.ExpiresAt.IsZero() || st.ExpiresAt.After(now))
	switch st.Status {
	case state.StatusOK:
		return ""
	case state.StatusRefreshing, state.StatusBackoff:
		switch {
		case timeLeft:
			return ""
		case !hasToken:
			return fmt.Sprintf("%s with no access token yet", st.Status)
		default:
			return fmt.Sprintf("%s and the access token expired at %s", st.Status, st.ExpiresAt.UTC().Format(time.RFC3339))
		}
	case state.StatusNeedsReauth:
		reason := "needs re-authorization (tokend authorize or tokend import)"
		if e := st.LastError; e != nil && e.Code != "" {
			reason += ": " + e.Code
		}
		return reason
	case state.StatusPending:
		return "no access token obtained yet"
	}
	return fmt.Sprintf("unknown status %q", st.Status)
}
