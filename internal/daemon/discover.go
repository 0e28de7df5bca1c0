package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/discovery"
	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/secret"
)

// discoverDeferred runs the issuer discovery that LoadConfig left to New
// (LoadOptions.DeferDiscovery), once the state store is open (issue 12
// item 6). Per issuer: fetched metadata is used and stored; when fetching
// fails, the metadata stored at the last success is used, logged as such;
// with nothing stored, an unavailable issuer (discovery.ErrUnavailable)
// leaves its credentials without endpoints, returned as pending (their
// token source discovers on each attempt, so they wait in backoff alone),
// while an issuer that answered wrongly fails start-up as before, as a
// *LoadError of StageDiscovery. A credential that sets token_url itself
// never waits: it starts with what it has.
func discoverDeferred(ctx context.Context, cfg *config.Config, st discovery.Store, log *zap.Logger, now func() time.Time) (map[string]bool, error) {
	if !cfg.DiscoveryDeferred {
		return nil, nil
	}
	cfg.DiscoveryDeferred = false
	ctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	type outcome struct {
		r   discovery.Resolved
		err error
	}
	byIssuer := map[string]outcome{}
	pending := map[string]bool{}
	var errs []error
	for i := range cfg.Credentials {
		cr := &cfg.Credentials[i]
		if cr.Issuer == "" {
			continue
		}
		o, seen := byIssuer[cr.Issuer]
		if !seen {
			var saveErr error
			o.r, saveErr, o.err = discovery.Resolve(ctx, nil, st, cr.Issuer, now())
			byIssuer[cr.Issuer] = o
			logResolved(log, cr.Issuer, o.r, saveErr, o.err)
		}
		switch {
		case o.err == nil:
			if err := discovery.Fill(cr, o.r); err != nil {
				errs = append(errs, err)
			}
		case cr.TokenURL != "":
			log.Warn("discovery failed; starting with the configured token_url only", zap.String("credential", cr.Name), zap.Error(o.err))
		case errors.Is(o.err, discovery.ErrUnavailable):
			pending[cr.Name] = true
			log.Warn("discovery failed and no metadata is stored; the credential waits in backoff and discovery is retried",
				zap.String("credential", cr.Name), zap.String("issuer", cr.Issuer), zap.Error(o.err))
		default:
			errs = append(errs, fmt.Errorf("credential %q: discovery: %w", cr.Name, o.err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, &LoadError{StageDiscovery, err}
	}
	return pending, nil
}

// logResolved logs how an issuer's metadata was obtained.
func logResolved(log *zap.Logger, issuer string, r discovery.Resolved, saveErr, err error) {
	switch {
	case err != nil:
	case r.FetchErr != nil:
		log.Warn("discovery failed; using metadata discovered at "+r.DiscoveredAt.UTC().Format(time.RFC3339),
			zap.String("issuer", issuer), zap.Time("discovered_at", r.DiscoveredAt), zap.Error(r.FetchErr))
	case saveErr != nil:
		log.Warn("discovered metadata could not be stored; a restart while the issuer is down will not find it",
			zap.String("issuer", issuer), zap.Error(saveErr))
	}
}

// discoveringSource is the token source of a credential whose issuer was
// unavailable at start-up with no metadata stored: every attempt first
// resolves the metadata (fetch, else the store); until that works it fails
// transiently with code "discovery_failed", so the scheduler's backoff
// retries it, and once it works it builds the grants client and keeps it.
type discoveringSource struct {
	cr   config.Credential // as configured: the endpoints are discovered here
	http *http.Client      // the build's shared client for token requests
	// tokens is token_exchange's subject_credential lookup (subjects.go).
	tokens func(ctx context.Context, name string) (secret.Secret, error)
	store  discovery.Store // nil when the backend keeps no metadata
	log    *zap.Logger
	now    func() time.Time

	mu  sync.Mutex
	src scheduler.TokenSource // nil until discovered
}

// Prepare resolves the endpoints if they are not known yet
// (scheduler.Preparer: before the refresh intent, so a failure spends
// nothing).
func (s *discoveringSource) Prepare(ctx context.Context) error {
	_, err := s.source(ctx)
	return err
}

// Renew resolves the endpoints if needed, then renews with them.
func (s *discoveringSource) Renew(ctx context.Context, refreshToken secret.Secret) (grants.Token, error) {
	src, err := s.source(ctx)
	if err != nil {
		return grants.Token{}, err
	}
	return src.Renew(ctx, refreshToken)
}

func (s *discoveringSource) source(ctx context.Context) (scheduler.TokenSource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.src != nil {
		return s.src, nil
	}
	dctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	r, saveErr, err := discovery.Resolve(dctx, nil, s.store, s.cr.Issuer, s.now())
	if err != nil {
		return nil, &grants.Error{Credential: s.cr.Name, Endpoint: "discovery", Code: "discovery_failed", Class: grants.ClassTransient,
			Description: "the issuer's metadata cannot be fetched and none is stored", Err: err}
	}
	logResolved(s.log, s.cr.Issuer, r, saveErr, nil)
	cr := s.cr
	gerr := discovery.Fill(&cr, r)
	var c *grants.Client
	if gerr == nil {
		gc := cr.GrantsConfig()
		if gc.HTTPClient == nil {
			gc.HTTPClient = s.http
		}
		gc.CredentialToken = s.tokens
		c, gerr = grants.New(gc)
	}
	if gerr != nil {
		return nil, &grants.Error{Credential: s.cr.Name, Endpoint: "discovery", Code: grants.CodeInvalidConfig, Class: grants.ClassPermanent,
			Description: "the discovered endpoints are unusable", Err: gerr}
	}
	s.log.Info("issuer discovered; the credential's endpoints are known now", zap.String("issuer", s.cr.Issuer))
	s.src = tokenSource(c)
	return s.src, nil
}
