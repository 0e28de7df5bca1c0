package envfile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tokend/tokend/internal/atomicfile"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/sinks"
)

// gate holds every leader in beforeWrite until the test lets it go: the test
// receives from entered (a leader has its snapshot) and sends on release
// (the write may proceed). Run inside synctest so synctest.Wait can tell when
// every other caller is waiting.
type gate struct{ entered, release chan struct{} }

func newGate(f *File) gate {
	g := gate{entered: make(chan struct{}), release: make(chan struct{})}
	f.beforeWrite = func() {
		g.entered <- struct{}{}
		<-g.release
	}
	return g
}

// let lets one write through: wait for its leader, then release it.
func (g gate) let() {
	<-g.entered
	g.release <- struct{}{}
}

func varName(i int) string { return fmt.Sprintf("V%03d", i) }

// writeAsync starts s.Write in a goroutine and returns where its result goes.
func writeAsync(ctx context.Context, s *Sink, value string) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- s.Write(ctx, tok("c", value)) }()
	return errc
}

func parseFile(t *testing.T, path string) map[string]string {
	t.Helper()
	got, err := Parse([]byte(read(t, path)))
	if err != nil {
		t.Fatalf("file does not parse: %v", err)
	}
	return got
}

// TestBurstIsWrittenTwice: while the first write is held, 199 more callers
// set their variables; they all share the second write. Every variable ends
// in the file with its value, and the file was written exactly twice.
func TestBurstIsWrittenTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 200
		path := filepath.Join(t.TempDir(), "app.env")
		f := open(t, path, 0)
		handles := make([]*Sink, n)
		for i := range handles {
			handles[i] = sink(t, f, varName(i))
		}
		g := newGate(f)
		ctx := context.Background()
		results := []<-chan error{writeAsync(ctx, handles[0], "value-0")}
		<-g.entered // the first write has its snapshot: V000 only
		for i := 1; i < n; i++ {
			results = append(results, writeAsync(ctx, handles[i], fmt.Sprintf("value-%d", i)))
		}
		synctest.Wait() // all n-1 are waiting for the first write
		if w := f.Writes(); w != 0 {
			t.Fatalf("Writes() = %d while the first write is held, want 0", w)
		}
		g.release <- struct{}{}
		g.let() // the second write, led by one of the n-1
		for i, errc := range results {
			if err := <-errc; err != nil {
				t.Errorf("Write %s: %v", varName(i), err)
			}
		}
		if w := f.Writes(); w != 2 {
			t.Errorf("Writes() = %d for %d concurrent writers, want 2", w, n)
		}
		got := parseFile(t, path)
		if len(got) != n {
			t.Errorf("file has %d variables, want %d", len(got), n)
		}
		for i := range n {
			if want := fmt.Sprintf("value-%d", i); got[varName(i)] != want {
				t.Errorf("%s = %q, want %q", varName(i), got[varName(i)], want)
			}
		}
	})
}

