package proxy

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// streamSize is the body streamed each way: well above anything a proxy
// that buffered would hide.
const streamSize = 64 << 20

// memPeak samples the Go heap in use and the process's RSS until stop is
// called, and returns their peaks.
func memPeak() (stop func() (heap, rss uint64)) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	var heap, rss uint64
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heap = max(heap, ms.HeapInuse)
			rss = max(rss, readRSS())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() (uint64, uint64) { close(done); wg.Wait(); return heap, rss }
}

// readRSS is VmRSS from /proc/self/status in bytes (0 where there is none).
func readRSS() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestStreamsLargeBodiesWithoutBuffering: 64 MiB up (unknown length) and
// 64 MiB down pass through the proxy intact while the heap in use and the
// RSS grow by far less than the body (the proxy holds 32 KiB buffers, not
// bodies).
func TestStreamsLargeBodiesWithoutBuffering(t *testing.T) {
	src := &fakeSource{gen: 1}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+tokenOf(1) {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			h := sha256.New()
			n, err := io.Copy(h, r.Body)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = io.Copy(w, &sumReader{n: streamSize})
	}))
	defer up.Close()
	srv := start(t, "127.0.0.1:0", up.URL, "", src, nil)
	want := sha256.New()
	_, _ = io.Copy(want, &sumReader{n: streamSize})
	wantSum := fmt.Sprintf("%d %x", streamSize, want.Sum(nil))
	c := client()

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	baseRSS := readRSS()
	stop := memPeak()

	// Up: a body of unknown length (chunked), so nothing could size a buffer for it.
	resp, err := c.Post("http://"+srv.Addr()+"/upload", "application/octet-stream", io.MultiReader(&sumReader{n: streamSize}))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != wantSum {
		t.Fatalf("upload: HTTP %d %q, want %q", resp.StatusCode, got, wantSum)
	}
	// Down.
	resp, err = c.Get("http://" + srv.Addr() + "/download")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	if err != nil || n != streamSize || !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
		t.Fatalf("download: %d bytes, %v", n, err)
	}

	peakHeap, peakRSS := stop()
	heapGrowth := int64(peakHeap) - int64(base.HeapInuse)
	rssGrowth := int64(peakRSS) - int64(baseRSS)
	t.Logf("streamed %d MiB each way: heap in use %d MiB -> peak %d MiB (+%.1f MiB), RSS %d MiB -> peak %d MiB (+%.1f MiB)",
		streamSize>>20, base.HeapInuse>>20, peakHeap>>20, float64(heapGrowth)/(1<<20), baseRSS>>20, peakRSS>>20, float64(rssGrowth)/(1<<20))
	if heapGrowth > streamSize/8 {
		t.Errorf("heap grew by %d MiB while streaming %d MiB: the body was buffered", heapGrowth>>20, streamSize>>20)
	}
	if baseRSS > 0 && rssGrowth > streamSize/4 {
		t.Errorf("RSS grew by %d MiB while streaming %d MiB", rssGrowth>>20, streamSize>>20)
	}
}
