package metrics

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/state"
)

// scrape fetches srv's /metrics over HTTP and parses the text format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// value returns the value of the series of fam whose labels include all of
// want, failing when there is not exactly one.
func value(t *testing.T, fams map[string]*dto.MetricFamily, fam string, want map[string]string) float64 {
	t.Helper()
	f, ok := fams[fam]
	if !ok {
		t.Fatalf("metric %s missing", fam)
	}
	var found []*dto.Metric
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, lp := range m.Label {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		found = append(found, m)
	}
	if len(found) != 1 {
		t.Fatalf("%s%v: %d series", fam, want, len(found))
	}
	m := found[0]
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	t.Fatalf("%s: unexpected type", fam)
	return 0
}

type snap struct {
	mu  sync.Mutex
	sts []scheduler.CredentialStatus
}

func (s *snap) get() []scheduler.CredentialStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]scheduler.CredentialStatus(nil), s.sts...)
}

func TestMetricsExposition(t *testing.T) {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	ok := time.Date(2030, 1, 2, 2, 4, 5, 500_000_000, time.UTC)
	sn := &snap{sts: []scheduler.CredentialStatus{
		{Name: "app", Status: state.StatusOK, ExpiresAt: exp, LastSuccess: ok, NextRefresh: exp.Add(-20 * time.Minute), Generation: 7,
			Sinks: []scheduler.SinkStatus{{Name: "file:/run/tokend/app.json", OK: true}, {Name: "envfile:/run/tokend/tokens.env:APP", OK: false}}},
		{Name: "svc", Status: state.StatusNeedsReauth},
	}}
	m := New(sn.get)
	perm := &grants.Error{Code: "invalid_grant", Class: grants.ClassPermanent}
	m.RefreshFinished("app", 300*time.Millisecond, nil)
	m.RefreshFinished("app", 2*time.Second, errors.New("dial tcp: connection refused"))
	m.RefreshFinished("svc", 100*time.Millisecond, perm)
	m.SinkWritten("app", "file:/run/tokend/app.json", nil)
	m.SinkWritten("app", "envfile:/run/tokend/tokens.env:APP", errors.New("disk full"))
	m.SinkWritten("app", "envfile:/run/tokend/tokens.env:APP", errors.New("disk full"))
	m.HookRan("app", "file:/run/tokend/app.json", time.Second, nil)
	m.HookRan("app", "file:/run/tokend/app.json", time.Second, errors.New("exit status 1"))
	m.ReloadFinished(nil)
	m.ReloadFinished(errors.New("bad"))
	m.ReloadFinished(nil)

	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	f := scrape(t, srv.URL)

	app := map[string]string{"credential": "app"}
	checks := []struct {
		fam    string
		labels map[string]string
		want   float64
	}{
		{"tokend_refresh_attempts_total", app, 2},
		{"tokend_refresh_failures_total", map[string]string{"credential": "app", "class": "transient"}, 1},
		{"tokend_refresh_failures_total", map[string]string{"credential": "svc", "class": "permanent"}, 1},
		{"tokend_refresh_duration_seconds", nil, 3}, // one histogram for all credentials
		{"tokend_sink_writes_total", map[string]string{"credential": "app", "sink": "envfile:/run/tokend/tokens.env:APP"}, 2},
		{"tokend_sink_write_failures_total", map[string]string{"credential": "app", "sink": "envfile:/run/tokend/tokens.env:APP"}, 2},
		{"tokend_sink_write_failures_total", map[string]string{"credential": "app", "sink": "file:/run/tokend/app.json"}, 0},
		{"tokend_hook_runs_total", app, 2},
		{"tokend_hook_failures_total", app, 1},
		{"tokend_config_reloads_total", map[string]string{"result": "ok"}, 2},
		{"tokend_config_reloads_total", map[string]string{"result": "error"}, 1},
		{"tokend_credential_expiry_timestamp_seconds", app, float64(exp.Unix())},
		{"tokend_credential_last_success_timestamp_seconds", app, float64(ok.Unix()) + 0.5},
		{"tokend_credential_next_refresh_timestamp_seconds", app, float64(exp.Unix() - 1200)},
		{"tokend_credential_generation", app, 7},
		{"tokend_credential_status", map[string]string{"credential": "app", "status": "ok"}, 1},
		{"tokend_credential_status", map[string]string{"credential": "app", "status": "needs_reauth"}, 0},
		{"tokend_credential_status", map[string]string{"credential": "svc", "status": "needs_reauth"}, 1},
		{"tokend_credential_status", map[string]string{"credential": "svc", "status": "ok"}, 0},
		{"tokend_sink_ok", map[string]string{"credential": "app", "sink": "file:/run/tokend/app.json"}, 1},
		{"tokend_sink_ok", map[string]string{"credential": "app", "sink": "envfile:/run/tokend/tokens.env:APP"}, 0},
	}
	for _, c := range checks {
		if got := value(t, f, c.fam, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.fam, c.labels, got, c.want)
		}
	}
	// One status series per known status, per credential.
	if n := len(f["tokend_credential_status"].Metric); n != 2*len(Statuses) {
		t.Errorf("%d status series, want %d", n, 2*len(Statuses))
	}
	// Unknown timestamps are absent, not 0 (a 1970 expiry would page someone).
	for _, m := range f["tokend_credential_expiry_timestamp_seconds"].Metric {
		if m.Label[0].GetValue() == "svc" {
			t.Error("expiry reported for a credential with no token")
		}
	}
	if h := f["tokend_refresh_duration_seconds"]; h.GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("duration is a %v", h.GetType())
	}
	if _, ok := f["go_goroutines"]; !ok {
		t.Error("Go runtime metrics missing")
	}

	// A credential removed by a reload disappears from the gauges and the
	// counters at once, and so does a sink removed from a credential.
	sn.mu.Lock()
	sn.sts = sn.sts[:1]
	sn.sts[0].Sinks = sn.sts[0].Sinks[:1]
	sn.mu.Unlock()
	f = scrape(t, srv.URL)
	if n := len(f["tokend_credential_status"].Metric); n != len(Statuses) {
		t.Errorf("after removal: %d status series", n)
	}
	if n := len(f["tokend_refresh_failures_total"].Metric); n != 1 {
		t.Errorf("after removal: %d failure series, want app's only", n)
	}
	for _, fam := range []string{"tokend_sink_writes_total", "tokend_sink_write_failures_total"} {
		if n := len(f[fam].Metric); n != 1 {
			t.Errorf("after removal: %d %s series, want the remaining sink's only", n, fam)
		}
	}
	if got := value(t, f, "tokend_refresh_attempts_total", app); got != 2 {
		t.Errorf("app's attempts after a reload: %v, want 2", got)
	}
}

