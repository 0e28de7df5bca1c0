package vaultstore

// What a Store remembers of each credential's two keys, and why it may
// answer a Load without asking Vault (issue 17, item 3).
//
// A rotation used to cost six Vault requests: claim read, claim write,
// record read (the re-check), intent write, result write, claim clear. When
// this replica was the last to claim the credential, two are skipped:
//
//   - take writes the claim blindly with cas = the claim version this Store
//     itself last wrote (take, heartbeat or clear). Vault accepts it only if
//     the claim is still exactly that write of ours — cleared by us, or held
//     by us — the two cases in which the read-then-write take would have
//     taken it too. On a mismatch (another writer claimed since) it reads the
//     claim and decides as before, and keeps reading first (contended) until
//     a read finds the claim at its own last write again: a replica taking
//     turns with others pays no failed blind write per turn.
//   - Load right after a take that found the claim at this Store's own last
//     write (blind, or read) answers from the record this Store last wrote or
//     read under a claim (raw, at version), without a request.
//
// Why no refresh token can be spent twice because of it: the answer is the
// exact content of KV version `version` (KV versions are immutable), and the
// next Save is check-and-set against that same version. The scheduler spends
// a refresh token only after its intent Save succeeded (job.go), so it spends
// one taken from a cached record only if Vault still held that very version
// when the intent landed — exactly what a fresh read followed by the same
// Save would have proved. If anyone wrote the record since, whether or not
// the writer claimed first, the intent fails with state.ErrConflict; the
// scheduler's conflict handling (job.go save) re-reads the record and writes
// over it only if it is not newer — a record of the same generation carries
// the same refresh token — so what gets spent is what a fresh read would
// have led to, and a newer generation stops the attempt unspent.
//
// Why the answer is current in practice: every writer of a record takes the
// credential's claim before writing — replicas refreshing (job.go: claim →
// load → intent → result, and persistFailure under the held claim),
// `tokend authorize`/`tokend import` in the vault backend (bootstrap's
// storeVault, under a tokend-bootstrap claim) — so a successful blind take
// shows nobody wrote since this replica's own last claim. The exceptions are
// writes that outlive their claim: a commit after the claim was lost
// (scheduler commitAfterLoss, against the writer's intent version), an
// answered refresh saved later (jobSave/savePending), and the admin API's
// Import in another replica. They are rare; after one, this replica's
// intent conflicts as above (a storage error, retried with backoff; the
// conflict's re-read refreshes the cache), instead of adopting the newer
// record at once.
//
// raw is kept only while it matches version: any write of ours that fails
// (its outcome may be unknown) or conflicts drops it, and a Load outside a
// claim replaces version without keeping raw (start-up loads every record:
// keeping them all would double the records' memory for nothing).
type known struct {
	version   int    // record KV version last read or written: the next Save's cas
	raw       []byte // the record's JSON at version (nil: not kept)
	claimV    int    // claim KV version this Store last wrote (0: none known)
	contended bool   // another writer claimed since claimV: take reads first
	held      bool   // this Store holds the claim (between take and release)
	proven    bool   // the last take found the claim at claimV: the next Load may answer from raw
}

// get returns name's entry, creating it; s.mu must be held.
func (s *Store) get(name string) *known {
	k := s.known[name]
	if k == nil {
		k = &known{}
		s.known[name] = k
	}
	return k
}

// saveCAS is the cas for the next Save of name.
func (s *Store) saveCAS(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.get(name).version
}

// saved records a successful Save of raw at version v.
func (s *Store) saved(name string, v int, raw []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.get(name)
	k.version, k.raw = v, raw
}

// saveFailed forgets name's raw record after a failed or conflicting Save.
func (s *Store) saveFailed(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.get(name)
	k.raw, k.proven = nil, false
}

// loaded records a Load from Vault of version v (raw nil: no record). A
// version other than the one this Store knew means someone else wrote the
// record: then the claim has most likely moved as well, and the next take
// reads it instead of trying blind.
func (s *Store) loaded(name string, v int, raw []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.get(name)
	if v != k.version {
		k.contended = true
	}
	k.version, k.raw = v, nil
	if k.held {
		k.raw = raw
	}
}

// cached returns the record to answer a Load with when the last take was
// blind, and consumes that proof (nil: ask Vault).
func (s *Store) cached(name string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.get(name)
	if !k.proven {
		return nil
	}
	k.proven = false
	return k.raw
}

// blindCAS is the cas for a blind take of name's claim (0: read first).
func (s *Store) blindCAS(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := s.get(name); !k.contended {
		return k.claimV
	}
	return 0
}

// lastClaim is the claim version this Store last wrote for name (0: none
// known).
func (s *Store) lastClaim(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.get(name).claimV
}

// claimWritten records this Store's successful claim write at version v.
func (s *Store) claimWritten(name string, v int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.get(name).claimV = v
}

// took records a take at version v; ours: the claim was found at this
// Store's own last write (nobody claimed since).
func (s *Store) took(name string, v int, ours bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.get(name)
	k.claimV, k.held, k.contended, k.proven = v, true, !ours, ours && k.raw != nil
}

// contend makes the next take of name read the claim first: another
// writer wrote it since this Store's last write.
func (s *Store) contend(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.get(name).contended = true
}

// released records the end of a hold: cleared is the version of this
// Store's clearing write (0: not cleared, or its outcome unknown).
func (s *Store) released(name string, cleared int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.get(name)
	k.held, k.proven = false, false
	if cleared > 0 {
		k.claimV = cleared
	}
}
