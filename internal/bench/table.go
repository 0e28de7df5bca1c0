package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Targets of issue 7.
const (
	TargetRSS     = 64 << 20
	TargetIdleCPU = 0.005
	TargetStartup = time.Second
	TargetRatio   = 0.9
	TargetP99     = 250 * time.Millisecond
)

// Percentile returns the p-th percentile (0..100) of ds, nearest rank; 0 for none.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// Ratio is tokend's burst throughput over the baseline's: the median of the
// paired rounds' ratios.
func (r *Result) Ratio() float64 { return r.medianOf(Round.Ratio) }

// FloorRatio is tokend's burst throughput over the durable baseline's.
func (r *Result) FloorRatio() float64 { return r.medianOf(Round.FloorRatio) }

// GroupRatio is tokend's burst throughput over the group-commit floor's.
func (r *Result) GroupRatio() float64 { return r.medianOf(Round.GroupRatio) }

func (r *Result) medianOf(f func(Round) float64) float64 {
	var rs []float64
	for _, rd := range r.Rounds {
		rs = append(rs, f(rd))
	}
	return median(rs)
}

// Print writes the result as one table: metric, value, target, verdict.
func (r *Result) Print(w io.Writer) {
	o := r.Opts
	if r.Big == nil { // the peer comparison alone
		if r.Peer != nil {
			r.Peer.print(w)
		}
		return
	}
	ok := func(b bool) string {
		if b {
			return "ok"
		}
		return "MISSED"
	}
	row := func(metric, value, target, verdict string) {
		fmt.Fprintf(w, "| %-50s | %-22s | %-10s | %-6s |\n", metric, value, target, verdict)
	}
	fmt.Fprintf(w, "| %-50s | %-22s | %-10s | %-6s |\n", "metric", "value", "target", "")
	fmt.Fprintf(w, "|%s|%s|%s|%s|\n", dashes(52), dashes(24), dashes(12), dashes(8))
	b := r.Big
	row(fmt.Sprintf("RSS after start-up, %d credentials", b.N), mib(b.RSS), "< 64 MiB", ok(b.RSS < TargetRSS))
	row(fmt.Sprintf("idle CPU over %s", o.Idle), fmt.Sprintf("%.3f%% of a core", 100*b.IdleCPU), "< 0.5%", ok(b.IdleCPU < TargetIdleCPU))
	stored := "stored"
	if r.vault != nil {
		stored = "stored, Vault sinks"
	}
	row(fmt.Sprintf("start-up, %d %s (exec to /readyz)", b.N, stored), ms(b.Startup), "< 1 s", ok(b.Startup < TargetStartup))
	row(fmt.Sprintf("burst: tokend durable rotations/s (%d)", b.N), fmt.Sprintf("%.0f/s (last round)", b.BurstRPS), "", "")
	row("burst: daemon CPU per 1,000 rotations", fmt.Sprintf("%.2f core-s", b.BurstCPU.Seconds()*1000/float64(b.N)), "", "")
	row("burst: daemon CPU per rotation (exec to last)", ms(b.BurstCPU/time.Duration(b.N)), "", "")
	if r.vault != nil {
		row("burst: Vault server CPU per rotation", ms(b.VaultCPU/time.Duration(b.N)), "", "")
		row("burst: Vault requests per rotation", fmt.Sprintf("%.2f", float64(b.VaultBurstReqs)/float64(b.N)), "", "")
		row("start-up: Vault requests per sink", fmt.Sprintf("%.2f", float64(b.VaultStartReqs)/float64(b.N)), "", "")
	}
	row(fmt.Sprintf("burst: baseline refreshes/s (%d workers)", o.MaxConcurrent), fmt.Sprintf("%.0f/s (median)", r.BaselineRPS), "", "")
	var each []string
	for _, rd := range r.Rounds {
		each = append(each, fmt.Sprintf("%.2f", rd.Ratio()))
	}
	row(fmt.Sprintf("burst ratio, each of %d paired rounds", len(r.Rounds)), strings.Join(each, " "), "", "")
	row("burst ratio tokend/baseline (median)", fmt.Sprintf("%.2f", r.Ratio()), ">= 0.9", ok(r.Ratio() >= TargetRatio))
	row("burst: durable baseline (fsync'd files)/s", fmt.Sprintf("%.0f/s (median)", r.DurableRPS), "", "")
	each = each[:0]
	for _, rd := range r.Rounds {
		each = append(each, fmt.Sprintf("%.2f", rd.FloorRatio()))
	}
	row("burst ratio tokend/durable baseline, rounds", strings.Join(each, " "), "", "")
	row("burst ratio tokend/durable baseline (median)", fmt.Sprintf("%.2f", r.FloorRatio()), "", "")
	row("burst: group-commit floor (+1 bbolt put)/s", fmt.Sprintf("%.0f/s (median)", r.GroupRPS), "", "")
	each = each[:0]
	for _, rd := range r.Rounds {
		each = append(each, fmt.Sprintf("%.2f", rd.GroupRatio()))
	}
	row("burst ratio tokend/group-commit floor, rounds", strings.Join(each, " "), "", "")
	row("burst ratio tokend/group-commit floor (median)", fmt.Sprintf("%.2f", r.GroupRatio()), "", "")
	if s := r.Small; s != nil {
		row(fmt.Sprintf("RSS after start-up, %d credentials", s.N), mib(s.RSS), "", "")
		row(fmt.Sprintf("start-up, %d stored", s.N), ms(s.Startup), "", "")
		row(fmt.Sprintf("burst rotations/s (%d)", s.N), fmt.Sprintf("%.0f/s", s.BurstRPS), "", "")
		slope := float64(b.RSS-s.RSS) / float64(b.N-s.N)
		row("memory per credential (RSS slope)", fmt.Sprintf("%.1f KiB", slope/1024), "", "")
	}
	if o.TimelyN > 0 {
		p99 := Percentile(r.Late, 99)
		row(fmt.Sprintf("lateness p50 (%d refreshes, %d creds)", r.Refreshes, o.TimelyN), ms(Percentile(r.Late, 50)), "", "")
		row("lateness p99", ms(p99), "< 250 ms", ok(p99 < TargetP99 && r.Refreshes > 0))
		row("lateness max", ms(Percentile(r.Late, 100)), "", "")
		row(fmt.Sprintf("expired tokens seen in sinks (%d reads)", r.Checks), fmt.Sprint(r.Expired), "0", ok(r.Expired == 0))
	}
	row("refresh-token reuses at the provider", fmt.Sprint(r.Reuses), "0", ok(r.Reuses == 0))
	row("bad sink files after each phase", fmt.Sprint(r.BadSinks), "0", ok(r.BadSinks == 0))
	if r.Peer != nil {
		r.Peer.print(w)
	}
}

func dashes(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '-'
	}
	return string(b)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