// TestFailedBatchWriteReachesEveryCaller: the second write fails (a
// directory stands where the file goes); each of its callers gets the error,
// which names the path and not the value. Once the fault is gone, the next
// write succeeds and holds every value, including those of the failed batch.
func TestFailedBatchWriteReachesEveryCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 10
		path := filepath.Join(t.TempDir(), "app.env")
		f := open(t, path, 0)
		first, last := sink(t, f, "FIRST"), sink(t, f, "LAST")
		handles := make([]*Sink, n)
		for i := range handles {
			handles[i] = sink(t, f, varName(i))
		}
		g := newGate(f)
		ctx := context.Background()
		firstErr := writeAsync(ctx, first, "first")
		<-g.entered
		var results []<-chan error
		for i, s := range handles {
			results = append(results, writeAsync(ctx, s, fmt.Sprintf("SECRET-%d", i)))
		}
		synctest.Wait()
		g.release <- struct{}{}
		if err := <-firstErr; err != nil {
			t.Fatalf("first write: %v", err)
		}
		<-g.entered // the batch's leader has its snapshot; break the path now
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(path, "x"), 0o700); err != nil {
			t.Fatal(err)
		}
		g.release <- struct{}{}
		for i, errc := range results {
			err := <-errc
			if err == nil {
				t.Fatalf("Write %s succeeded onto a directory", varName(i))
			}
			if !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error %q must name the path and not leak a value", err)
			}
		}
		if w := f.Writes(); w != 1 {
			t.Errorf("Writes() = %d after one good and one failed write, want 1", w)
		}

		if err := os.RemoveAll(path); err != nil {
			t.Fatal(err)
		}
		lastErr := writeAsync(ctx, last, "last")
		g.let()
		if err := <-lastErr; err != nil {
			t.Fatalf("write after the fault cleared: %v", err)
		}
		got := parseFile(t, path)
		if len(got) != n+2 || got["FIRST"] != "first" || got["LAST"] != "last" {
			t.Errorf("file after recovery = %d variables (FIRST %q, LAST %q), want %d", len(got), got["FIRST"], got["LAST"], n+2)
		}
		for i := range n {
			if want := fmt.Sprintf("SECRET-%d", i); got[varName(i)] != want {
				t.Errorf("%s = %q, want %q", varName(i), got[varName(i)], want)
			}
		}
	})
}

// TestCancelledFollowerValueIsWrittenNext: a caller waiting for a write
// returns ctx.Err() when its ctx ends, and its value goes out with the next
// write, whether another member of its batch leads it or a later caller.
func TestCancelledFollowerValueIsWrittenNext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "app.env")
		f := open(t, path, 0)
		a, x, y, z := sink(t, f, "A"), sink(t, f, "X"), sink(t, f, "Y"), sink(t, f, "Z")
		g := newGate(f)
		bg := context.Background()

		// X gives up while A's write is held; Y, in the same batch, waits on.
		aErr := writeAsync(bg, a, "a")
		<-g.entered
		ctx, cancel := context.WithCancel(bg)
		xErr := writeAsync(ctx, x, "x")
		yErr := writeAsync(bg, y, "y")
		synctest.Wait()
		cancel()
		if err := <-xErr; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled follower = %v, want context.Canceled", err)
		}
		synctest.Wait()
		select {
		case err := <-yErr:
			t.Fatalf("Y returned before any write that includes it: %v", err)
		default:
		}
		g.release <- struct{}{}
		g.let() // Y leads its batch, X's value included
		if err := errors.Join(<-aErr, <-yErr); err != nil {
			t.Fatal(err)
		}
		if got := parseFile(t, path); got["X"] != "x" || got["Y"] != "y" {
			t.Errorf("after the next write X = %q, Y = %q; want x, y", got["X"], got["Y"])
		}

		// X alone gives up: its batch has nobody left; the next caller leads it.
		aErr = writeAsync(bg, a, "a2")
		<-g.entered
		ctx, cancel = context.WithCancel(bg)
		xErr = writeAsync(ctx, x, "x2")
		synctest.Wait()
		cancel()
		if err := <-xErr; !errors.Is(err, context.Canceled) {
			t.Fatalf("lone cancelled follower = %v, want context.Canceled", err)
		}
		g.release <- struct{}{}
		if err := <-aErr; err != nil {
			t.Fatal(err)
		}
		if got := parseFile(t, path)["X"]; got != "x" {
			t.Errorf("X = %q before the next write, want the old x", got)
		}
		zErr := writeAsync(bg, z, "z")
		g.let()
		if err := <-zErr; err != nil {
			t.Fatal(err)
		}
		got := parseFile(t, path)
		if got["A"] != "a2" || got["X"] != "x2" || got["Z"] != "z" {
			t.Errorf("file = %q, want A=a2 X=x2 Z=z", got)
		}
		if w := f.Writes(); w != 4 {
			t.Errorf("Writes() = %d, want 4", w)
		}
	})
}

