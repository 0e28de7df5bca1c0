package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// BenchmarkProxyOverhead sends b.N small GETs straight to a loopback
// upstream and b.N through the proxy, interleaved so both see the same
// machine load, and reports the p50 latency of each and the p50 and p90
// ratios (issue 13's target: p50 ratio at most 1.2 on loopback). Both
// clients keep their connections alive, as a consumer of the proxy would.
// Two upstreams: one that answers at once (the ratio is then mostly the
// proxy's extra loopback hop) and one that takes 1 ms, like a fast API.
func BenchmarkProxyOverhead(b *testing.B) {
	for _, work := range []time.Duration{0, time.Millisecond} {
		b.Run("upstream="+work.String(), func(b *testing.B) { benchProxy(b, work) })
	}
}

func benchProxy(b *testing.B, work time.Duration) {
	src := &fakeSource{gen: 1}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if work > 0 {
			time.Sleep(work)
		}
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer up.Close()
	srv := start(b, "127.0.0.1:0", up.URL, "", src, nil)
	direct, proxied := client(), client()
	get := func(c *http.Client, url string) time.Duration {
		t0 := time.Now()
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("HTTP %d", resp.StatusCode)
		}
		return time.Since(t0)
	}
	for range 50 { // warm both connection pools
		get(direct, up.URL+"/x")
		get(proxied, "http://"+srv.Addr()+"/x")
	}
	d := make([]time.Duration, 0, b.N)
	p := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		d = append(d, get(direct, up.URL+"/x"))
		p = append(p, get(proxied, "http://"+srv.Addr()+"/x"))
	}
	b.StopTimer()
	slices.Sort(d)
	slices.Sort(p)
	q := func(s []time.Duration, f float64) float64 { return float64(s[int(f*float64(len(s)-1))]) / 1e3 }
	b.ReportMetric(q(d, 0.5), "direct-p50-µs")
	b.ReportMetric(q(p, 0.5), "proxy-p50-µs")
	b.ReportMetric(q(p, 0.5)/q(d, 0.5), "p50-ratio")
	b.ReportMetric(q(p, 0.9)/q(d, 0.9), "p90-ratio")
}
