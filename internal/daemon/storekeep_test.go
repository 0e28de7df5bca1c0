package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/testkit"
)

// The daemon backs the store up at start-up; a store directory removed
// under it makes it not ready (status store_open false) until the
// scheduler loop has re-created the store, which it does within seconds.
func TestStoreBackupAndDeletedStoreNotReady(t *testing.T) {
	e := newE2E(t, time.Hour)
	d, logs, stop := e.start(t)
	defer stop()
	stateDir := filepath.Join(e.dir, "state")
	testkit.WaitUntil(t, "the daemon ready", 10*time.Second, d.StoreOpen)
	// Let start-up's refreshes and sink writes finish first: a save that
	// fails on the deleted file wakes the loop, which may then re-create the
	// store before this test has looked at it.
	testkit.WaitUntil(t, "start-up refreshes delivered", 10*time.Second, func() bool {
		for _, c := range d.Scheduler().Snapshot() {
			if c.Status != state.StatusOK || c.Generation == 0 {
				return false
			}
			for _, sk := range c.Sinks {
				if sk.Generation != c.Generation {
					return false
				}
			}
		}
		return true
	})
	if b, err := state.Backups(stateDir); err != nil || len(b) != 1 {
		t.Fatalf("start-up backup: %v, %v", b, err)
	}
	var err error
	for range 10 { // the daemon may be writing a file in it (seed record) at that moment
		if err = os.RemoveAll(stateDir); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Store().CheckFile(); err == nil {
		t.Fatal("CheckFile found the deleted store in place")
	}
	if d.StoreOpen() {
		t.Error("ready (store_open) although the store file is gone")
	}
	testkit.WaitUntil(t, "the store re-created", 15*time.Second, d.StoreOpen)
	if _, err := os.Stat(filepath.Join(stateDir, "tokend.db")); err != nil {
		t.Fatalf("store file not re-created: %v", err)
	}
	// The loop logs the re-creation right after the store is back, so the
	// line may trail StoreOpen by a moment.
	testkit.WaitUntil(t, "the re-creation logged", 5*time.Second, func() bool {
		return strings.Contains(logs.String(), "state store re-created")
	})
}
