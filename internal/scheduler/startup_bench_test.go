package scheduler

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/logging"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/sinks"
	"github.com/tokend/tokend/internal/state"
)

// BenchmarkStartupLoad builds a scheduler over 10,000 credentials whose
// records are in a file store and runs its start-up (every record loaded,
// every first job planned), the way a daemon restart does:
//
//   - before: one Load (one read transaction) per credential and a
//     "loaded valid token" line for each, as start-up did before
//     (perRecord hides the store's LoadEach; the line is logged at debug
//     now, so the logger is at debug);
//   - now: every record read in one transaction (LoadEach), shared copies
//     of the strings records repeat, one summary line (logger at info).
//
// Besides time and allocs/op it reports cpu-µs/cred (the process's CPU
// time per credential) and live-B/cred: the heap a started
// scheduler keeps per credential (after a GC).
//
//	go test -run '^$' -bench BenchmarkStartupLoad -benchmem -count 6 ./internal/scheduler/
func BenchmarkStartupLoad(b *testing.B) {
	const n = 10_000
	st, creds := startupBenchStore(b, n)
	for _, c := range []struct {
		name  string
		store Store
		level string
	}{{"before", perRecord{st}, "debug"}, {"now", st, "info"}} {
		b.Run(c.name, func(b *testing.B) {
			log, err := logging.New(io.Discard, c.level)
			if err != nil {
				b.Fatal(err)
			}
			start := func() *Scheduler {
				s, err := New(Options{Store: c.store, Logger: log}, creds)
				if err == nil {
					err = s.startup(context.Background())
				}
				if err != nil {
					b.Fatal(err)
				}
				return s
			}
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			for b.Loop() {
				start()
			}
			// CPU time (all threads, GC included) is steadier than wall
			// time on a shared machine.
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N)/n, "cpu-µs/cred")
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			s := start()
			runtime.GC()
			runtime.ReadMemStats(&m1)
			runtime.KeepAlive(s)
			b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/n, "live-B/cred")
		})
	}
}

// startupBenchStore opens a file store holding n stored credentials, each
// with a valid access token, and returns it with their Credentials.
func startupBenchStore(b *testing.B, n int) (*state.FileStore, []Credential) {
	b.Helper()
	now := time.Now().UTC().Round(0)
	st, err := state.Open(b.TempDir(), state.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	creds := make([]Credential, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range creds {
		name := fmt.Sprintf("c%06d", i)
		creds[i] = Credential{Name: name, Grant: "refresh_token", Source: newStrictSource(time.Hour, "rt"), Sinks: []Sink{benchSink("file:/run/tokens/" + name + ".json")},
			Provider: "http://127.0.0.1:8080"}
		rec := state.Record{Credential: name, RefreshToken: secret.New("rt-" + name + "-0123456789abcdef"),
			AccessToken: secret.New("at-" + name + "-0123456789abcdef0123456789abcdef"), TokenType: "Bearer",
			ExpiresAt: now.Add(24 * time.Hour), IssuedAt: now, LastSuccess: now, Generation: 2, Status: state.StatusOK}
		wg.Go(func() { errs <- st.Save(context.Background(), rec) }) // concurrent saves share commits
		if i%256 == 255 {
			wg.Wait()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	return st, creds
}

// BenchmarkSnapshot takes the status snapshot of 10,000 started
// credentials (each /readyz, each scrape, systemd's status line): before,
// a sink-status slice per credential; now, one array for all.
func BenchmarkSnapshot(b *testing.B) {
	st, creds := startupBenchStore(b, 10_000)
	s, err := New(Options{Store: st}, creds)
	if err == nil {
		err = s.startup(context.Background())
	}
	if err != nil {
		b.Fatal(err)
	}
	before := func() []CredentialStatus {
		s.mu.Lock()
		defer s.mu.Unlock()
		out := make([]CredentialStatus, 0, len(s.order))
		for _, name := range s.order {
			out = append(out, s.statusLocked(s.entries[name]))
		}
		return out
	}
	if !reflect.DeepEqual(before(), s.Snapshot()) {
		b.Fatal("the snapshots differ")
	}
	for _, c := range []struct {
		name string
		snap func() []CredentialStatus
	}{{"before", before}, {"now", s.Snapshot}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.snap()
			}
		})
	}
}

// benchSink names itself like a file sink (a string kept, not built per
// call) and writes nothing.
type benchSink string

func (benchSink) Write(context.Context, sinks.Token) error { return nil }
func (s benchSink) String() string                         { return string(s) }

// cpuTime is the process's user+system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
