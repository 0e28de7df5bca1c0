package vault_test

import (
	"fmt"
	"testing"
	"time"

	vaultsink "github.com/tokend/tokend/internal/sinks/vault"
	"github.com/tokend/tokend/internal/vaulttest"
)

// BenchmarkStartupChecks builds 1,000 Vault sinks against the real Vault,
// once with Prepare (each mount once, every policy in one request) and
// once without (two requests per sink in series), in the same iteration,
// and reports the time ratio serial/prepared.
func BenchmarkStartupChecks(b *testing.B) {
	srv := vaulttest.Start(b)
	c := srv.TokendClient(srv.RootToken)
	const n = 1000
	build := func(prepare bool, round int) time.Duration {
		cfgs := make([]*vaultsink.Config, n)
		for i := range cfgs {
			// Fresh paths each round, so no answer is reused across rounds.
			cfgs[i] = &vaultsink.Config{Path: fmt.Sprintf("r%d/%t/c%d", round, prepare, i)}
			cfgs[i].Defaults()
		}
		start := time.Now()
		if prepare {
			if err := vaultsink.Prepare(cfgs, c); err != nil {
				b.Fatal(err)
			}
		}
		for i, cf := range cfgs {
			if _, err := cf.Build(c, fmt.Sprint(i)); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	var serial, prepared time.Duration
	for i := 0; b.Loop(); i++ {
		serial += build(false, i)
		prepared += build(true, i)
	}
	b.ReportMetric(float64(serial)/float64(prepared), "serial/prepared")
	b.ReportMetric(float64(prepared.Microseconds())/float64(b.N*n), "prepared-µs/sink")
}