// TestRemovedCredentialCountersAreForgotten: the counters of a credential
// removed by a reload are freed (not only hidden), one scrape later, while a
// credential that had events before it reached the snapshot keeps them.
func TestRemovedCredentialCountersAreForgotten(t *testing.T) {
	sn := &snap{sts: []scheduler.CredentialStatus{{Name: "a"}, {Name: "b"}}}
	m := New(sn.get)
	m.RefreshFinished("a", time.Second, nil)
	m.RefreshFinished("b", time.Second, nil)
	m.RefreshFinished("new", time.Second, nil) // added by a reload after the snapshot
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()

	sn.mu.Lock()
	sn.sts = sn.sts[:1] // b removed
	sn.mu.Unlock()
	f := scrape(t, srv.URL)
	if n := len(f["tokend_refresh_attempts_total"].Metric); n != 1 {
		t.Fatalf("%d attempt series, want a's only", n)
	}
	sn.mu.Lock()
	sn.sts = append(sn.sts, scheduler.CredentialStatus{Name: "new"})
	sn.mu.Unlock()
	scrape(t, srv.URL)
	m.counts.mu.Lock()
	_, hasB := m.counts.creds["b"]
	_, hasNew := m.counts.creds["new"]
	m.counts.mu.Unlock()
	if hasB || !hasNew {
		t.Fatalf("after two scrapes: b kept %v (want false), new kept %v (want true)", hasB, hasNew)
	}
	if got := value(t, scrape(t, srv.URL), "tokend_refresh_attempts_total", map[string]string{"credential": "new"}); got != 1 {
		t.Fatalf("new's attempts %v, want 1", got)
	}
}

// TestCountersConcurrent counts from many goroutines while scraping.
func TestCountersConcurrent(t *testing.T) {
	sn := &snap{sts: []scheduler.CredentialStatus{{Name: "a", Sinks: []scheduler.SinkStatus{{Name: "s"}}}}}
	m := New(sn.get)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				m.RefreshFinished("a", time.Millisecond, nil)
				m.SinkWritten("a", "s", errors.New("x"))
				m.HookRan("a", "s", 0, nil)
			}
		})
	}
	scrape(t, srv.URL)
	wg.Wait()
	f := scrape(t, srv.URL)
	ls := map[string]string{"credential": "a", "sink": "s"}
	if a, w, fl, h := value(t, f, "tokend_refresh_attempts_total", map[string]string{"credential": "a"}),
		value(t, f, "tokend_sink_writes_total", ls), value(t, f, "tokend_sink_write_failures_total", ls),
		value(t, f, "tokend_hook_runs_total", ls); a != 800 || w != 800 || fl != 800 || h != 800 {
		t.Fatalf("attempts %v, writes %v, failures %v, hooks %v; want 800 each", a, w, fl, h)
	}
}

func TestRegistriesAreIndependent(t *testing.T) {
	// No globals: two daemons in one process (tests) each get their own.
	a, b := New(nil), New(nil)
	a.RefreshFinished("x", time.Second, nil)
	sa, sb := httptest.NewServer(a.Handler()), httptest.NewServer(b.Handler())
	defer sa.Close()
	defer sb.Close()
	if value(t, scrape(t, sa.URL), "tokend_refresh_attempts_total", map[string]string{"credential": "x"}) != 1 {
		t.Fatal("a: attempt not counted")
	}
	if _, ok := scrape(t, sb.URL)["tokend_refresh_attempts_total"]; ok {
		t.Fatal("b sees a's attempts")
	}
}

// TestRefreshTokenExpiryMetric: the refresh token's expiry is exported when
// known and absent otherwise.
func TestRefreshTokenExpiryMetric(t *testing.T) {
	rtExp := time.Date(2031, 6, 1, 0, 0, 0, 0, time.UTC)
	sn := &snap{sts: []scheduler.CredentialStatus{
		{Name: "github", Status: state.StatusOK, RefreshTokenExpiresAt: rtExp},
		{Name: "plain", Status: state.StatusOK},
	}}
	srv := httptest.NewServer(New(sn.get).Handler())
	defer srv.Close()
	f := scrape(t, srv.URL)
	const fam = "tokend_credential_refresh_token_expiry_timestamp_seconds"
	if got := value(t, f, fam, map[string]string{"credential": "github"}); got != float64(rtExp.Unix()) {
		t.Errorf("%s = %v, want %v", fam, got, rtExp.Unix())
	}
	if n := len(f[fam].Metric); n != 1 {
		t.Errorf("%d series, want 1 (none for a credential without a refresh-token expiry)", n)
	}
}
