package coalesce

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// action is a test action over a shared version counter: callers bump the
// version (their "change") before calling Do; each run notes the version it
// saw when it started and returns it inside a seenError, so a caller can
// check that the run it got saw its change. A run can be held at its start
// (hold) until the test releases it.
type action struct {
	mu      sync.Mutex
	version int // bumped by callers before Do
	runs    int // runs started
	active  int // runs in progress (never more than one)
	overlap bool

	hold    bool          // if set, each run sends on entered and waits on release
	entered chan int      // the run number, once a held run has its snapshot
	release chan struct{} // lets a held run finish
	fail    error         // if set, runs return it instead of a seenError
}

func newAction(hold bool) *action {
	return &action{hold: hold, entered: make(chan int), release: make(chan struct{})}
}

// seenError is a run's result: the version it saw and its number.
type seenError struct{ version, run int }

func (e seenError) Error() string { return fmt.Sprintf("run %d saw version %d", e.run, e.version) }

// change bumps the version and returns the caller's version.
func (a *action) change() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.version++
	return a.version
}

func (a *action) run() error {
	a.mu.Lock()
	a.runs++
	a.active++
	if a.active > 1 {
		a.overlap = true
	}
	seen := seenError{version: a.version, run: a.runs}
	fail := a.fail
	a.mu.Unlock()
	if a.hold {
		a.entered <- seen.run
		<-a.release
	}
	a.mu.Lock()
	a.active--
	a.mu.Unlock()
	if fail != nil {
		return fail
	}
	return seen
}

func (a *action) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.runs
}

// call makes a change, calls g.Do and checks the guarantee: the result is a
// run that saw the change (or ctx's error, or a test-chosen failure).
func call(t *testing.T, ctx context.Context, g *Group, a *action) (seenError, error) {
	mine := a.change()
	err := g.Do(ctx, a.run)
	var s seenError
	if errors.As(err, &s) {
		if s.version < mine {
			t.Errorf("got run %d, which saw version %d, for change %d: the run started before the change", s.run, s.version, mine)
		}
		return s, nil
	}
	return s, err
}

// async starts call in a goroutine; the result arrives on the channel.
func async(t *testing.T, ctx context.Context, g *Group, a *action) <-chan result {
	c := make(chan result, 1)
	go func() {
		s, err := call(t, ctx, g, a)
		c <- result{s, err}
	}()
	return c
}

type result struct {
	seen seenError
	err  error
}

// TestLoneCallerRunsAtOnce: with nothing in progress, Do runs the action in
// the caller, without waiting for any timer (the synctest clock stands still).
func TestLoneCallerRunsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group
		a := newAction(false)
		start := time.Now()
		for i := 1; i <= 3; i++ {
			s, err := call(t, t.Context(), &g, a)
			if err != nil {
				t.Fatal(err)
			}
			if s.run != i {
				t.Fatalf("call %d got run %d, want its own run %d", i, s.run, i)
			}
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("three lone calls took %v of fake time, want 0 (no timer)", d)
		}
		if g.Busy() || g.Waiting() != 0 {
			t.Errorf("idle group: Busy %v, Waiting %d", g.Busy(), g.Waiting())
		}
	})
}

// TestBatchSharesOneRun: while the first run is held, n callers arrive; they
// all share exactly one second run, and none of them gets the first run's
// result (it started before their changes).
func TestBatchSharesOneRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 50
		var g Group
		a := newAction(true)
		first := async(t, t.Context(), &g, a)
		<-a.entered
		var rest []<-chan result
		for range n {
			rest = append(rest, async(t, t.Context(), &g, a))
		}
		synctest.Wait()
		if w := g.Waiting(); w != n {
			t.Fatalf("Waiting() = %d, want %d", w, n)
		}
		a.release <- struct{}{} // run 1 ends
		if r := <-first; r.err != nil || r.seen.run != 1 {
			t.Fatalf("first caller = %+v, want run 1", r)
		}
		if run := <-a.entered; run != 2 {
			t.Fatalf("next run is %d, want 2", run)
		}
		a.release <- struct{}{}
		for _, c := range rest {
			if r := <-c; r.err != nil || r.seen.run != 2 {
				t.Errorf("batch member = %+v, want run 2", r)
			}
		}
		if got := a.count(); got != 2 {
			t.Errorf("%d callers took %d runs, want 2", n+1, got)
		}
	})
}

