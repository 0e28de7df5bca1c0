package bench

import (
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"time"
)

// Peer is the side-by-side comparison with Vault's oauthapp secrets plugin
// (github.com/puppetlabs/vault-plugin-secrets-oauthapp/v3, built by
// scripts/oauthapp-bin). Both hold N credentials of the same strict fake
// provider (rotating refresh tokens, access tokens of TTL): tokend with a
// Vault KV v2 sink each on one Vault dev server, the plugin mounted on a
// second one. Each side's processes are measured apart: tokend's daemon plus
// its Vault, and the plugin's Vault plus the plugin process.
type Peer struct {
	N                int
	TTL, For         time.Duration
	CheckInterval    time.Duration // the plugin's refresh check interval (0: its default)
	Tokend, OAuthApp PeerSide
	Reuses           int  // refresh tokens presented twice at the provider (must be 0)
	Raft             bool // both Vaults had Raft storage (else the dev server's memory)
}

// PeerSide is one contender's figures.
type PeerSide struct {
	// Burst: the N first refreshes, as fast as the side does them (tokend:
	// all due at start-up; the plugin: N creds writes with grant_type
	// refresh_token by MaxConcurrent clients, each write refreshing once).
	BurstRPS float64       // N / (first to last refresh at the provider)
	BurstCPU time.Duration // CPU of the side's processes over the burst
	// Quiet window of For, nobody reading: CPU and refreshes in it.
	QuietCPU       time.Duration
	QuietOwnCPU    time.Duration // tokend: the daemon alone (QuietCPU adds its Vault)
	QuietRefreshes int
	QuietVaultReqs int   // tokend: requests its Vault got in the window (counting proxy)
	RSS            int64 // the side's processes at the end of the quiet window
	OwnRSS         int64 // tokend: the daemon alone
	// Margins are the life left on the access token each refresh replaced
	// (positive: refreshed before expiry), over both windows.
	Margins []time.Duration
	// Checked window of For: every credential read in turn, again and again
	// (tokend: its KV secret; the plugin: its creds endpoint). Expired
	// counts tokens served past their expiry or not active at the provider;
	// Failed counts reads answered with an error (the plugin answers 400
	// "token expired" for a token with less than minimum_seconds, 10 s, left
	// that it could not refresh).
	Checks, Expired, Failed int
}

// CPUPerRefresh is QuietCPU over QuietRefreshes (0 without refreshes).
func (s PeerSide) CPUPerRefresh() time.Duration {
	if s.QuietRefreshes == 0 {
		return 0
	}
	return s.QuietCPU / time.Duration(s.QuietRefreshes)
}

// BurstCPUPerRefresh is BurstCPU over the burst's N refreshes.
func (s PeerSide) BurstCPUPerRefresh(n int) time.Duration { return s.BurstCPU / time.Duration(n) }

// runPeer runs the comparison o.Peer names.
func runPeer(o Options) (*Peer, error) {
	if o.Peer != "oauthapp" {
		return nil, fmt.Errorf("unknown peer %q (oauthapp)", o.Peer)
	}
	if o.VaultBin == "" || o.OAuthAppBin == "" || o.PeerN <= 0 || o.PeerTTL <= 0 || o.PeerFor <= 0 {
		return nil, fmt.Errorf("VaultBin, OAuthAppBin, PeerN, PeerTTL and PeerFor are required")
	}
	pr := &Peer{N: o.PeerN, TTL: o.PeerTTL, For: o.PeerFor, CheckInterval: o.PeerCheckInterval, Raft: o.VaultRaft}
	ob, err := newObserved(o.PeerTTL)
	if err != nil {
		return nil, err
	}
	defer ob.close()
	dir := filepath.Join(o.Dir, "peer")
	va, err := startVault(o.VaultBin, filepath.Join(dir, "vault-sinks"), "", o.VaultRaft)
	if err != nil {
		return nil, err
	}
	defer va.stop()
	vb, err := startVault(o.VaultBin, filepath.Join(dir, "vault-oauthapp"), filepath.Dir(o.OAuthAppBin), o.VaultRaft)
	if err != nil {
		return nil, err
	}
	defer vb.stop()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = o.MaxConcurrent + 2
	hc := &http.Client{Timeout: 2 * time.Minute, Transport: tr}
	if err := setupOAuthApp(hc, vb, ob.base+"/token", o.PeerCheckInterval); err != nil {
		return nil, err
	}

	o.Progress("peer: tokend burst, %d credentials with Vault KV sinks, %s tokens", o.PeerN, o.PeerTTL)
	quiesce()
	prov := &provider{p: ob.p, base: ob.base, issue: func() string { return ob.seed("app", "tokend") }}
	s, err := writeSetup(filepath.Join(dir, "tokend"), filepath.Join(dir, "tokend"), o.PeerN, o.MaxConcurrent, 0, []*provider{prov}, va)
	if err != nil {
		return nil, err
	}
	va0, err := treeCPU(va.pid())
	if err != nil {
		return nil, err
	}
	c, err := startChild(o.Daemon, s.config, 2)
	if err != nil {
		return nil, err
	}
	defer func() { _ = c.stop() }()
	if err := c.waitRefreshed(o.PeerN, 10*time.Minute); err != nil {
		return nil, fmt.Errorf("tokend burst: %w", err)
	}
	d1, err1 := cpuTime(c.cmd.Process.Pid)
	va1, err2 := treeCPU(va.pid())
	if err := firstErr(err1, err2); err != nil {
		return nil, err
	}
	pr.Tokend.BurstCPU = d1 + va1 - va0
	pr.Tokend.BurstRPS = rate(ob.refreshes("tokend"))

	o.Progress("peer: oauthapp burst, %d creds written with grant_type=refresh_token by %d clients", o.PeerN, o.MaxConcurrent)
	quiesce()
	vb0, err := treeCPU(vb.pid())
	if err != nil {
		return nil, err
	}
	if err := writeCreds(hc, vb, ob, o.PeerN, o.MaxConcurrent); err != nil {
		return nil, err
	}
	vb1, err := treeCPU(vb.pid())
	if err != nil {
		return nil, err
	}
	pr.OAuthApp.BurstCPU = vb1 - vb0
	pr.OAuthApp.BurstRPS = rate(ob.refreshes("oauthapp"))

	o.Progress("peer: quiet window, %s", o.PeerFor)
	if err := pr.quiet(o.PeerFor, c.cmd.Process.Pid, va, vb, ob); err != nil {
		return nil, err
	}
	o.Progress("peer: checked window, %s, every credential read in turn", o.PeerFor)
	var wg sync.WaitGroup
	wg.Add(2)
	end := time.Now().Add(o.PeerFor)
	go func() {
		defer wg.Done()
		pr.Tokend.checkLoop(end, o.PeerN, ob, func(i int) (string, time.Time, error) {
			sf, err := va.kvToken(hc, s.sinks[i])
			if err != nil {
				return "", time.Time{}, err
			}
			exp, err := time.Parse(time.RFC3339, sf.ExpiresAt)
			return sf.AccessToken, exp, err
		}, o.Progress)
	}()
	go func() {
		defer wg.Done()
		pr.OAuthApp.checkLoop(end, o.PeerN, ob, func(i int) (string, time.Time, error) {
			return readCred(hc, vb, i)
		}, o.Progress)
	}()
	wg.Wait()
	if err := c.stop(); err != nil {
		return nil, fmt.Errorf("stopping tokend: %w", err)
	}
	pr.Tokend.Margins, pr.OAuthApp.Margins = ob.margins("tokend"), ob.margins("oauthapp")
	pr.Reuses = ob.p.Stats().Reuses
	return pr, nil
}

