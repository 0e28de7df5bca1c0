package scheduler

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/syncbuf"
)

// providerLoad is a token endpoint shared by credentials at several
// providers. It records calls in flight per provider, the most seen at once,
// and when each call started. A call takes hold (fake time) or, with release
// set, waits for one value on it.
type providerLoad struct {
	mu       sync.Mutex
	inflight map[string]int
	peak     map[string]int
	total    int // in flight across providers
	peakAll  int
	starts   map[string][]time.Time
	calls    map[string]int // by credential
	hold     time.Duration
	holdBy   map[string]time.Duration // per provider, instead of hold
	release  chan struct{}
}

func newProviderLoad() *providerLoad {
	return &providerLoad{inflight: map[string]int{}, peak: map[string]int{}, starts: map[string][]time.Time{}, calls: map[string]int{}}
}

type loadSource struct {
	l              *providerLoad
	provider, name string
}

func (s loadSource) Renew(ctx context.Context, _ secret.Secret) (grants.Token, error) {
	l := s.l
	l.mu.Lock()
	l.inflight[s.provider]++
	l.total++
	l.peak[s.provider] = max(l.peak[s.provider], l.inflight[s.provider])
	l.peakAll = max(l.peakAll, l.total)
	l.starts[s.provider] = append(l.starts[s.provider], time.Now())
	l.calls[s.name]++
	hold, ok := l.holdBy[s.provider]
	if !ok {
		hold = l.hold
	}
	l.mu.Unlock()
	if l.release != nil {
		select { // ctx: a failed test's shutdown (after the fake grace) must not deadlock
		case <-l.release:
		case <-ctx.Done():
		}
	} else {
		time.Sleep(hold)
	}
	l.mu.Lock()
	l.inflight[s.provider]--
	l.total--
	l.mu.Unlock()
	now := time.Now()
	return grants.Token{AccessToken: secret.New("at-" + s.name + "-secretvalue"), TokenType: "Bearer",
		IssuedAt: now, ExpiresAt: now.Add(time.Hour)}, nil
}

func (l *providerLoad) snapshot() (peak map[string]int, peakAll int, starts map[string][]time.Time, calls map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	starts = map[string][]time.Time{}
	for k, v := range l.starts {
		starts[k] = slices.Clone(v)
	}
	return clone(l.peak), l.peakAll, starts, clone(l.calls)
}

func clone(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// loadCreds returns n client_credentials credentials at provider prov, named
// prefix1..prefixN.
func loadCreds(l *providerLoad, prov, prefix string, n int) []Credential {
	var out []Credential
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("%s%d", prefix, i)
		out = append(out, Credential{Name: name, Grant: grants.GrantClientCredentials, Provider: prov, Source: loadSource{l, prov, name}})
	}
	return out
}

// runLimited starts a scheduler with the given per-provider limits (keys not
// listed are unlimited) and stops it at cleanup.
func runLimited(t *testing.T, logs *syncbuf.Buffer, maxConc int, limits map[string]ProviderLimit, creds []Credential) *Scheduler {
	t.Helper()
	s, err := New(Options{Store: newMemStore(), Logger: newLogger(logs), MaxConcurrent: maxConc, Rand: func() float64 { return 0.5 },
		ProviderLimit: func(key string) ProviderLimit { return limits[key] }}, creds)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s
}

const provA, provB = "https://a.example:443", "https://b.example:443"

// TestProviderConcurrencyLimit: 50 credentials at provider A all due at once
// with max_concurrent 3 for A never have more than 3 calls in flight there,
// while B's 3 credentials start at once beside them (they do not queue behind
// A's 47 waiting ones); the global bound of 6 still holds.
func TestProviderConcurrencyLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newProviderLoad()
		l.hold = time.Second
		logs := &syncbuf.Buffer{}
		t0 := time.Now()
		runLimited(t, logs, 6, map[string]ProviderLimit{provA: {MaxConcurrent: 3}},
			append(loadCreds(l, provA, "a", 50), loadCreds(l, provB, "b", 3)...))
		time.Sleep(30 * time.Second)
		synctest.Wait()
		peak, peakAll, starts, calls := l.snapshot()
		if peak[provA] != 3 || peak[provB] != 3 || peakAll != 6 {
			t.Fatalf("peak in flight: A %d, B %d, all %d; want 3, 3, 6", peak[provA], peak[provB], peakAll)
		}
		for _, at := range starts[provB] {
			if !at.Equal(t0) {
				t.Fatalf("a credential at B started %v after start-up; want all at once", at.Sub(t0))
			}
		}
		for i := 1; i <= 50; i++ {
			if n := calls[fmt.Sprintf("a%d", i)]; n != 1 {
				t.Fatalf("credential a%d refreshed %d times; want 1", i, n)
			}
		}
		// 50 calls of 1 s, 3 at a time: 17 rounds, the last starting at 16 s.
		if last := starts[provA][49].Sub(t0); last != 16*time.Second {
			t.Fatalf("last call at A started after %v; want 16s", last)
		}
		// Waiting is visible at debug level (one line per held-back refresh,
		// up to 47: timer items due at the same instant pop in any order).
		waits := strings.Count(logs.String(), `"msg":"refresh waiting for its provider's limit"`)
		debugWaits := strings.Count(logs.String(), `{"level":"debug","ts":`)
		if waits == 0 || waits > 47 || debugWaits < waits {
			t.Fatalf("%d waiting lines, %d at debug level; want 1-47, all at debug", waits, debugWaits)
		}
	})
}