// TestRunStartedAfterChange stresses the guarantee with real goroutines (run
// it with -race): every caller's result comes from a run that saw its change,
// runs never overlap, and the calls share runs.
func TestRunStartedAfterChange(t *testing.T) {
	const workers, each = 16, 200
	var g Group
	a := newAction(false)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				if _, err := call(t, t.Context(), &g, a); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if a.overlap {
		t.Error("two runs overlapped")
	}
	if g.Busy() || g.Waiting() != 0 {
		t.Errorf("after the calls: Busy %v, Waiting %d", g.Busy(), g.Waiting())
	}
	t.Logf("%d calls, %d runs", workers*each, a.count())
	if a.count() > workers*each {
		t.Errorf("%d runs for %d calls", a.count(), workers*each)
	}
}

// TestCancelledFollower: a follower whose ctx ends returns ctx.Err() at once,
// while the run it waited behind is still held; its batch still runs for the
// member that stays, and that run sees the cancelled caller's change.
func TestCancelledFollower(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group
		a := newAction(true)
		first := async(t, t.Context(), &g, a)
		<-a.entered
		ctx, cancel := context.WithCancel(t.Context())
		quitter := async(t, ctx, &g, a) // version 2
		stayer := async(t, t.Context(), &g, a)
		synctest.Wait()
		cancel()
		if r := <-quitter; !errors.Is(r.err, context.Canceled) {
			t.Fatalf("cancelled follower = %+v, want context.Canceled", r)
		}
		synctest.Wait()
		select {
		case r := <-stayer:
			t.Fatalf("the other member returned before its run: %+v", r)
		default:
		}
		a.release <- struct{}{}
		<-first
		<-a.entered
		a.release <- struct{}{}
		r := <-stayer
		if r.err != nil || r.seen.run != 2 || r.seen.version < 2 {
			t.Errorf("remaining member = %+v, want run 2 having seen version 2", r)
		}
	})
}

// TestAbandonedBatchRunsForNextCaller: every member of a batch gives up; the
// batch is not run by itself (no goroutine), but the next caller leads it.
func TestAbandonedBatchRunsForNextCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group
		a := newAction(true)
		first := async(t, t.Context(), &g, a)
		<-a.entered
		ctx, cancel := context.WithCancel(t.Context())
		quitters := []<-chan result{async(t, ctx, &g, a), async(t, ctx, &g, a)}
		synctest.Wait()
		cancel()
		for _, q := range quitters {
			if r := <-q; !errors.Is(r.err, context.Canceled) {
				t.Fatalf("cancelled follower = %+v, want context.Canceled", r)
			}
		}
		a.release <- struct{}{}
		<-first
		synctest.Wait()
		if a.count() != 1 || g.Busy() || g.Waiting() != 0 {
			t.Fatalf("after the batch was abandoned: %d runs, Busy %v, Waiting %d; want 1 run, idle, nobody waiting", a.count(), g.Busy(), g.Waiting())
		}
		next := async(t, t.Context(), &g, a) // version 4
		if run := <-a.entered; run != 2 {
			t.Fatalf("the next caller led run %d, want 2", run)
		}
		a.release <- struct{}{}
		if r := <-next; r.err != nil || r.seen.version != 4 {
			t.Errorf("next caller = %+v, want run 2 having seen all 4 changes", r)
		}
		if g.Busy() {
			t.Error("group still busy with nothing pending")
		}
	})
}

