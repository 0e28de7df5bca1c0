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
		{"tokend_refresh_duration_seconds", app, 2},
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

	// A credential removed by a reload disappears from the gauges at once.
	sn.mu.Lock()
	sn.sts = sn.sts[:1]
	sn.mu.Unlock()
	f = scrape(t, srv.URL)
	if n := len(f["tokend_credential_status"].Metric); n != len(Statuses) {
		t.Errorf("after removal: %d status series", n)
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
