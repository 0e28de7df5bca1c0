package status

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"time"

	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/state"
)

// pageRefresh is how often the status page reloads itself (a meta refresh:
// no JavaScript).
const pageRefresh = 10 * time.Second

// pageCSP forbids every external asset and every script: the page is one
// self-contained HTML document with inline styles.
const pageCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

//go:embed page.html
var pageHTML string

var pageTmpl = template.Must(template.New("page").Parse(pageHTML))

// Page is what the status page shows: built by PageOf from the same
// snapshot as the JSON API (scheduler.CredentialStatus holds no token, only
// a fingerprint), so the page can show nothing the API does not.
type Page struct {
	Now         time.Time
	RefreshSecs int
	Ready       bool
	StoreOpen   bool
	Rows        []PageRow
}

// PageRow is one credential on the status page.
type PageRow struct {
	scheduler.CredentialStatus
	Reauth   string   // the command that re-authorizes it, when it needs one
	Timeline Timeline // issued → next refresh → expiry, with now marked
	Problem  string   // why /readyz counts it not ready ("" when it is)
}

// Timeline places a credential's times on a bar: percentages from the
// token's issue (its last successful refresh) to its expiry. Known is false
// when there is no such span (no token yet, or no expiry).
type Timeline struct {
	Known      bool
	NowPct     float64
	RefreshPct float64
	HasRefresh bool
	Expired    bool
	Due        bool // now is past the planned refresh
}

// PageOf builds the status page from a snapshot: needs_reauth rows first,
// then those in backoff, then the rest, each group in config order.
func PageOf(storeOpen bool, sts []scheduler.CredentialStatus, now time.Time) Page {
	ready := Readiness(storeOpen, sts, now)
	problems := map[string]string{}
	for _, nr := range ready.NotReady {
		problems[nr.Name] = nr.Reason
	}
	p := Page{Now: now, RefreshSecs: int(pageRefresh / time.Second), Ready: ready.Ready, StoreOpen: storeOpen}
	for _, st := range sts {
		row := PageRow{CredentialStatus: st, Timeline: timelineOf(st, now), Problem: problems[st.Name]}
		if st.Status == state.StatusNeedsReauth {
			row.Reauth = "tokend authorize " + st.Name
		}
		p.Rows = append(p.Rows, row)
	}
	slices.SortStableFunc(p.Rows, func(a, b PageRow) int { return rowRank(a.Status) - rowRank(b.Status) })
	return p
}

func rowRank(s state.Status) int {
	switch s {
	case state.StatusNeedsReauth:
		return 0
	case state.StatusBackoff:
		return 1
	default:
		return 2
	}
}

func timelineOf(st scheduler.CredentialStatus, now time.Time) Timeline {
	start, end := st.LastSuccess, st.ExpiresAt
	if start.IsZero() || end.IsZero() || !end.After(start) {
		return Timeline{}
	}
	pct := func(t time.Time) float64 {
		f := float64(t.Sub(start)) / float64(end.Sub(start)) * 100
		return min(max(f, 0), 100)
	}
	tl := Timeline{Known: true, NowPct: pct(now), Expired: !now.Before(end)}
	if !st.NextRefresh.IsZero() {
		tl.HasRefresh, tl.RefreshPct = true, pct(st.NextRefresh)
		tl.Due = !now.Before(st.NextRefresh)
	}
	return tl
}

// page answers GET /: the status page as HTML.
func (s *Server) page(w http.ResponseWriter, _ *http.Request) {
	p := PageOf(s.opts.Backend.StoreOpen(), s.opts.Backend.Snapshot(), s.opts.Now())
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, p); err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("rendering the status page: %v", err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	_, _ = buf.WriteTo(w)
}

// Since formats t relative to p.Now for the page ("in 4m10s", "3m ago"),
// "—" for the zero time.
func (p Page) Since(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := t.Sub(p.Now).Round(time.Second)
	if d >= 0 {
		return "in " + d.String()
	}
	return (-d).String() + " ago"
}

// UTC formats t for a title attribute; "" for the zero time.
func (p Page) UTC(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
