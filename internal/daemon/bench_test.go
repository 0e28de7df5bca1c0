package daemon

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/fakeprovider"
	"github.com/tokend/tokend/internal/scheduler"
)

// genObserver signals every committed generation.
type genObserver struct{ gens chan uint64 }

func (g genObserver) RefreshFinished(string, time.Duration, error) {}
func (g genObserver) SinkWritten(string, string, error)            {}
func (g genObserver) StatusChanged(st scheduler.CredentialStatus) {
	if len(st.Sinks) > 0 && st.Sinks[0].OK {
		select {
		case g.gens <- st.Sinks[0].Generation:
		default:
		}
	}
}

// BenchmarkRotation measures one durable rotation end to end (intent fsync,
// HTTP refresh against the strict fake, commit fsync, atomic file and
// env-file sinks) and, in the same run, a naive baseline: an x/oauth2
// refresh plus os.WriteFile with no fsync and no state. It reports the ratio.
//
//	go test -run '^$' -bench BenchmarkRotation ./internal/daemon/
func BenchmarkRotation(b *testing.B) {
	b.StopTimer()
	dir := b.TempDir()
	p, err := fakeprovider.New(fakeprovider.Options{AccessTTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	p.AddClient("app", "app-secret")
	base, err := p.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()

	// Baseline: x/oauth2 + os.WriteFile.
	oc := &oauth2.Config{ClientID: "app", ClientSecret: "app-secret", Endpoint: oauth2.Endpoint{TokenURL: base + "/token", AuthStyle: oauth2.AuthStyleInHeader}}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, http.DefaultClient)
	tok := &oauth2.Token{RefreshToken: p.IssueRefreshToken("app", "read"), Expiry: time.Now().Add(-time.Second)}
	baseFile := filepath.Join(dir, "baseline.token")
	start := time.Now()
	for i := 0; i < b.N; i++ {
		nt, err := oc.TokenSource(ctx, tok).Token()
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(baseFile, []byte(nt.AccessToken), 0o600); err != nil {
			b.Fatal(err)
		}
		tok = &oauth2.Token{RefreshToken: nt.RefreshToken, Expiry: time.Now().Add(-time.Second)}
	}
	baseline := time.Since(start)

	// tokend: real config, bbolt store, file + env-file sinks.
	write(&testing.T{}, filepath.Join(dir, "app.rt"), p.IssueRefreshToken("app", "read"))
	cfg, err := config.Decode([]byte(`
[state]
dir = "` + filepath.Join(dir, "state") + `"
[[credential]]
name = "app"
token_url = "` + base + `/token"
client_id = "app"
client_secret = "app-secret"
refresh_token_file = "` + filepath.Join(dir, "app.rt") + `"
  [[credential.sink]]
  type = "file"
  path = "` + filepath.Join(dir, "app.token") + `"
  [[credential.sink]]
  type = "envfile"
  path = "` + filepath.Join(dir, "app.env") + `"
  var = "APP_TOKEN"
`))
	if err != nil {
		b.Fatal(err)
	}
	if err := cfg.ResolveSecrets(); err != nil {
		b.Fatal(err)
	}
	obs := genObserver{gens: make(chan uint64, 1)}
	d, err := New(cfg, zap.NewNop(), scheduler.Options{Observer: obs, MinInterval: time.Nanosecond})
	if err != nil {
		b.Fatal(err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(rctx) }()
	<-obs.gens // first refresh at start-up
	start = time.Now()
	for i := 0; i < b.N; i++ {
		if err := d.Scheduler().RefreshNow("app"); err != nil {
			b.Fatal(err)
		}
		for g := range obs.gens {
			if g >= uint64(i+2) {
				break
			}
		}
	}
	elapsed := time.Since(start)
	cancel()
	<-done
	if p.Stats().Reuses != 0 {
		b.Fatal("reuse")
	}
	b.ReportMetric(float64(elapsed.Microseconds())/float64(b.N), "us/rotation")
	b.ReportMetric(float64(baseline.Microseconds())/float64(b.N), "us/baseline")
	b.ReportMetric(float64(elapsed)/float64(baseline), "tokend/baseline")
}
