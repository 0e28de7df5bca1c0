package storetest

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/state"
)

// Item 1: a truncated or garbled tokend.db stops tokend with exit 4 and a
// clear message (before: SIGBUS or a bbolt panic, a restart loop); `tokend
// store check` says so, `tokend store restore` brings back the start-up
// backup, and tokend then runs on with the provider's live tokens.
func TestCorruptStore(t *testing.T) {
	h := newHarness(t, time.Hour) // no rotation after the start-up backups
	h.runUntilDelivered()         // seeds and refreshes once
	h.runUntilDelivered()         // its start-up backup holds the live tokens
	good, err := os.ReadFile(h.db())
	if err != nil {
		t.Fatal(err)
	}
	ps := 4096
	rng := rand.New(rand.NewPCG(16, 1))
	garbled := append([]byte(nil), good...)
	for i := 2 * ps; i < len(garbled); i++ {
		garbled[i] = byte(rng.IntN(256))
	}
	for name, data := range map[string][]byte{
		"truncated to its meta pages": good[:2*ps],
		"data pages garbled":          garbled,
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(h.db(), data, 0o600); err != nil {
				t.Fatal(err)
			}
			h.refusesToStart("corrupt")
			code, out := h.storeCmd("check", "--config", h.cfg)
			if code != state.ExitStoreDamaged || !strings.Contains(out, "DAMAGED") || !strings.Contains(out, "backup") {
				t.Errorf("tokend store check: exit %d:\n%s", code, out)
			}
		})
	}
	code, out := h.storeCmd("restore", "--config", h.cfg)
	if code != 0 {
		t.Fatalf("tokend store restore: exit %d:\n%s", code, out)
	}
	if code, out := h.storeCmd("check", "--config", h.cfg); code != 0 {
		t.Fatalf("tokend store check after restore: exit %d:\n%s", code, out)
	}
	log := h.runUntilDelivered()
	if strings.Contains(log, "seeding") || strings.Contains(log, "needs re-authorization") {
		t.Errorf("after the restore tokend did not run on the restored records:\n%s", log)
	}
	h.assertLive(1)
	if st := h.p.Stats(); st.Reuses != 0 || st.FamiliesRevoked != 0 {
		t.Errorf("provider saw %d reuses, %d families revoked", st.Reuses, st.FamiliesRevoked)
	}
}

// Item 2: a store that existed and is now empty or missing is not a fresh
// start; and a store restored from a backup older than the seeding does not
// present refresh_token_file again (before: the seed, long rotated, was
// presented → reuse → the provider revoked the family).
func TestLostStore(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.runUntilDelivered()
	backups, err := state.Backups(h.state)
	if err != nil || len(backups) != 1 {
		t.Fatalf("backups after one run: %v, %v", backups, err)
	}
	if err := os.Truncate(h.db(), 0); err != nil {
		t.Fatal(err)
	}
	h.refusesToStart("empty (0 bytes)")
	if err := os.Remove(h.db()); err != nil {
		t.Fatal(err)
	}
	h.refusesToStart("is missing")

	// The only backup is from before the seeding: it has no records.
	if code, out := h.storeCmd("restore", "--dir", h.state, "--from", backups[0]); code != 0 {
		t.Fatalf("restore: exit %d\n%s", code, out)
	}
	before := h.p.Stats().TokenRequests
	p := h.start()
	time.Sleep(3 * time.Second)
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.stderr)
	}
	log := p.stderr.String()
	for _, c := range creds {
		if !strings.Contains(log, `"credential":"`+c+`"`) || !strings.Contains(log, "seed_already_used") {
			t.Errorf("%s: not reported as seeded before:\n%s", c, log)
		}
	}
	if n := h.p.Stats().TokenRequests - before; n != 0 {
		t.Errorf("%d token requests: the used seed was presented again", n)
	}
	if st := h.p.Stats(); st.Reuses != 0 || st.FamiliesRevoked != 0 {
		t.Errorf("provider saw %d reuses, %d families revoked", st.Reuses, st.FamiliesRevoked)
	}
	// The operator puts new tokens in refresh_token_file: they are used.
	for _, c := range creds {
		if err := os.WriteFile(filepath.Join(h.dir, c+".rt"), []byte(h.p.IssueRefreshToken(c, "read")), 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := state.Open(h.state, state.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Delete(t.Context(), c); err != nil { // the needs_reauth record
			t.Fatal(err)
		}
		_ = st.Close()
	}
	h.runUntilDelivered()
	h.assertLive(2) // the lost store's family is still live at the provider; nobody presents it
}

// Item 3: the state directory removed (rm -rf) while tokend rotates: tokend
// notices, says so by path, re-creates the store from the open one, and no
// rotation is lost (before: rotations went on into the unlinked file and the
// restart re-seeded → reuse).
func TestStoreDeletedWhileRunning(t *testing.T) {
	h := newHarness(t, 2*time.Second)
	p := h.start()
	if !until(30*time.Second, func() bool { return h.p.Stats().Refreshes >= 4 }) {
		t.Fatalf("no rotations:\n%s", p.stderr)
	}
	if err := os.RemoveAll(h.state); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	if !until(15*time.Second, func() bool { return strings.Contains(p.stderr.String(), "state store re-created") }) {
		t.Fatalf("the deleted store was not noticed and re-created:\n%s", p.stderr)
	}
	took := time.Since(deleted)
	log := p.stderr.String()
	if !strings.Contains(log, "deleted or replaced") || !strings.Contains(log, h.db()) {
		t.Errorf("the log does not name the deleted store:\n%s", log)
	}
	n := h.p.Stats().Refreshes
	if !until(20*time.Second, func() bool { return h.p.Stats().Refreshes >= n+4 }) {
		t.Fatalf("rotations did not go on after the re-creation:\n%s", p.stderr)
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.stderr)
	}
	h.assertLive(1)
	// A restart runs on the re-created store: no seed, no reuse.
	p = h.start()
	time.Sleep(3 * time.Second)
	if code := p.stop(t); code != 0 {
		t.Fatalf("restart: exit %d:\n%s", code, p.stderr)
	}
	if st := h.p.Stats(); st.Reuses != 0 || st.FamiliesRevoked != 0 {
		t.Errorf("provider saw %d reuses, %d families revoked", st.Reuses, st.FamiliesRevoked)
	}
	h.assertLive(1)
	t.Logf("store re-created %s after rm -rf; %d rotations in all, 0 reuses", took.Round(time.Millisecond), h.p.Stats().Refreshes)
}
