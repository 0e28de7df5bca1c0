package bench

import (
	"fmt"
	"io"
	"time"
)

// print writes the comparison as a second table: tokend, oauthapp and
// their ratio (tokend/oauthapp) for each metric.
func (pr *Peer) print(w io.Writer) {
	t, p := pr.Tokend, pr.OAuthApp
	ci := "default 60 s"
	if pr.CheckInterval > 0 {
		ci = pr.CheckInterval.String()
	}
	storage := "dev servers, in-memory storage"
	if pr.Raft {
		storage = "Raft storage"
	}
	fmt.Fprintf(w, "\npeer: Vault oauthapp plugin, %d credentials, %s tokens, windows of %s (plugin refresh check %s; Vault: %s)\n\n", pr.N, pr.TTL, pr.For, ci, storage)
	row := func(metric, tv, pv string, ratio float64) {
		rs := "-"
		if ratio > 0 && !isInf(ratio) {
			rs = fmt.Sprintf("%.2f", ratio)
		}
		fmt.Fprintf(w, "| %-50s | %-16s | %-16s | %-8s |\n", metric, tv, pv, rs)
	}
	fmt.Fprintf(w, "| %-50s | %-16s | %-16s | %-8s |\n", "metric", "tokend (+Vault)", "oauthapp", "ratio")
	fmt.Fprintf(w, "|%s|%s|%s|%s|\n", dashes(52), dashes(18), dashes(18), dashes(10))
	div := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	row("burst refreshes/s", fmt.Sprintf("%.0f/s", t.BurstRPS), fmt.Sprintf("%.0f/s", p.BurstRPS), div(t.BurstRPS, p.BurstRPS))
	tb, pb := t.BurstCPUPerRefresh(pr.N), p.BurstCPUPerRefresh(pr.N)
	row("burst CPU per refresh (all its processes)", ms(tb), ms(pb), div(float64(tb), float64(pb)))
	row("quiet window: refreshes", fmt.Sprint(t.QuietRefreshes), fmt.Sprint(p.QuietRefreshes), 0)
	row("quiet window: CPU per refresh", ms(t.CPUPerRefresh()), ms(p.CPUPerRefresh()), div(float64(t.CPUPerRefresh()), float64(p.CPUPerRefresh())))
	if t.QuietRefreshes > 0 {
		row("quiet window: tokend's Vault requests per refresh", fmt.Sprintf("%.2f", float64(t.QuietVaultReqs)/float64(t.QuietRefreshes)), "", 0)
	}
	tc, pc := t.QuietCPU.Seconds()/pr.For.Seconds(), p.QuietCPU.Seconds()/pr.For.Seconds()
	row("quiet window: CPU, % of a core", fmt.Sprintf("%.3f%%", 100*tc), fmt.Sprintf("%.3f%%", 100*pc), div(tc, pc))
	row("quiet window: tokend daemon alone, % of a core", fmt.Sprintf("%.3f%%", 100*t.QuietOwnCPU.Seconds()/pr.For.Seconds()), "", 0)
	row("RSS (tokend+its Vault / Vault+plugin)", mib(t.RSS), mib(p.RSS), div(float64(t.RSS), float64(p.RSS)))
	row("RSS, tokend daemon alone", mib(t.OwnRSS), "", div(float64(t.OwnRSS), float64(p.RSS)))
	row("refresh margin p50 (life left at refresh)", secs(Percentile(t.Margins, 50)), secs(Percentile(p.Margins, 50)), 0)
	row("refresh margin min", secs(Percentile(t.Margins, 0)), secs(Percentile(p.Margins, 0)), 0)
	row(fmt.Sprintf("refreshes with a margin (%d / %d)", len(t.Margins), len(p.Margins)), "", "", 0)
	row("reads (checked window)", fmt.Sprint(t.Checks), fmt.Sprint(p.Checks), 0)
	row("expired or inactive tokens served", fmt.Sprint(t.Expired), fmt.Sprint(p.Expired), 0)
	row("failed reads (error, no token)", fmt.Sprint(t.Failed), fmt.Sprint(p.Failed), 0)
	fmt.Fprintf(w, "\nrefresh-token reuses at the provider, both sides: %d (must be 0)\n", pr.Reuses)
}

func isInf(f float64) bool { return f > 1e300 }

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