// TestOlderGenerationNeverReplacesNewer: a token of an older generation,
// even one queued in the same batch as a newer one, leaves the newer value in
// place; the same generation may be written again.
func TestOlderGenerationNeverReplacesNewer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "app.env")
		f := open(t, path, 0)
		a, b := sink(t, f, "A"), sink(t, f, "B")
		g := newGate(f)
		ctx := context.Background()
		write := func(s *Sink, value string, gen uint64) <-chan error {
			errc := make(chan error, 1)
			go func() {
				errc <- s.Write(ctx, sinks.Token{Credential: "c", AccessToken: secret.New(value), Generation: gen})
			}()
			return errc
		}
		first := write(b, "b", 1)
		<-g.entered
		newer := write(a, "gen5", 5)
		synctest.Wait()
		older := write(a, "gen4", 4) // same batch, arrives after gen 5
		synctest.Wait()
		g.release <- struct{}{}
		g.let()
		if err := errors.Join(<-first, <-newer, <-older); err != nil {
			t.Fatal(err)
		}
		if got := parseFile(t, path)["A"]; got != "gen5" {
			t.Errorf("A = %q, want gen5", got)
		}
		again := write(a, "gen5-again", 5)
		g.let()
		if err := <-again; err != nil {
			t.Fatal(err)
		}
		if got := parseFile(t, path)["A"]; got != "gen5-again" {
			t.Errorf("A = %q after a rewrite of the same generation, want gen5-again", got)
		}
	})
}

// BenchmarkEnvFileBurst: 256 credentials sharing one env-file rotate at once,
// written by 16 workers (the default max_concurrent) that each wait for their
// Write, as the scheduler's do. It runs the burst with group commit and, in
// the same run, with one durable rewrite per variable (the behaviour before
// group commit), and reports the ratios.
//
//	go test -run '^$' -bench BenchmarkEnvFileBurst -benchtime 5x ./internal/sinks/envfile/
func BenchmarkEnvFileBurst(b *testing.B) {
	const vars, workers = 256, 16
	dir := b.TempDir()
	newFile := func(name string) (*File, []*Sink) {
		f, err := Open(filepath.Join(dir, name), 0)
		if err != nil {
			b.Fatal(err)
		}
		handles := make([]*Sink, vars)
		for i := range handles {
			if handles[i], err = f.Sink(varName(i)); err != nil {
				b.Fatal(err)
			}
		}
		return f, handles
	}
	burst := func(iter int, write func(i int, value string) error) {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := w; i < vars; i += workers {
					if err := write(i, fmt.Sprintf("tok-%d-%d", iter, i)); err != nil {
						b.Error(err)
					}
				}
			})
		}
		wg.Wait()
	}

	grouped, gh := newFile("grouped.env")
	serial, sh := newFile("serial.env")
	// One write per variable, serialised: the old Sink.Write.
	var serialMu sync.Mutex
	writeSerial := func(i int, value string) error {
		if _, err := Encode(sh[i].name, value); err != nil {
			return err
		}
		serialMu.Lock()
		defer serialMu.Unlock()
		serial.mu.Lock()
		serial.values[sh[i].name] = secret.New(value)
		data := serial.render()
		serial.mu.Unlock()
		return atomicfile.WriteFile(serial.path, data, serial.mode)
	}
	ctx := context.Background()
	writeGrouped := func(i int, value string) error { return gh[i].Write(ctx, tok("c", value)) }

	b.ResetTimer()
	var groupedTime, serialTime time.Duration
	for iter := range b.N {
		start := time.Now()
		burst(iter, writeGrouped)
		groupedTime += time.Since(start)
		start = time.Now()
		burst(iter, writeSerial)
		serialTime += time.Since(start)
	}
	b.StopTimer()
	serialWrites := float64(vars) * float64(b.N)
	b.ReportMetric(float64(grouped.Writes())/float64(b.N), "writes/burst")
	b.ReportMetric(serialWrites/float64(grouped.Writes()), "serial/grouped-writes")
	b.ReportMetric(float64(serialTime)/float64(groupedTime), "serial/grouped-time")
}
