package bench

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tokend/tokend/internal/fakeprovider"
)

// provider is a fake provider started on 127.0.0.1 with one client.
type provider struct {
	p    *fakeprovider.Provider
	base string
}

func newProvider(ttl time.Duration) (*provider, error) {
	p, err := fakeprovider.New(fakeprovider.Options{AccessTTL: ttl})
	if err != nil {
		return nil, err
	}
	p.AddClient("app", "app-secret")
	base, err := p.Start()
	if err != nil {
		return nil, err
	}
	return &provider{p: p, base: base}, nil
}

// freeAddr returns a 127.0.0.1 address with a port that was free just now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// setup is one generated daemon configuration.
type setup struct {
	dir    string
	config string
	status string   // status server address
	sinks  []string // one JSON file sink per credential
	provs  []*provider
	owner  []int // provider index of each credential
}

// writeSetup creates dir with n seeded credentials spread round-robin over
// provs, a file sink each (in sinkDir/sinks), and a config with the given
// max_concurrent.
func writeSetup(dir, sinkDir string, n, maxConcurrent int, provs []*provider) (*setup, error) {
	s := &setup{dir: dir, provs: provs}
	for _, d := range []string{filepath.Join(dir, "rt"), filepath.Join(sinkDir, "sinks"), filepath.Join(dir, "state")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	var err error
	if s.status, err = freeAddr(); err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[state]\ndir = %q\n[status]\nlisten = %q\n[scheduler]\nmax_concurrent = %d\n",
		filepath.Join(dir, "state"), s.status, maxConcurrent)
	for i := 0; i < n; i++ {
		pi := i % len(provs)
		name := fmt.Sprintf("c%06d", i)
		rt := filepath.Join(dir, "rt", name+".rt")
		if err := os.WriteFile(rt, []byte(provs[pi].p.IssueRefreshToken("app", "read")), 0o600); err != nil {
			return nil, err
		}
		sink := filepath.Join(sinkDir, "sinks", name+".json")
		s.sinks, s.owner = append(s.sinks, sink), append(s.owner, pi)
		fmt.Fprintf(&b, "[[credential]]\nname = %q\ntoken_url = %q\nclient_id = \"app\"\nclient_secret = \"app-secret\"\n"+
			"refresh_token_file = %q\n  [[credential.sink]]\n  type = \"file\"\n  format = \"json\"\n  path = %q\n",
			name, provs[pi].base+"/token", rt, sink)
	}
	s.config = filepath.Join(dir, "tokend.toml")
	return s, os.WriteFile(s.config, []byte(b.String()), 0o600)
}