// TestProviderRateLimit: 20 refreshes due at once toward a provider limited to
// 10 calls/s start 100 ms apart after the burst.
func TestProviderRateLimit(t *testing.T) {
	for _, tc := range []struct {
		burst     int
		atOnce    int           // starts at t0
		wantFinal time.Duration // start of the 20th call
	}{
		{burst: 1, atOnce: 1, wantFinal: 1900 * time.Millisecond},
		{burst: 5, atOnce: 5, wantFinal: 1500 * time.Millisecond},
	} {
		t.Run(fmt.Sprintf("burst%d", tc.burst), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newProviderLoad()
				t0 := time.Now()
				runLimited(t, &syncbuf.Buffer{}, 16, map[string]ProviderLimit{provA: {Rate: 10, Burst: tc.burst}},
					loadCreds(l, provA, "a", 20))
				time.Sleep(10 * time.Second)
				synctest.Wait()
				_, _, starts, _ := l.snapshot()
				st := starts[provA]
				if len(st) != 20 {
					t.Fatalf("%d calls; want 20", len(st))
				}
				for i, at := range st {
					switch {
					case i < tc.atOnce && !at.Equal(t0):
						t.Fatalf("call %d started at +%v; want the burst at once", i, at.Sub(t0))
					case i >= tc.atOnce && at.Sub(st[i-1]) < 100*time.Millisecond:
						t.Fatalf("calls %d and %d started %v apart; want >= 100ms", i-1, i, at.Sub(st[i-1]))
					}
				}
				if got := st[19].Sub(t0); got != tc.wantFinal {
					t.Fatalf("the 20th call started at +%v; want +%v", got, tc.wantFinal)
				}
			})
		})
	}
}

// TestProviderWaitingRemovedByReload: a credential removed by a reload while
// it waits for its provider's slot is never started, and the slot accounting
// stays right: the remaining and later refreshes (forced ones included, which
// go through the same limit) still run one at a time.
func TestProviderWaitingRemovedByReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newProviderLoad()
		l.release = make(chan struct{})
		creds := loadCreds(l, provA, "a", 3)
		s := runLimited(t, &syncbuf.Buffer{}, 16, map[string]ProviderLimit{provA: {MaxConcurrent: 1}}, creds)
		synctest.Wait() // one in flight, two waiting
		_, _, _, calls := l.snapshot()
		var first, gone, kept Credential // in flight, removed while waiting, waiting
		for _, c := range creds {
			switch {
			case calls[c.Name] == 1:
				first = c
			case gone.Name == "":
				gone = c
			default:
				kept = c
			}
		}
		if len(calls) != 1 || first.Name == "" {
			t.Fatalf("calls at start %v; want one in flight", calls)
		}
		if err := s.Update(context.Background(), []Credential{first, kept}); err != nil {
			t.Fatal(err)
		}
		l.release <- struct{}{} // first finishes; kept (not gone) takes the slot
		synctest.Wait()
		l.release <- struct{}{}
		synctest.Wait()
		if _, _, _, calls := l.snapshot(); calls[first.Name] != 1 || calls[gone.Name] != 0 || calls[kept.Name] != 1 {
			t.Fatalf("calls %v; want %s and %s once, %s (removed while waiting) never", calls, first.Name, kept.Name, gone.Name)
		}
		checkGate := func(when string) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if p := s.gates.byKey[provA]; p.running != 0 || len(p.waiting) != 0 {
				t.Fatalf("%s: provider A has %d running and %d waiting; want 0 and 0", when, p.running, len(p.waiting))
			}
		}
		checkGate("after the reload")

		// The removed one added back, then forced refreshes of the other two
		// (after the reload, which re-plans them): one at a time, all run.
		if err := s.Update(context.Background(), creds); err != nil {
			t.Fatal(err)
		}
		for _, c := range []Credential{first, kept} {
			if err := s.RefreshNow(c.Name); err != nil {
				t.Fatal(err)
			}
		}
		for range 3 {
			synctest.Wait()
			l.release <- struct{}{}
		}
		synctest.Wait()
		peak, _, _, calls := l.snapshot()
		if calls[first.Name] != 2 || calls[gone.Name] != 1 || calls[kept.Name] != 2 || peak[provA] != 1 {
			t.Fatalf("calls %v, peak %d; want %s and %s twice, %s once, never 2 at once",
				calls, peak[provA], first.Name, kept.Name, gone.Name)
		}
		checkGate("at the end")
	})
}

