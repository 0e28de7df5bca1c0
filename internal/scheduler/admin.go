package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/state"
)

// ImportedToken is a token obtained out of band (tokend authorize, tokend
// import) for a configured credential: a zero RefreshToken keeps the stored
// one, a zero AccessToken means refresh right away, a zero IssuedAt means
// now (state.Record.Imported).
type ImportedToken = state.Tokens

// TokensFrom is a token-endpoint answer as the record transitions (and
// Import) take it.
func TokensFrom(tok grants.Token) state.Tokens {
	return state.Tokens{RefreshToken: tok.RefreshToken, AccessToken: tok.AccessToken, TokenType: tok.TokenType,
		Scope: tok.Scope, ExpiresAt: tok.ExpiresAt, IssuedAt: tok.IssuedAt,
		RefreshTokenExpiresAt: tok.RefreshTokenExpiresAt, Extra: tok.Extra}
}

// Import stores tok for the named credential durably, then writes the sinks
// and plans the next refresh (immediately when there is no access token). It
// fails if a refresh of that credential is in flight; try again.
func (s *Scheduler) Import(ctx context.Context, name string, tok ImportedToken) error {
	s.mu.Lock()
	e, ok := s.entries[name]
	switch {
	case !ok || e.removed:
		s.mu.Unlock()
		return fmt.Errorf("unknown credential %q", name)
	case e.inflight:
		s.mu.Unlock()
		return fmt.Errorf("credential %q: a refresh is in flight; try again in a moment", name)
	}
	e.inflight = true // keep refreshes away while we write
	prev := e.rec
	s.mu.Unlock()

	cur, err := s.store.Load(ctx, name)
	if err == nil && cur.Generation > prev.Generation {
		prev = cur
	} else if err != nil && !errors.Is(err, state.ErrNotFound) {
		s.endImport(e)
		return fmt.Errorf("loading state for %q: %w", name, err)
	}
	rec := prev.Imported(name, tok, s.now())
	if err := s.save(ctx, rec); err != nil {
		s.endImport(e)
		return fmt.Errorf("saving imported token for %q: %w", name, err)
	}

	var hold func() // a claim kept for an unsaved answer the import replaces, released unlocked
	defer func() {
		if hold != nil {
			hold()
		}
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	e.inflight = false
	e.rec, e.pending, e.status, e.attempt, e.unknown = rec, nil, rec.Status, 0, false
	hold, e.hold = e.hold, nil
	now := s.now()
	if rec.AccessToken.IsZero() {
		s.scheduleLocked(e, jobRefresh, now)
	} else {
		s.planLocked(e, now)
		s.scheduleLocked(e, jobSinks, now)
	}
	e.log.Info("imported token", append(s.recFields(e), zap.String("refresh_token_fp", rec.RefreshToken.Fingerprint()))...)
	s.obs.StatusChanged(s.statusLocked(e))
	return nil
}

func (s *Scheduler) endImport(e *entry) {
	s.mu.Lock()
	e.inflight = false
	s.mu.Unlock()
}

// Update applies a reloaded config: new credentials start, removed ones stop
// (their state stays in the store), changed ones get the new source, sinks
// and windows and are re-planned. Safe to call while Run is running. When it
// returns an error (a bad credential, or the store failing to read an added
// credential's record) nothing has been changed.
func (s *Scheduler) Update(ctx context.Context, creds []Credential) error {
	seen := make(map[string]bool, len(creds))
	for _, c := range creds {
		if c.Name == "" || c.Source == nil {
			return fmt.Errorf("scheduler: credential %q needs a name and a token source", c.Name)
		}
		if seen[c.Name] {
			return fmt.Errorf("scheduler: credential %q configured twice", c.Name)
		}
		seen[c.Name] = true
	}
	// Read the records of the credentials being added before changing
	// anything (and without holding the lock: the store may be Vault), so a
	// store error rejects the reload with the running set untouched.
	loaded, err := s.loadAdded(ctx, creds)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := map[string]bool{}
	now := s.now()
	for _, c := range creds {
		keep[c.Name] = true
		e, ok := s.entries[c.Name]
		if ok && e.removed {
			s.dropLocked(c.Name)
			ok = false
		}
		if !ok {
			if err := s.addEntry(c); err != nil {
				return err // not reached: names were checked above
			}
			if s.started {
				if l, ok := loaded[c.Name]; ok {
					s.prepareRecordLocked(s.entries[c.Name], l.rec, l.found, now)
				} else if err := s.prepareLocked(ctx, s.entries[c.Name], now); err != nil {
					return err // only when Run started between loadAdded and here
				}
			}
			s.entries[c.Name].log.Info("credential added by reload")
			continue
		}
		s.changeLocked(e, c, now)
	}
	for _, name := range append([]string(nil), s.order...) {
		if e := s.entries[name]; !keep[name] && !e.removed {
			e.removed = true
			e.log.Info("credential removed by reload; its state is kept in the store")
		}
	}
	return nil
}

// loaded is a record read ahead of an Update.
type loaded struct {
	rec   state.Record
	found bool
}

// loadAdded reads the stored records of the credentials in creds that are
// not running yet (none before Run has started: start-up loads them).
func (s *Scheduler) loadAdded(ctx context.Context, creds []Credential) (map[string]loaded, error) {
	s.mu.Lock()
	var added []string
	if s.started {
		for _, c := range creds {
			if e, ok := s.entries[c.Name]; !ok || e.removed {
				added = append(added, c.Name)
			}
		}
	}
	s.mu.Unlock()
	out := make(map[string]loaded, len(added))
	for _, name := range added {
		rec, found, err := s.loadRecord(ctx, name)
		if err != nil {
			return nil, err
		}
		out[name] = loaded{rec: rec, found: found}
	}
	return out, nil
}

// changeLocked swaps in a credential's new configuration.
func (s *Scheduler) changeLocked(e *entry, c Credential, now time.Time) {
	old := e.sinks
	e.cred = c
	e.sinks = make([]sinkState, len(c.Sinks))
	for i, sk := range c.Sinks {
		e.sinks[i].sink = sk
		for _, o := range old { // keep delivery state of unchanged sinks
			if o.sink.String() == sk.String() {
				e.sinks[i] = o
				e.sinks[i].sink = sk
			}
		}
	}
	if e.inflight || e.pending != nil {
		return // the running job plans with the new config when it finishes
	}
	if e.status == state.StatusOK {
		s.planLocked(e, now)
	}
	if len(e.behindLocked()) > 0 && !e.rec.AccessToken.IsZero() {
		s.scheduleLocked(e, jobSinks, now)
	}
}

// dropLocked forgets a removed entry so it can be added again.
func (s *Scheduler) dropLocked(name string) {
	delete(s.entries, name)
	for i, n := range s.order {
		if n == name {
			s.order = append(s.order[:i], s.order[i+1:]...)
			break
		}
	}
}
