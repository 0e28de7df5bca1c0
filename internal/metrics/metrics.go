// Package metrics exposes tokend's Prometheus metrics on a registry of its
// own (no global state). Counters and the duration histogram are fed by
// events (it implements scheduler.Observer and hook.Observer); the
// per-credential gauges are read from the scheduler's snapshot at scrape
// time, and the per-credential counters (counters.go) are exposed for the
// credentials in it, so a credential removed by a reload disappears from
// both at once.
package metrics

import (
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tokend/tokend/internal/buildinfo"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/state"
)

// Statuses lists every status the tokend_credential_status gauge reports,
// one series each (1 for the current one, 0 for the others).
var Statuses = []state.Status{state.StatusOK, state.StatusRefreshing, state.StatusBackoff, state.StatusNeedsReauth, state.StatusPending}

// Metrics holds tokend's collectors. Its observer methods are safe for
// concurrent use and never block.
type Metrics struct {
	reg      *prometheus.Registry
	counts   *counterSet
	duration prometheus.Histogram // one for all credentials: per-credential buckets cost 10 series each
	reloads  *prometheus.CounterVec
}

// New builds the metrics. snapshot is called on every scrape for the
// per-credential gauges; it must be safe to call from any goroutine (the
// scheduler's Snapshot is).
func New(snapshot func() []scheduler.CredentialStatus) *Metrics {
	m := &Metrics{
		reg:    prometheus.NewRegistry(),
		counts: &counterSet{},
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tokend_refresh_duration_seconds", Help: "Time of one call to the token endpoint (all credentials).",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokend_config_reloads_total", Help: "Config reloads, by result (ok, error).",
		}, []string{"result"}),
	}
	m.reg.MustRegister(m.duration, m.reloads, &credentialCollector{snapshot: snapshot, counts: m.counts},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfoGauge(buildinfo.Read()))
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("error")
	return m
}

// Registry is the registry every tokend metric is on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// RefreshFinished counts one token-endpoint call and its duration.
func (m *Metrics) RefreshFinished(credential string, took time.Duration, err error) {
	c := m.counts.cred(credential)
	c.attempts.Add(1)
	m.duration.Observe(took.Seconds())
	if err != nil {
		c.failures[classIndex(err)].Add(1)
	}
}

// SinkWritten counts one sink write. The failure series exists (at 0) from
// the first write on.
func (m *Metrics) SinkWritten(credential, sink string, err error) {
	sc := m.counts.sink(credential, sink)
	sc.writes.Add(1) // before the failure: a scrape never sees more failures than writes
	if err != nil {
		sc.writeFailures.Add(1)
	}
}

// StatusChanged is a no-op: the status gauges are read at scrape time.
func (m *Metrics) StatusChanged(scheduler.CredentialStatus) {}

// HookRan counts one on_change hook run.
func (m *Metrics) HookRan(credential, sink string, _ time.Duration, err error) {
	sc := m.counts.sink(credential, sink)
	sc.hookRuns.Add(1)
	if err != nil {
		sc.hookFailures.Add(1)
	}
}

// ReloadFinished counts one config reload.
func (m *Metrics) ReloadFinished(err error) {
	if err != nil {
		m.reloads.WithLabelValues("error").Inc()
		return
	}
	m.reloads.WithLabelValues("ok").Inc()
}

var (
	descExpiry = prometheus.NewDesc("tokend_credential_expiry_timestamp_seconds",
		"When the current access token expires (Unix time); absent when unknown.", []string{"credential"}, nil)
	descSuccess = prometheus.NewDesc("tokend_credential_last_success_timestamp_seconds",
		"When the last refresh succeeded (Unix time); absent before the first.", []string{"credential"}, nil)
	descNext = prometheus.NewDesc("tokend_credential_next_refresh_timestamp_seconds",
		"When the next refresh is planned (Unix time); absent when none is.", []string{"credential"}, nil)
	descRTExpiry = prometheus.NewDesc("tokend_credential_refresh_token_expiry_timestamp_seconds",
		"When the stored refresh token expires (Unix time), as the provider said (refresh_token_expires_in); absent when unknown.", []string{"credential"}, nil)
	descGeneration = prometheus.NewDesc("tokend_credential_generation",
		"Committed refreshes of the credential's token (increases by one on each).", []string{"credential"}, nil)
	descStatus = prometheus.NewDesc("tokend_credential_status",
		"1 for the credential's current status, 0 for the others.", []string{"credential", "status"}, nil)
	descSinkOK = prometheus.NewDesc("tokend_sink_ok",
		"1 when the sink's last write succeeded.", []string{"credential", "sink"}, nil)
)

// credentialCollector reads the per-credential gauges from a snapshot.
type credentialCollector struct {
	snapshot func() []scheduler.CredentialStatus
	counts   *counterSet
}

// Describe sends the gauges' and counters' descriptors.
func (c *credentialCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descExpiry, descSuccess, descNext, descRTExpiry, descGeneration, descStatus, descSinkOK,
		descAttempts, descFailures, descSinkWrites, descSinkFailures, descHookRuns, descHookFailures} {
		ch <- d
	}
}

// Collect sends the gauges and counters of every credential in the
// snapshot, and forgets the counters of credentials no longer in it. Without
// a snapshot it sends every counter.
func (c *credentialCollector) Collect(ch chan<- prometheus.Metric) {
	if c.snapshot == nil {
		c.counts.collectAll(ch)
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	stamp := func(d *prometheus.Desc, t time.Time, name string) {
		if !t.IsZero() {
			gauge(d, float64(t.UnixMilli())/1000, name)
		}
	}
	sts := c.snapshot()
	counted := 0 // credentials in sts that have counters
	for _, st := range sts {
		if c.counts.collect(ch, st.Name, func(sink string) bool {
			return slices.ContainsFunc(st.Sinks, func(s scheduler.SinkStatus) bool { return s.Name == sink })
		}) {
			counted++
		}
		stamp(descExpiry, st.ExpiresAt, st.Name)
		stamp(descSuccess, st.LastSuccess, st.Name)
		stamp(descNext, st.NextRefresh, st.Name)
		stamp(descRTExpiry, st.RefreshTokenExpiresAt, st.Name)
		gauge(descGeneration, float64(st.Generation), st.Name)
		for _, s := range Statuses {
			v := 0.0
			if st.Status == s {
				v = 1
			}
			gauge(descStatus, v, st.Name, string(s))
		}
		for _, sk := range st.Sinks {
			v := 0.0
			if sk.OK {
				v = 1
			}
			gauge(descSinkOK, v, st.Name, sk.Name)
		}
	}
	c.counts.forgetOthers(sts, counted)
}