// TestProviderWaitingMovesWithReload: a waiting credential whose token
// endpoint host a reload changed moves to the new provider's queue, and the
// old provider's queue goes on without it.
func TestProviderWaitingMovesWithReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newProviderLoad()
		l.holdBy = map[string]time.Duration{provA: time.Second, provB: 10 * time.Second}
		a := loadCreds(l, provA, "a", 3)
		b := loadCreds(l, provB, "b", 1)
		t0 := time.Now()
		one := ProviderLimit{MaxConcurrent: 1}
		s := runLimited(t, &syncbuf.Buffer{}, 16, map[string]ProviderLimit{provA: one, provB: one}, append(a, b...))
		synctest.Wait() // one of a1-a3 and b1 in flight, two at A waiting
		s.mu.Lock()
		head := s.gates.byKey[provA].waiting[0].name // moved while another waits behind it
		s.mu.Unlock()
		var moved Credential
		for _, c := range a {
			if c.Name == head {
				moved = c
			}
		}
		newA := slices.Clone(a)
		for i, c := range newA {
			if c.Name == moved.Name {
				newA[i] = Credential{Name: c.Name, Grant: c.Grant, Provider: provB, Source: loadSource{l, provB, c.Name}}
			}
		}
		if err := s.Update(context.Background(), append(newA, b...)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		peak, _, starts, calls := l.snapshot()
		if len(starts[provA]) != 2 || !starts[provA][1].Equal(t0.Add(time.Second)) {
			t.Fatalf("starts at A %v; want 2, the second 1s in (not stuck behind the moved one)", starts[provA])
		}
		if calls[moved.Name] != 1 || len(starts[provB]) != 2 || !starts[provB][1].Equal(t0.Add(10*time.Second)) || peak[provB] != 1 {
			t.Fatalf("%s called %d times; starts at B %v, peak %d; want once, after b1 at 10s, one at a time",
				moved.Name, calls[moved.Name], starts[provB], peak[provB])
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, key := range []string{provA, provB} {
			if p := s.gates.byKey[key]; p.running != 0 || len(p.waiting) != 0 {
				t.Fatalf("%s: %d running, %d waiting; want 0, 0", key, p.running, len(p.waiting))
			}
		}
	})
}

// TestProviderTakeHoldsOneToken: the gate holds at most one reserved token,
// reserves it only with a slot free, and a wall clock that jumps back does
// not leave the provider stalled until the old reservation time.
func TestProviderTakeHoldsOneToken(t *testing.T) {
	s := &Scheduler{opts: Options{ProviderLimit: func(string) ProviderLimit { return ProviderLimit{MaxConcurrent: 1, Rate: 10} }}, log: zap.NewNop()}
	p := s.providerLocked(provA)
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if !p.take(t0) {
		t.Fatal("the first start did not get the burst token")
	}
	if p.take(t0.Add(time.Second)) || !p.tokenAt.IsZero() {
		t.Fatalf("started, or reserved a token (for %v), while the slot was busy", p.tokenAt)
	}
	p.done()
	at := t0.Add(time.Second)
	if !p.take(at) {
		t.Fatal("no start with the slot free and the token refilled")
	}
	p.done()
	if p.take(at) || !p.tokenAt.Equal(at.Add(100*time.Millisecond)) {
		t.Fatalf("second start within 100ms allowed, or token reserved for +%v", p.tokenAt.Sub(at))
	}
	back := at.Add(-time.Hour) // the wall clock goes back an hour
	if p.take(back) || !p.tokenAt.Equal(back.Add(100*time.Millisecond)) {
		t.Fatalf("after the clock went back the token is held until +%v; want 100ms", p.tokenAt.Sub(back))
	}
	if !p.take(back.Add(100 * time.Millisecond)) {
		t.Fatalf("the held token was not usable 100ms after the clock went back")
	}
}
