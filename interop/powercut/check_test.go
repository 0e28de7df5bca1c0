package powercut

import (
	"fmt"

	"github.com/tokend/tokend/internal/state"
)

// figures are the results of one power-cut test.
type figures struct {
	rotations, losses, inWindow, reported, badReuse, retries int
}

// analyse classifies every refresh in the ledger, as the crash-kill test
// does: a reuse of a rotated token is in the window only if the durable
// store before that run held that token with a pending intent (the provider
// rotated, the answer never reached the disk); each such loss must be
// reported by name; after the clean last run every other credential holds
// the provider's one live refresh token.
func analyse(h *harness, final map[string]snap) figures {
	h.t.Helper()
	var f figures
	rotated := map[string]bool{}
	lost := map[string]bool{}
	tried := map[string]bool{}
	for _, e := range h.tap.entries() {
		switch {
		case e.status == 200:
			f.rotations++
			rotated[e.presented] = true
		case rotated[e.presented]:
			s, ok := h.snaps[e.run][e.cred]
			if !ok || !s.intent || s.rt != e.presented {
				f.badReuse++
				h.errorf("run %d: %s presented an already-rotated refresh token outside the window (durable store had intent=%v, same token=%v)",
					e.run, e.cred, s.intent, s.rt == e.presented)
				continue
			}
			f.retries++
			key := fmt.Sprint(e.run, e.presented)
			if tried[key] {
				f.badReuse++
				h.errorf("run %d: %s retried a rotated refresh token more than once", e.run, e.cred)
			}
			tried[key] = true
			if lost[e.presented] {
				continue // cut again during the one retry: same loss
			}
			lost[e.presented] = true
			f.losses++
			f.inWindow++
			if reportedByName(h.logs[e.run], e.cred) {
				f.reported++
			} else {
				h.errorf("run %d: in-window loss of %s not reported by name on restart", e.run, e.cred)
			}
		default:
			h.errorf("run %d: %s: refresh refused with %d for a token never rotated", e.run, e.cred, e.status)
		}
	}
	st := h.p.Stats()
	if st.FamiliesRevoked != f.losses {
		h.errorf("provider revoked %d families, ledger explains %d losses", st.FamiliesRevoked, f.losses)
	}
	if st.Reuses != f.retries {
		h.errorf("provider counted %d reuses, %d of them in the window", st.Reuses, f.retries)
	}
	reauth := 0
	for i := range numCreds {
		c := cred(i)
		s := final[c]
		switch s.status {
		case state.StatusNeedsReauth:
			reauth++
		case state.StatusOK:
			if live := h.p.CurrentRefreshToken(c); len(live) != 1 || live[0] != s.rt {
				h.errorf("%s: stored refresh token is not the provider's one live token (%d live)", c, len(live))
			}
		default:
			h.errorf("%s: status %q after a clean run", c, s.status)
		}
	}
	if h.reseeds+reauth != f.losses {
		h.errorf("credentials needing re-authorization: %d re-seeded + %d at the end; losses %d", h.reseeds, reauth, f.losses)
	}
	return f
}
