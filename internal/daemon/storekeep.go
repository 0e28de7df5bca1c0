package daemon

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/state"
)

// backupStore takes a backup of the file store (state.FileStore.Backup: a
// consistent copy beside it, the newest state.DefaultBackupKeep kept). A
// failure is logged, never fatal: the store itself is fine.
func (d *Daemon) backupStore(why string) {
	st := d.Store()
	if st == nil {
		return
	}
	start := time.Now()
	path, err := st.Backup(state.DefaultBackupKeep)
	if err != nil {
		d.log.Warn("state store backup failed", zap.String("when", why), zap.Error(err))
		return
	}
	d.log.Info("state store backed up", zap.String("when", why), zap.String("backup", path),
		zap.Duration("took", time.Since(start)))
}

// chain returns a function calling first, then next when it is not nil.
func chain(first, next func()) func() {
	if next == nil {
		return first
	}
	return func() { first(); next() }
}

// runBackups backs the file store up every state.DefaultBackupInterval
// until ctx ends; the returned function waits for it.
func (d *Daemon) runBackups(ctx context.Context) (wait func()) {
	if d.Store() == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() { // owned by the daemon: Run waits for it before returning
		defer close(done)
		t := time.NewTicker(state.DefaultBackupInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				d.backupStore("periodic")
			}
		}
	}()
	return func() { <-done }
}

// storeHealthy reports whether the file store's file is in place (a store
// deleted or replaced under the daemon makes it not ready until the
// scheduler has re-created it). Other backends are always healthy here.
func (d *Daemon) storeHealthy() bool {
	st := d.Store()
	return st == nil || st.Healthy()
}
