package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokend/tokend/internal/buildinfo"
)

// buildInfoGauge is tokend_build_info{version,revision,goversion} 1: which
// binary a scrape came from (buildinfo.Read).
func buildInfoGauge(in buildinfo.Info) prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tokend_build_info", Help: "Always 1; the labels say which tokend binary is running.",
	}, []string{"version", "revision", "goversion"})
	g.WithLabelValues(in.Version, in.Revision, in.GoVersion).Set(1)
	return g
}
