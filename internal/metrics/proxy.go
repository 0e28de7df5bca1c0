package metrics

import "github.com/prometheus/client_golang/prometheus"

// Proxy counts the traffic of tokend's auth-injecting proxies
// (internal/proxy's Observer). Series are labelled by credential and listen
// address; they are created as requests come and kept for the life of the
// process (a proxy removed by a reload keeps its last values).
type Proxy struct {
	requests *prometheus.CounterVec
	retries  *prometheus.CounterVec
}

// ProxyClasses are the class label values of tokend_proxy_requests_total.
var ProxyClasses = []string{"1xx", "2xx", "3xx", "4xx", "5xx", "error", "no_token"}

// NewProxy registers the proxy counters on m's registry. Call it once per
// Metrics.
func (m *Metrics) NewProxy() *Proxy {
	p := &Proxy{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokend_proxy_requests_total",
			Help: "Requests answered by an auth-injecting proxy, by the upstream's status class (2xx..5xx), error (the upstream did not answer) or no_token (503: the credential has no usable token).",
		}, []string{"credential", "listen", "class"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokend_proxy_retries_total",
			Help: "Requests an auth-injecting proxy sent again with a newer token after the upstream answered 401.",
		}, []string{"credential", "listen"}),
	}
	m.reg.MustRegister(p.requests, p.retries)
	return p
}

// ProxyRequest counts one answered request.
func (p *Proxy) ProxyRequest(credential, listen, class string) {
	p.requests.WithLabelValues(credential, listen, class).Inc()
}

// ProxyRetried counts one request sent again after a 401.
func (p *Proxy) ProxyRetried(credential, listen string) {
	p.retries.WithLabelValues(credential, listen).Inc()
}

// Started creates a proxy's series at 0, so dashboards see them before the
// first request.
func (p *Proxy) Started(credential, listen string) {
	for _, c := range ProxyClasses {
		p.requests.WithLabelValues(credential, listen, c)
	}
	p.retries.WithLabelValues(credential, listen)
}
