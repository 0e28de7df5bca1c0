package state

// A FileStore remembers of its own commits the generation of each
// credential's record last committed through it since Open (FileStore.gens).
// The store's file is locked by this process alone (Open) and every write to
// it goes through the store, so this is what the file holds: a refresh can
// re-check its record against it instead of reading and decoding it (issue
// 17). One map entry per credential written: its name (the record's own
// string) and a uint64.

// Committed reports the generation of the record last committed for name
// through this store since it was opened, and true; false when this store
// has committed none for name since then (a record may still be on disk from
// an earlier run: read it with Load) or the last write was a Delete. A
// record whose generation Committed reports is byte for byte the one Load
// would return now, unless a Save or Delete of name is in progress. Safe
// for concurrent use; it never touches the file.
func (s *FileStore) Committed(name string) (uint64, bool) {
	s.gensMu.Lock()
	defer s.gensMu.Unlock()
	g, ok := s.gens[name]
	return g, ok
}

// noteCommitted records that rec is now on disk. The committer calls it in
// commit order (committer.doThen).
func (s *FileStore) noteCommitted(name string, gen uint64) {
	s.gensMu.Lock()
	defer s.gensMu.Unlock()
	if s.gens == nil {
		s.gens = map[string]uint64{}
	}
	s.gens[name] = gen
}

// noteDeleted records that name has no record any more.
func (s *FileStore) noteDeleted(name string) {
	s.gensMu.Lock()
	defer s.gensMu.Unlock()
	delete(s.gens, name)
}
