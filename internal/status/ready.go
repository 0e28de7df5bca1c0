package status

import (
	"fmt"
	"slices"
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

// SinkExpiryMargin is how soon before it expires the token a failing sink
// last received makes its credential not ready: a sink whose last write
// failed and whose content expires within SinkExpiryMargin (or has expired,
// or was never written) serves its consumers nothing usable.
const SinkExpiryMargin = time.Minute

// Readiness decides /readyz: ready when the state store is open and every
// credential is ok, or refreshing or in backoff while its access token still
// has time left (an unknown expiry counts as time left). Pending credentials
// (no token yet) and those that need re-authorization are not ready, and so
// is a credential with a failing sink whose content is stale (SinkProblem).
func Readiness(storeOpen bool, sts []scheduler.CredentialStatus, now time.Time) ReadyReport {
	r := ReadyReport{StoreOpen: storeOpen, Credentials: len(sts)}
	for _, st := range sts {
		reason := notReadyReason(st, now)
		if reason == "" {
			reason = SinkProblem(st, now)
		}
		if reason != "" {
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

// ReadinessOf is Readiness for the named credentials only (the /readyz
// ?credential= filter): the others do not count, and a name the daemon does
// not know is not ready. No names means every credential.
func ReadinessOf(storeOpen bool, sts []scheduler.CredentialStatus, names []string, now time.Time) ReadyReport {
	if len(names) == 0 {
		return Readiness(storeOpen, sts, now)
	}
	var sel []scheduler.CredentialStatus
	var unknown []NotReady
	for _, n := range names {
		i := slices.IndexFunc(sts, func(st scheduler.CredentialStatus) bool { return st.Name == n })
		switch {
		case i >= 0 && !slices.ContainsFunc(sel, func(st scheduler.CredentialStatus) bool { return st.Name == n }):
			sel = append(sel, sts[i])
		case i < 0:
			unknown = append(unknown, NotReady{Name: n, Reason: "no such credential"})
		}
	}
	r := Readiness(storeOpen, sel, now)
	r.NotReady = append(r.NotReady, unknown...)
	r.Ready = r.Ready && len(unknown) == 0
	return r
}

// SinkProblem names the first sink of st whose last write failed while the
// token it last received expires within SinkExpiryMargin of now, has
// expired, or was never received; "" when there is none. A sink whose last
// write succeeded is not a problem here (an expiring token is then the
// credential's own state), nor is one whose content has no known expiry.
func SinkProblem(st scheduler.CredentialStatus, now time.Time) string {
	for _, sk := range st.Sinks {
		if sk.OK || sk.LastError == "" {
			continue
		}
		switch {
		case sk.LastSuccess.IsZero():
			return fmt.Sprintf("sink %s has never been written: %s", sk.Name, sk.LastError)
		case sk.ExpiresAt.IsZero():
			continue
		case !sk.ExpiresAt.After(now):
			return fmt.Sprintf("sink %s failing and its token expired at %s: %s", sk.Name, sk.ExpiresAt.UTC().Format(time.RFC3339), sk.LastError)
		case sk.ExpiresAt.Sub(now) <= SinkExpiryMargin:
			return fmt.Sprintf("sink %s failing and its token expires at %s: %s", sk.Name, sk.ExpiresAt.UTC().Format(time.RFC3339), sk.LastError)
		}
	}
	return ""
}
