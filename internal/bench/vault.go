package bench

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tokend/tokend/internal/syncbuf"
)

// FindTool returns the path of a cached peer binary: the environment
// variable env when set (scripts/test sets TOKEND_VAULT_BIN), else what
// scripts/<script> prints (it builds the binary once, flock-serialised),
// found above the working directory.
func FindTool(env, script string) (string, error) {
	if p := os.Getenv(env); p != "" {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		s := filepath.Join(dir, "scripts", script)
		if _, err := os.Stat(s); err == nil {
			cmd := exec.Command(s)
			cmd.Stderr = os.Stderr // a cold build says so, and takes minutes
			out, err := cmd.Output()
			if err != nil {
				return "", fmt.Errorf("scripts/%s: %w", script, err)
			}
			return strings.TrimSpace(string(out)), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no $%s and no scripts/%s above the working directory", env, script)
		}
		dir = parent
	}
}

// vaultServer is one `vault server -dev` on 127.0.0.1 (the same invocation
// as internal/vaulttest, which needs a testing.TB), with a counting reverse
// proxy in front of it: Addr is the proxy's, so every request a client makes
// is counted.
type vaultServer struct {
	Addr   string // the counting proxy: http://127.0.0.1:port
	direct string // the server itself
	Token  string // root token
	home   string
	cmd    *exec.Cmd
	out    *syncbuf.Buffer
	proxy  *http.Server

	mu   sync.Mutex
	reqs []time.Time // arrival of each proxied request
}

// startVault runs bin as a dev server with its home under dir; pluginDir,
// if set, is its -dev-plugin-dir (every binary there is registered). With
// raft set it runs a real server instead, with durable Raft storage under
// dir (vaultraft.go).
func startVault(bin, dir, pluginDir string, raft bool) (*vaultServer, error) {
	port, err := freeAddr()
	if err != nil {
		return nil, err
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	v := &vaultServer{direct: "http://" + port, Token: "root-" + hex.EncodeToString(b), home: filepath.Join(dir, "vault-home")}
	if err := os.MkdirAll(v.home, 0o700); err != nil {
		return nil, err
	}
	args := []string{"server", "-dev", "-dev-no-store-token", "-dev-listen-address=" + port, "-dev-root-token-id=" + v.Token}
	if pluginDir != "" {
		args = append(args, "-dev-plugin-dir="+pluginDir)
	}
	if raft {
		cfg, err := writeRaftConfig(dir, port, pluginDir)
		if err != nil {
			return nil, err
		}
		args = []string{"server", "-config=" + cfg}
	}
	v.cmd = exec.Command(bin, args...)
	v.cmd.Env = []string{"HOME=" + v.home, "PATH=" + os.Getenv("PATH"), "VAULT_LOG_LEVEL=warn"}
	v.out = &syncbuf.Buffer{}
	v.cmd.Stdout, v.cmd.Stderr = v.out, v.out
	if err := v.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting vault: %w", err)
	}
	if raft {
		if err := v.initRaft(pluginDir); err != nil {
			v.stop()
			return nil, err
		}
	} else if err := v.waitHealth(http.StatusOK); err != nil {
		v.stop()
		return nil, err
	}
	return v, v.startProxy()
}

// waitHealth waits up to a minute until sys/health answers one of codes.
func (v *vaultServer) waitHealth(codes ...int) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(v.direct + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			for _, c := range codes {
				if resp.StatusCode == c {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("vault did not become healthy in 60s; output:\n%s", v.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startProxy puts the counting reverse proxy in front of the server (the
// pattern of vaulttest.CountingProxy, with arrival times kept so that
// requests can be split at a moment, e.g. the scheduler's start).
func (v *vaultServer) startProxy() error {
	target, err := url.Parse(v.direct)
	if err != nil {
		return err
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	rp.Transport = tr
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		v.stop()
		return err
	}
	v.Addr = "http://" + ln.Addr().String()
	v.proxy = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		v.reqs = append(v.reqs, time.Now())
		v.mu.Unlock()
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = v.proxy.Serve(ln) }()
	return nil
}

// requests counts the proxied requests that arrived in [from, to); a zero
// to means no upper bound.
func (v *vaultServer) requests(from, to time.Time) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, t := range v.reqs {
		if !t.Before(from) && (to.IsZero() || t.Before(to)) {
			n++
		}
	}
	return n
}

func (v *vaultServer) pid() int { return v.cmd.Process.Pid }

// stop kills the server and closes the proxy (idempotent).
func (v *vaultServer) stop() {
	if v.proxy != nil {
		_ = v.proxy.Close()
		v.proxy = nil
	}
	if v.cmd != nil {
		_ = v.cmd.Process.Kill()
		_ = v.cmd.Wait()
		v.cmd = nil
	}
}

// do sends one root-token request straight to the server (not counted) and
// decodes the JSON answer's "data" into out when out is not nil.
func (v *vaultServer) do(hc *http.Client, method, path string, body any, out any) error {
	var rd *strings.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = strings.NewReader(string(b))
	} else {
		rd = strings.NewReader("")
	}
	req, err := http.NewRequest(method, v.direct+"/v1/"+path, rd)
	if err != nil {
		return err
	}
	if v.Token != "" {
		req.Header.Set("X-Vault-Token", v.Token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("vault %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e struct{ Errors []string }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("vault %s %s: %d %s", method, path, resp.StatusCode, strings.Join(e.Errors, "; "))
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(rawOut); ok {
		if raw.v == nil {
			return nil
		}
		return json.NewDecoder(resp.Body).Decode(raw.v)
	}
	var env struct{ Data json.RawMessage }
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("vault %s %s: %w", method, path, err)
	}
	return json.Unmarshal(env.Data, out)
}

// kvToken reads a tokend vault sink's KV v2 secret under the dev server's
// secret/ mount.
func (v *vaultServer) kvToken(hc *http.Client, path string) (sinkFile, error) {
	var d struct{ Data sinkFile }
	err := v.do(hc, http.MethodGet, "secret/data/"+path, nil, &d)
	return d.Data, err
}

// treeCPU is the user+system CPU time of pid and its descendants (Vault and
// the plugin processes it runs).
func treeCPU(pid int) (time.Duration, error) {
	var sum time.Duration
	for _, p := range tree(pid) {
		c, err := cpuTime(p)
		if err != nil && p == pid {
			return 0, err
		}
		sum += c
	}
	return sum, nil
}

// treeRSS is the summed VmRSS of pid and its descendants.
func treeRSS(pid int) (int64, error) {
	var sum int64
	for _, p := range tree(pid) {
		r, err := rss(p)
		if err != nil && p == pid {
			return 0, err
		}
		sum += r
	}
	return sum, nil
}

// tree lists pid and its descendants (from /proc/<pid>/task/*/children).
func tree(pid int) []int {
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", out[i]))
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

var errNoVault = errors.New("the vault sink needs a Vault binary (Options.VaultBin)")
