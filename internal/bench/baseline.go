package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokend/tokend/internal/atomicfile"
)

// baseline does n refreshes the naive way: golang.org/x/oauth2 plus
// os.WriteFile, no fsync and no state, with `workers` goroutines (the same
// concurrency tokend gets). It returns refreshes per second.
//
// With durable set it is the durability floor instead: the same loop, but
// each token file is written the way tokend's file sink writes it (temp
// file, fsync, rename, shared directory fsync: atomicfile.DirSyncer), still
// with no state. The gap between the two is what an fsync'd sink file costs
// on this disk; the gap between the floor and tokend is tokend's own.
func baseline(dir string, n, workers int, durable bool) (float64, error) {
	write := os.WriteFile
	if durable {
		write = atomicfile.NewDirSyncer().WriteFile
	}
	return runBaseline(dir, n, workers, write, nil)
}

// runBaseline is the naive loop: n refreshes by `workers` goroutines with
// x/oauth2, each followed by put (if set: a state write, given the
// credential's index and new refresh token) and then write of the access
// token to the credential's file. It returns refreshes per second.
func runBaseline(dir string, n, workers int, write func(string, []byte, os.FileMode) error, put func(i int, refresh string) error) (float64, error) {
	prov, err := newProvider(time.Hour)
	if err != nil {
		return 0, err
	}
	defer prov.p.Close()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	rts := make([]string, n)
	for i := range rts {
		rts[i] = prov.p.IssueRefreshToken("app", "read")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = workers // keep-alive for every worker: the strongest naive baseline
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: tr})
	oc := &oauth2.Config{ClientID: "app", ClientSecret: "app-secret",
		Endpoint: oauth2.Endpoint{TokenURL: prov.base + "/token", AuthStyle: oauth2.AuthStyleInHeader}}
	jobs := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				tok, err := oc.TokenSource(ctx, &oauth2.Token{RefreshToken: rts[i], Expiry: time.Now().Add(-time.Second)}).Token()
				if err == nil && put != nil {
					err = put(i, tok.RefreshToken)
				}
				if err == nil {
					err = write(filepath.Join(dir, fmt.Sprintf("c%06d.token", i)), []byte(tok.AccessToken), 0o600)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		select {
		case jobs <- i:
		case err := <-errs:
			close(jobs)
			wg.Wait()
			return 0, fmt.Errorf("baseline: %w", err)
		}
	}
	close(jobs)
	wg.Wait()
	el := time.Since(start)
	select {
	case err := <-errs:
		return 0, fmt.Errorf("baseline: %w", err)
	default:
	}
	if st := prov.p.Stats(); st.Refreshes != n || st.Reuses != 0 {
		return 0, fmt.Errorf("baseline: %d refreshes, %d reuses; want %d and 0", st.Refreshes, st.Reuses, n)
	}
	return float64(n) / el.Seconds(), nil
}
