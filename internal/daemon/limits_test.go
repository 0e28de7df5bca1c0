package daemon

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/syncbuf"
)

const limitsConfig = `
[scheduler]
max_per_provider = 8
[[scheduler.provider]]
host = "au-api.basiq.io"
max_concurrent = 4
rate = 5

[[credential]]
name = "basiq"
provider = "basiq"
api_key = "key-value"
  [[credential.sink]]
  type = "file"
  path = %[1]q

[[credential]]
name = "other"
grant = "client_credentials"
token_url = "https://idp.example/oauth/token"
client_id = "x"
client_secret = "secret-value"
  [[credential.sink]]
  type = "file"
  path = %[2]q
`

// TestCredentialsCarryProviderLimits: each built credential names its token
// endpoint's host, and the daemon's limits come from [scheduler].
func TestCredentialsCarryProviderLimits(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Decode(fmt.Appendf(nil, limitsConfig, filepath.Join(dir, "a"), filepath.Join(dir, "b")))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.ResolveSecrets(); err != nil {
		t.Fatal(err)
	}
	creds, err := BuildCredentials(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if creds[0].Provider != "https://au-api.basiq.io:443" || creds[1].Provider != "https://idp.example:443" {
		t.Fatalf("provider keys %q, %q", creds[0].Provider, creds[1].Provider)
	}
	limit := providerLimits(cfg.Scheduler)
	if got := limit(creds[0].Provider); got != (scheduler.ProviderLimit{MaxConcurrent: 4, Rate: 5, Burst: 4}) {
		t.Fatalf("basiq limit %+v", got)
	}
	if got := limit(creds[1].Provider); got != (scheduler.ProviderLimit{MaxConcurrent: 8, Burst: 8}) {
		t.Fatalf("default limit %+v", got)
	}
}

// TestReloadKeepsProviderLimits: per-provider limits are part of [scheduler],
// which needs a restart; a reload that changes them warns and keeps the
// running ones.
func TestReloadKeepsProviderLimits(t *testing.T) {
	dir := t.TempDir()
	old, err := config.Decode(fmt.Appendf(nil, limitsConfig, filepath.Join(dir, "a"), filepath.Join(dir, "b")))
	if err != nil {
		t.Fatal(err)
	}
	next, err := config.Decode(fmt.Appendf(nil, strings.Replace(limitsConfig, "rate = 5", "rate = 50", 1), filepath.Join(dir, "a"), filepath.Join(dir, "b")))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(logs), zap.DebugLevel))
	keepRestartOnly(log, old, next)
	if _, r, _ := next.Scheduler.LimitFor("https://au-api.basiq.io:443"); r != 5 {
		t.Fatalf("rate after reload %v; want the running 5", r)
	}
	if !strings.Contains(logs.String(), "[scheduler] changed; it takes effect after a restart") {
		t.Fatalf("no restart warning:\n%s", logs.String())
	}
}