// TestLeaderFinishesDespiteCancel: a leader whose ctx ends during its run
// completes it and returns its result, and its followers get it too.
func TestLeaderFinishesDespiteCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group
		a := newAction(true)
		ctx, cancel := context.WithCancel(t.Context())
		leader := async(t, ctx, &g, a)
		<-a.entered
		cancel()
		synctest.Wait()
		select {
		case r := <-leader:
			t.Fatalf("leader returned during its run: %+v", r)
		default:
		}
		a.release <- struct{}{}
		if r := <-leader; r.err != nil || r.seen.run != 1 {
			t.Errorf("leader = %+v, want run 1", r)
		}
	})
}

// TestDoneContextDoesNotRun: a ctx that has already ended gets ctx.Err() and
// no run.
func TestDoneContextDoesNotRun(t *testing.T) {
	var g Group
	a := newAction(false)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := call(t, ctx, &g, a); !errors.Is(err, context.Canceled) {
		t.Fatalf("Do with a done ctx = %v, want context.Canceled", err)
	}
	if a.count() != 0 {
		t.Errorf("%d runs for a done ctx, want 0", a.count())
	}
}

// TestErrorGoesToItsBatchOnly: a failed run's error reaches every member of
// its batch; the next caller gets a fresh run.
func TestErrorGoesToItsBatchOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group
		a := newAction(true)
		boom := errors.New("boom")
		first := async(t, t.Context(), &g, a)
		<-a.entered
		a.mu.Lock()
		a.fail = boom // run 2 fails
		a.mu.Unlock()
		batch := []<-chan result{async(t, t.Context(), &g, a), async(t, t.Context(), &g, a)}
		synctest.Wait()
		a.release <- struct{}{}
		if r := <-first; r.err != nil {
			t.Fatalf("run 1 = %v", r.err)
		}
		<-a.entered
		a.mu.Lock()
		a.fail = nil
		a.mu.Unlock()
		a.release <- struct{}{}
		for _, c := range batch {
			if r := <-c; !errors.Is(r.err, boom) {
				t.Errorf("member of the failed batch = %+v, want %v", r, boom)
			}
		}
		next := async(t, t.Context(), &g, a)
		<-a.entered
		a.release <- struct{}{}
		if r := <-next; r.err != nil || r.seen.run != 3 {
			t.Errorf("after the failure = %+v, want run 3", r)
		}
	})
}

// TestPanicReleasesTheBatch: a run that panics panics in its leader, its
// followers get ErrRunPanicked, and the Group goes on working.
func TestPanicReleasesTheBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group
		a := newAction(true)
		first := async(t, t.Context(), &g, a)
		<-a.entered
		entered, release := make(chan struct{}), make(chan struct{})
		panicky := func() error {
			close(entered)
			<-release
			panic("run failed badly")
		}
		recovered := make(chan any, 1)
		go func() {
			defer func() { recovered <- recover() }()
			_ = g.Do(t.Context(), panicky)
		}()
		synctest.Wait() // the panicky caller is waiting in the batch
		follower := async(t, t.Context(), &g, a)
		synctest.Wait()
		a.release <- struct{}{}
		<-first
		// Either member may lead the batch: if the follower does, let its
		// run end and the panicky caller gets its result.
		select {
		case <-entered:
			close(release)
			if v := <-recovered; v != "run failed badly" {
				t.Fatalf("leader recovered %v, want the run's panic", v)
			}
			if r := <-follower; !errors.Is(r.err, ErrRunPanicked) {
				t.Errorf("follower = %+v, want ErrRunPanicked", r)
			}
		case <-a.entered:
			a.release <- struct{}{}
			if r := <-follower; r.err != nil {
				t.Errorf("follower leading = %+v", r)
			}
			if v := <-recovered; v != nil {
				t.Errorf("follower of a good run recovered %v", v)
			}
		}
		after := async(t, t.Context(), &g, a)
		<-a.entered
		a.release <- struct{}{}
		if r := <-after; r.err != nil {
			t.Errorf("call after the panic = %+v", r)
		}
	})
}

// BenchmarkDo: callers on every P calling Do with a trivial action, the
// coordination cost alone.
func BenchmarkDo(b *testing.B) {
	var g Group
	var n atomic.Int64
	run := func() error { n.Add(1); return nil }
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := g.Do(context.Background(), run); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/float64(n.Load()), "calls/run")
}
