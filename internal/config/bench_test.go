package config

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"
)

// credentials10k writes n [[credential]] tables, numbered from first, with
// one file or env-file sink each: the config of BenchmarkDecode10k.
func credentials10k(sb *strings.Builder, first, n int) {
	for i := first; i < first+n; i++ {
		fmt.Fprintf(sb, "[[credential]]\nname = \"c%05d\"\ntoken_url = \"https://auth.example/token\"\nclient_id = \"id\"\nclient_secret_env = \"S\"\n", i)
		if i%2 == 0 {
			fmt.Fprintf(sb, "  [[credential.sink]]\n  type = \"file\"\n  path = \"/run/tokend/c%05d.json\"\n  format = \"json\"\n", i)
		} else {
			fmt.Fprintf(sb, "  [[credential.sink]]\n  type = \"envfile\"\n  path = \"/run/tokend/e%02d.env\"\n  var = \"C%05d_TOKEN\"\n", i%64, i)
		}
	}
}

// BenchmarkDecode10k decodes, defaults and validates a config of 10,000
// credentials with one file or env-file sink each, as the daemon does at
// start-up and on reload.
func BenchmarkDecode10k(b *testing.B) {
	var sb strings.Builder
	credentials10k(&sb, 0, 10000)
	data := []byte(sb.String())
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad10kOneFile loads the 10,000 credentials of BenchmarkDecode10k
// from one file, reporting besides B/op the peak of the heap while loading
// (peakHeap).
func BenchmarkLoad10kOneFile(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("[state]\ndir = \"/var/lib/tokend\"\n\n")
	credentials10k(&sb, 0, 10000)
	path := filepath.Join(b.TempDir(), "tokend.toml")
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	benchLoad(b, path, 10000)
}

// benchLoad loads path b.N times, checking it holds n credentials, and
// reports the peak heap (MiB above the heap before loading) of the worst
// load: peak-heap-MiB, the heap's objects, collected or not yet, as the
// process holds them; peak-live-MiB, the most any collection during a load
// found alive.
func benchLoad(b *testing.B, path string, n int) {
	b.ReportAllocs()
	b.ResetTimer()
	var peak, live uint64
	for range b.N {
		p, l := peakHeap(func() {
			cfg, err := Load(path)
			if err != nil {
				b.Fatal(err)
			}
			if len(cfg.Credentials) != n {
				b.Fatalf("%d credentials, want %d", len(cfg.Credentials), n)
			}
		})
		peak, live = max(peak, p), max(live, l)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(live)/(1<<20), "peak-live-MiB")
}

// peakHeap runs f while a goroutine samples runtime/metrics every 20µs,
// returning the highest heap of objects and the highest live heap a
// collection found, less what the heap held before f.
func peakHeap(f func()) (peak, live uint64) {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	base, baseLive := s[0].Value.Uint64(), s[1].Value.Uint64()
	stop, done := make(chan struct{}), make(chan [2]uint64)
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
		var m [2]uint64
		for {
			metrics.Read(s)
			m[0], m[1] = max(m[0], s[0].Value.Uint64()), max(m[1], s[1].Value.Uint64())
			select {
			case <-stop:
				done <- m
				return
			case <-time.After(20 * time.Microsecond):
			}
		}
	}()
	f()
	runtime.GC() // a last collection: the live heap of a load with none
	close(stop)
	m := <-done
	return m[0] - min(m[0], base), m[1] - min(m[1], baseLive)
}