// quiet measures both sides' CPU, refreshes and memory over a window in
// which nobody reads a token.
func (pr *Peer) quiet(d time.Duration, daemon int, va, vb *vaultServer, ob *observed) error {
	cpus := func() (own, a, b time.Duration, err error) {
		own, err1 := cpuTime(daemon)
		a, err2 := treeCPU(va.pid())
		b, err3 := treeCPU(vb.pid())
		return own, a, b, firstErr(err1, err2, err3)
	}
	own0, a0, b0, err := cpus()
	if err != nil {
		return err
	}
	t0 := time.Now()
	time.Sleep(d)
	own1, a1, b1, err := cpus()
	if err != nil {
		return err
	}
	t1 := time.Now()
	pr.Tokend.QuietOwnCPU = own1 - own0
	pr.Tokend.QuietCPU = own1 - own0 + a1 - a0
	pr.OAuthApp.QuietCPU = b1 - b0
	pr.Tokend.QuietRefreshes = countIn(ob.refreshes("tokend"), t0, t1)
	pr.Tokend.QuietVaultReqs = va.requests(t0, t1)
	pr.OAuthApp.QuietRefreshes = countIn(ob.refreshes("oauthapp"), t0, t1)
	var err1, err2, err3 error
	pr.Tokend.OwnRSS, err1 = rss(daemon)
	ra, err2 := treeRSS(va.pid())
	pr.OAuthApp.RSS, err3 = treeRSS(vb.pid())
	pr.Tokend.RSS = pr.Tokend.OwnRSS + ra
	return firstErr(err1, err2, err3)
}

// checkLoop reads credentials 0..n-1 in turn until end, pausing 100 ms
// between passes, and counts reads, failed reads and tokens served expired
// or inactive.
func (ps *PeerSide) checkLoop(end time.Time, n int, ob *observed, read func(i int) (tok string, exp time.Time, err error), progress func(string, ...any)) {
	for time.Now().Before(end) {
		for i := 0; i < n && time.Now().Before(end); i++ {
			ps.Checks++
			tok, exp, err := read(i)
			now := time.Now()
			switch {
			case err != nil:
				if ps.Failed == 0 {
					progress("peer: first failed read: %v", err)
				}
				ps.Failed++
			case !now.Before(exp) || !ob.p.ActiveAccessToken(tok):
				if ps.Expired == 0 {
					progress("peer: first expired or inactive token served: credential %d, expiry %s, read at %s", i, exp.Format(time.RFC3339), now.Format(time.RFC3339Nano))
				}
				ps.Expired++
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rate is len(ts) over the time from the first to the last (0 for fewer
// than two).
func rate(ts []time.Time) float64 {
	if len(ts) < 2 {
		return 0
	}
	first, last := ts[0], ts[0]
	for _, t := range ts {
		first, last = minTime(first, t), maxTime(last, t)
	}
	if !last.After(first) {
		return 0
	}
	return float64(len(ts)) / last.Sub(first).Seconds()
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
