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
	p     *fakeprovider.Provider
	base  string
	issue func() string // issues a seed refresh token to "app"; nil: p.IssueRefreshToken
}

func (p *provider) refreshToken() string {
	if p.issue != nil {
		return p.issue()
	}
	return p.p.IssueRefreshToken("app", "read")
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
	sinks  []string // each credential's sink file: its JSON file, or its env-file
	vars   []string // each credential's env-file variable; nil with JSON file sinks
	provs  []*provider
	owner  []int        // provider index of each credential
	vault  *vaultServer // with vault sinks: sinks are KV v2 paths under its secret/ mount
}

// writeSetup creates dir with n seeded credentials spread round-robin over
// provs, a file sink each (in sinkDir/sinks), and a config with the given
// max_concurrent. With envFiles > 0 the sinks are env-files instead: the
// credentials share envFiles files round-robin, one variable each. With vs
// set they are Vault KV v2 sinks instead (secret/bench/<dir's name>/<name>),
// through vs's counting proxy with its root token.
func writeSetup(dir, sinkDir string, n, maxConcurrent, envFiles int, provs []*provider, vs *vaultServer) (*setup, error) {
	s := &setup{dir: dir, provs: provs, vault: vs}
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
	if vs != nil {
		tf := filepath.Join(dir, "vault.token")
		if err := os.WriteFile(tf, []byte(vs.Token+"\n"), 0o600); err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "[vault]\naddress = %q\nauth = \"token\"\ntoken_file = %q\n", vs.Addr, tf)
	}
	for i := 0; i < n; i++ {
		pi := i % len(provs)
		name := fmt.Sprintf("c%06d", i)
		rt := filepath.Join(dir, "rt", name+".rt")
		if err := os.WriteFile(rt, []byte(provs[pi].refreshToken()), 0o600); err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "[[credential]]\nname = %q\ntoken_url = %q\nclient_id = \"app\"\nclient_secret = \"app-secret\"\n"+
			"refresh_token_file = %q\n", name, provs[pi].base+"/token", rt)
		s.owner = append(s.owner, pi)
		if vs != nil {
			sink := "bench/" + filepath.Base(dir) + "/" + name
			s.sinks = append(s.sinks, sink)
			fmt.Fprintf(&b, "  [[credential.sink]]\n  type = \"vault\"\n  path = %q\n", sink)
			continue
		}
		if envFiles > 0 {
			sink, v := filepath.Join(sinkDir, "sinks", fmt.Sprintf("e%03d.env", i%envFiles)), strings.ToUpper(name)+"_TOKEN"
			s.sinks, s.vars = append(s.sinks, sink), append(s.vars, v)
			fmt.Fprintf(&b, "  [[credential.sink]]\n  type = \"envfile\"\n  path = %q\n  var = %q\n", sink, v)
			continue
		}
		sink := filepath.Join(sinkDir, "sinks", name+".json")
		s.sinks = append(s.sinks, sink)
		fmt.Fprintf(&b, "  [[credential.sink]]\n  type = \"file\"\n  format = \"json\"\n  path = %q\n", sink)
	}
	s.config = filepath.Join(dir, "tokend.toml")
	return s, os.WriteFile(s.config, []byte(b.String()), 0o600)
}
