package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/metrics"
	"github.com/tokend/tokend/internal/proxy"
	"github.com/tokend/tokend/internal/scheduler"
)

// proxies are the daemon's auth-injecting proxies ([[credential.proxy]]),
// one proxy.Server per listen address. They are built (listening) with the
// daemon, so a taken port fails start-up, served by Run, and follow reloads
// (plan/commit): a listen address kept by the new config keeps its
// listener and takes the new route (credential, upstream, ca_file) without
// dropping connections; a new one starts; a removed one shuts down.
type proxies struct {
	log *zap.Logger
	src proxy.Source
	obs *metrics.Proxy

	mu      sync.RWMutex
	running map[string]*runningProxy // listen -> its server
	ctx     context.Context          // Run's; nil before Run and after it ends
	wg      sync.WaitGroup
}

type runningProxy struct {
	srv    *proxy.Server
	cancel context.CancelFunc // ends its Serve; nil until served
}

// proxyPlan is a reload's change to the proxies, built (new listeners open,
// routes checked) but not applied.
type proxyPlan struct {
	start  map[string]*proxy.Server // new listen addresses, listening
	update map[string]proxy.Route   // kept addresses whose route changes
	keep   map[string]bool          // every address of the new config
}

func newProxies(log *zap.Logger, src proxy.Source, obs *metrics.Proxy) *proxies {
	return &proxies{log: log, src: src, obs: obs, running: map[string]*runningProxy{}}
}

// routes lists the config's proxies by listen address.
func proxyRoutes(cfg *config.Config) (listens []string, routes map[string]proxy.Route) {
	routes = map[string]proxy.Route{}
	for _, cr := range cfg.Credentials {
		for _, p := range cr.Proxies {
			listens = append(listens, p.Listen)
			routes[p.Listen] = proxy.Route{Credential: cr.Name, Upstream: p.Upstream, CAFile: p.CAFile}
		}
	}
	return listens, routes
}

// plan builds what applying cfg changes: new servers listen now (a taken
// port or bad ca_file is an error, with every new listener closed again);
// routes of kept addresses are checked by building them.
func (ps *proxies) plan(cfg *config.Config) (*proxyPlan, error) {
	listens, routes := proxyRoutes(cfg)
	pl := &proxyPlan{start: map[string]*proxy.Server{}, update: map[string]proxy.Route{}, keep: map[string]bool{}}
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	var errs []error
	for _, l := range listens {
		pl.keep[l] = true
		r := routes[l]
		if rp, ok := ps.running[l]; ok {
			if rp.srv.Route() != r {
				pl.update[l] = r
			}
			continue
		}
		srv, err := proxy.New(proxy.Options{Listen: l, Route: r, Source: ps.src, Observer: ps.obs, Log: ps.log})
		if err != nil {
			errs = append(errs, fmt.Errorf("credential %q: %w", r.Credential, err))
			continue
		}
		pl.start[l] = srv
	}
	if err := errors.Join(errs...); err != nil {
		pl.abandon()
		return nil, err
	}
	return pl, nil
}

// abandon closes the listeners a plan opened.
func (pl *proxyPlan) abandon() {
	if pl == nil {
		return
	}
	for _, srv := range pl.start {
		_ = srv.Close()
	}
}

// commit applies pl: routes updated, new servers added (and served when
// Run is serving), removed ones shut down. An update whose route fails to
// build now (its ca_file vanished since plan) keeps the old route and is
// logged.
func (ps *proxies) commit(pl *proxyPlan) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for l, r := range pl.update {
		if err := ps.running[l].srv.Update(r); err != nil {
			ps.log.Error("proxy route not updated; keeping the previous one", zap.String("listen", l), zap.Error(err))
		}
	}
	for l, rp := range ps.running {
		if !pl.keep[l] {
			ps.stopLocked(l, rp)
		}
	}
	for l, srv := range pl.start {
		rp := &runningProxy{srv: srv}
		ps.running[l] = rp
		if ps.obs != nil {
			ps.obs.Started(srv.Route().Credential, l)
		}
		if ps.ctx != nil {
			ps.serveLocked(rp)
		}
	}
}

func (ps *proxies) stopLocked(l string, rp *runningProxy) {
	delete(ps.running, l)
	if rp.cancel != nil {
		rp.cancel() // Serve shuts down; run waits for it
	} else {
		_ = rp.srv.Close()
	}
	ps.log.Info("proxy stopped", zap.String("listen", l))
}

func (ps *proxies) serveLocked(rp *runningProxy) {
	ctx, cancel := context.WithCancel(ps.ctx)
	rp.cancel = cancel
	ps.wg.Go(func() {
		if err := rp.srv.Serve(ctx); err != nil {
			ps.log.Error("proxy stopped serving", zap.Error(err))
		}
	})
}

// run serves every proxy until ctx ends or stop is called; stop waits for
// them to shut down.
func (ps *proxies) run(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	ps.mu.Lock()
	ps.ctx = ctx
	for _, rp := range ps.running {
		ps.serveLocked(rp)
	}
	ps.mu.Unlock()
	return func() {
		cancel()
		ps.mu.Lock()
		ps.ctx = nil
		ps.mu.Unlock()
		ps.wg.Wait()
	}
}

// closeAll closes the listeners of a daemon that fails to start.
func (ps *proxies) closeAll() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for l, rp := range ps.running {
		ps.stopLocked(l, rp)
	}
}

// statusChanged passes the scheduler's event to the proxies of that
// credential (their 401 refreshes wait for it). It never blocks.
func (ps *proxies) statusChanged(st scheduler.CredentialStatus) {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	for _, rp := range ps.running {
		rp.srv.StatusChanged(st)
	}
}

// Addrs returns where each proxy listens, by its configured listen address
// (the real port for ":0").
func (ps *proxies) addrs() map[string]string {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	out := make(map[string]string, len(ps.running))
	for l, rp := range ps.running {
		out[l] = rp.srv.Addr()
	}
	return out
}

// proxyObserver is the scheduler's observer with the proxies told about
// every status change.
type proxyObserver struct {
	scheduler.Observer
	ps *proxies
}

func (o proxyObserver) StatusChanged(st scheduler.CredentialStatus) {
	o.Observer.StatusChanged(st)
	o.ps.statusChanged(st)
}

// ProxyAddrs returns where each proxy listens, by its configured listen
// address (the real port when the config asked for port 0).
func (d *Daemon) ProxyAddrs() map[string]string { return d.proxy.addrs() }
