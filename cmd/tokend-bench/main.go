// Command tokend-bench measures tokend at scale against a local strict fake
// provider and prints one table (see docs/performance.md):
//
//	go run ./cmd/tokend-bench [-quick] [-n 10000] [-rounds 3] [-tokend PATH]
//	    [-sink vault] [-peer oauthapp [-peer-n 1000] [-peer-ttl 2m] [-peer-for 4m]]
//
// -sink vault gives the footprint and burst credentials a Vault KV v2 sink
// each, on a Vault dev server (scripts/vault-bin) behind a counting proxy.
// -peer oauthapp compares tokend with Vault's oauthapp plugin
// (scripts/oauthapp-bin) side by side; -n 0 runs that comparison alone.
//
// Without -tokend the daemon child is this binary re-executed in daemon mode
// (internal/bench.RunDaemon: the same internal/daemon as `tokend run`).
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/tokend/tokend/internal/bench"
)

func main() {
	if os.Getenv(bench.DaemonEnv) != "" && len(os.Args) > 1 && os.Args[1] == "daemon" {
		os.Exit(bench.RunDaemon(os.Args[2:], os.Stderr))
	}
	os.Exit(run())
}

func run() int {
	quick := flag.Bool("quick", false, "small, fast run (1,000 credentials, 5 s idle, 30 s timeliness)")
	n := flag.Int("n", 10000, "credentials for footprint and burst")
	small := flag.Int("small", 1000, "second footprint run for the per-credential slope (0: skip)")
	conc := flag.Int("concurrency", 16, "tokend max_concurrent and baseline workers")
	rounds := flag.Int("rounds", 3, "paired baseline+burst rounds at -n; the ratio is their median")
	idle := flag.Duration("idle", 60*time.Second, "idle window for CPU")
	timelyN := flag.Int("timely-n", 1000, "credentials in the timeliness phase (0: skip)")
	timelyFor := flag.Duration("timely-for", 3*time.Minute, "length of the timeliness phase")
	dir := flag.String("dir", "", "scratch directory on the disk under test (default: a new temp dir, removed after)")
	envFiles := flag.Int("envfiles", 0, "footprint and burst credentials share this many env-files (one variable each) instead of a JSON file each")
	sinkDir := flag.String("sink-dir", "", "put sink files (and the baselines' files) here instead, e.g. on a tmpfs (not removed after)")
	tokend := flag.String("tokend", "", "tokend binary to run as `tokend run` (default: this binary in daemon mode)")
	sink := flag.String("sink", "file", "footprint and burst sinks: file, or vault (KV v2 on a Vault dev server)")
	vaultBin := flag.String("vault-bin", "", "vault binary (default: $TOKEND_VAULT_BIN, else scripts/vault-bin)")
	vaultStorage := flag.String("vault-storage", "inmem", "storage of every Vault server: inmem (dev server) or raft (durable, fsync'd)")
	peer := flag.String("peer", "", "also compare with a peer side by side: oauthapp (Vault's oauthapp plugin)")
	oauthappBin := flag.String("oauthapp-bin", "", "oauthapp plugin binary (default: $TOKEND_OAUTHAPP_BIN, else scripts/oauthapp-bin)")
	peerN := flag.Int("peer-n", 1000, "credentials on each side of the peer comparison")
	peerTTL := flag.Duration("peer-ttl", 2*time.Minute, "access-token lifetime in the peer comparison")
	peerFor := flag.Duration("peer-for", 4*time.Minute, "length of each of the peer comparison's two windows (quiet, checked)")
	peerCheck := flag.Duration("peer-check-interval", 0, "the plugin's tune_refresh_check_interval_seconds (0: its default, 60 s)")
	flag.Parse()
	if *quick {
		*n, *small, *rounds, *idle, *timelyN, *timelyFor = 1000, 100, 2, 5*time.Second, 200, 30*time.Second
		*peerN, *peerTTL, *peerFor = 200, 30*time.Second, 40*time.Second
		if *peerCheck == 0 {
			*peerCheck = 10 * time.Second
		}
	}
	if *vaultStorage != "inmem" && *vaultStorage != "raft" {
		fmt.Fprintf(os.Stderr, "tokend-bench: -vault-storage %q: inmem or raft\n", *vaultStorage)
		return 2
	}
	if *vaultBin == "" && (*sink == "vault" || *peer != "") {
		p, err := bench.FindTool("TOKEND_VAULT_BIN", "vault-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		*vaultBin = p
	}
	if *oauthappBin == "" && *peer == "oauthapp" {
		p, err := bench.FindTool("TOKEND_OAUTHAPP_BIN", "oauthapp-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		*oauthappBin = p
	}
	d := *dir
	if d == "" {
		var err error
		if d, err = os.MkdirTemp("", "tokend-bench-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(d)
	}
	daemon := []string{*tokend, "run"}
	if *tokend == "" {
		self, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		daemon = []string{self, "daemon"}
	}
	start := time.Now()
	r, err := bench.Run(bench.Options{Daemon: daemon, Dir: d, SinkDir: *sinkDir, EnvFiles: *envFiles, N: *n, SmallN: *small, MaxConcurrent: *conc, Rounds: *rounds,
		Idle: *idle, TimelyN: *timelyN, TimelyFor: *timelyFor, MinTTL: 20 * time.Second, MaxTTL: 60 * time.Second,
		Sink: *sink, VaultBin: *vaultBin, VaultRaft: *vaultStorage == "raft", Peer: *peer, OAuthAppBin: *oauthappBin,
		PeerN: *peerN, PeerTTL: *peerTTL, PeerFor: *peerFor, PeerCheckInterval: *peerCheck,
		Progress: func(f string, a ...any) {
			fmt.Fprintf(os.Stderr, "[%5.0fs] "+f+"\n", append([]any{time.Since(start).Seconds()}, a...)...)
		}})
	if err != nil {
		fmt.Fprintf(os.Stderr, "tokend-bench: %v\n", err)
		return 1
	}
	r.Print(os.Stdout)
	return 0
}
