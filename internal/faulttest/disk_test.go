package faulttest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/fakeprovider"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/testkit"
)

// Two daemons on one state directory: the second refuses to start. That is
// shown in internal/daemon (TestSecondDaemonRefusesSameStateDir) and, across
// processes, in internal/state (lock_test.go); it is not repeated here.

// flakyStore fails Save with ENOSPC, as a full disk does, while failing is
// set or once failAfter saves have succeeded (failAfter > 0).
type flakyStore struct {
	scheduler.Store
	mu        sync.Mutex
	failing   bool
	failAfter int
	fails     int
	saves     []state.Record
}

func (f *flakyStore) Save(ctx context.Context, rec state.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing || (f.failAfter > 0 && len(f.saves) >= f.failAfter) {
		f.fails++
		return &os.PathError{Op: "write", Path: "tokend.db", Err: syscall.ENOSPC}
	}
	if err := f.Store.Save(ctx, rec); err != nil {
		return err
	}
	f.saves = append(f.saves, rec)
	return nil
}

func (f *flakyStore) set(failing bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing, f.failAfter = failing, 0
}

// strictProvider is a rotating provider that revokes the family on reuse.
func strictProvider(t *testing.T) (*fakeprovider.Provider, string) {
	t.Helper()
	p, err := fakeprovider.New(fakeprovider.Options{AccessTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p.AddClient("fm-client", clientSecret)
	base, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p, base + "/token"
}

// TestReadOnlyStateDirRefusesToStart puts the state directory on a
// read-only bind mount (as root, where chmod would not stop us; chmod 0500
// otherwise): opening the store fails with an error naming the problem, so
// tokend does not start and spends no refresh token.
func TestReadOnlyStateDirRefusesToStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	how := "chmod 0500"
	if os.Geteuid() == 0 {
		how = "read-only bind mount"
		if out, err := exec.Command("mount", "--bind", "-o", "ro", dir, dir).CombinedOutput(); err != nil {
			t.Fatalf("running as root but cannot bind-mount read-only (%v: %s); run as a normal user or with CAP_SYS_ADMIN", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	} else if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	_, err := state.Open(dir, state.Options{})
	if err == nil {
		t.Fatalf("state store opened on a read-only directory (%s)", how)
	}
	if !errors.Is(err, syscall.EROFS) && !errors.Is(err, os.ErrPermission) {
		t.Errorf("error does not carry the cause: %v", err)
	}
	t.Logf("%s: %v", how, err)
}

// TestFullDiskAfterAnswerHoldsTokenAndRetries: the provider rotates, the
// save of the answer fails with ENOSPC; the new refresh token is held in
// memory, no sink is written before it is on disk, the operator sees an
// error naming the credential, and once the disk has room the rotation is
// committed and the provider's live token is the stored one.
func TestFullDiskAfterAnswerHoldsTokenAndRetries(t *testing.T) {
	p, url := strictProvider(t)
	rt := p.IssueRefreshToken("fm-client", "")
	var fs *flakyStore
	r := newRig(t, url, nil, func(s scheduler.Store) scheduler.Store { fs = &flakyStore{Store: s}; return fs }, rt)
	fs.mu.Lock()
	fs.failAfter = 1 // the intent is saved; the answer's save fails
	fs.mu.Unlock()
	if err := r.sched.RefreshNow(credName); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		fs.mu.Lock()
		fails := fs.fails
		fs.mu.Unlock()
		if fails >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the failed save was not retried")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := r.sink(); got != goodAT {
		t.Fatal("a sink was written before the new refresh token was on disk")
	}
	if st := p.Stats(); st.Refreshes != 1 || st.Reuses != 0 {
		t.Fatalf("provider stats %+v: want one refresh and no reuse while the disk is full", st)
	}
	if !loggedMsg(r, "could not be saved") {
		t.Errorf("no error log names %q and the unsaved token; logs %v", credName, messages(r))
	}
	fs.set(false)
	testkit.WaitUntil(t, "the held rotation to be committed", 15*time.Second, func() bool {
		rec, err := fs.Store.Load(t.Context(), credName)
		return err == nil && rec.Generation == 2
	})
	rec, _ := fs.Store.Load(t.Context(), credName)
	if live := p.CurrentRefreshToken("fm-client"); len(live) != 1 || live[0] != rec.RefreshToken.Reveal() {
		t.Fatal("stored refresh token is not the provider's live one")
	}
	testkit.WaitUntil(t, "the sink to get the new token", 15*time.Second, func() bool { return r.sink() != goodAT && r.sink() != "" })
	r.checkNoSecrets(rt)
}

// TestFullDiskBeforeRefreshSpendsNothing: when even the intent cannot be
// saved, the refresh token is not sent to the provider at all.
func TestFullDiskBeforeRefreshSpendsNothing(t *testing.T) {
	p, url := strictProvider(t)
	rt := p.IssueRefreshToken("fm-client", "")
	var fs *flakyStore
	r := newRig(t, url, nil, func(s scheduler.Store) scheduler.Store { fs = &flakyStore{Store: s}; return fs }, rt)
	fs.set(true)
	if err := r.sched.RefreshNow(credName); err != nil {
		t.Fatal(err)
	}
	testkit.WaitUntil(t, "two failed intent saves", 15*time.Second, func() bool {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		return fs.fails >= 2
	})
	if st := p.Stats(); st.TokenRequests != 0 {
		t.Fatalf("%d token requests while the intent could not be saved", st.TokenRequests)
	}
	if !r.logged("storage") {
		t.Errorf("no log line names %q with error_class storage; logs %v", credName, messages(r))
	}
	if r.sink() != goodAT {
		t.Error("the last good token left the sink")
	}
	fs.set(false)
	testkit.WaitUntil(t, "the refresh once the disk has room", 15*time.Second, func() bool {
		rec, err := fs.Store.Load(t.Context(), credName)
		return err == nil && rec.Generation == 2
	})
	r.checkNoSecrets(rt)
}

// TestSinkDirRemovedAtRunTime: the sink's directory disappears; the
// rotation is still committed, the sink write fails and is retried, and
// once the directory is back the sink gets the current token.
func TestSinkDirRemovedAtRunTime(t *testing.T) {
	p, url := strictProvider(t)
	rt := p.IssueRefreshToken("fm-client", "")
	r := newRig(t, url, nil, nil, rt)
	if err := os.RemoveAll(filepath.Dir(r.sinkPath)); err != nil {
		t.Fatal(err)
	}
	if err := r.sched.RefreshNow(credName); err != nil {
		t.Fatal(err)
	}
	testkit.WaitUntil(t, "the rotation to be committed", 15*time.Second, func() bool {
		rec, err := r.store.Load(t.Context(), credName)
		return err == nil && rec.Generation == 2
	})
	testkit.WaitUntil(t, "a sink error naming the credential", 15*time.Second, func() bool { return loggedMsg(r, "sink write failed") })
	if err := os.MkdirAll(filepath.Dir(r.sinkPath), 0o700); err != nil {
		t.Fatal(err)
	}
	rec, _ := r.store.Load(t.Context(), credName)
	testkit.WaitUntil(t, "the sink retry to deliver the new token", 15*time.Second, func() bool { return r.sink() == rec.AccessToken.Reveal() })
	if st := p.Stats(); st.Refreshes != 1 || st.Reuses != 0 {
		t.Fatalf("provider stats %+v: the sink failure must not cause another refresh", st)
	}
	r.checkNoSecrets(rt, rec.AccessToken.Reveal(), rec.RefreshToken.Reveal())
}

// loggedMsg reports whether an entry naming the credential contains msg.
func loggedMsg(r *rig, msg string) bool {
	for _, e := range r.logs.All() {
		if e.ContextMap()["credential"] == credName && strings.Contains(e.Message, msg) {
			return true
		}
	}
	return false
}

// TestSinkOnFullFilesystem puts the sink directory on a real 64 KiB tmpfs and
// fills it: the write fails with ENOSPC (no flaky wrapper), the rotation is
// still committed, the old token stays readable in the sink, and once space
// is freed the retry delivers the new token without another refresh.
func TestSinkOnFullFilesystem(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts a tmpfs and needs root (CI and the project's machines run as root)")
	}
	p, url := strictProvider(t)
	rt := p.IssueRefreshToken("fm-client", "")
	r := newRig(t, url, nil, nil, rt)
	dir := filepath.Dir(r.sinkPath)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tokend-full", dir).CombinedOutput(); err != nil {
		t.Fatalf("mounting a tmpfs on %s: %v: %s", dir, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	if err := os.WriteFile(r.sinkPath, []byte(goodAT), 0o600); err != nil { // the last good token, on the small fs
		t.Fatal(err)
	}
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for { // fill every block
		if _, err := f.Write(make([]byte, 4096)); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the tmpfs: %v", err)
			}
			break
		}
	}
	_ = f.Close()
	if err := r.sched.RefreshNow(credName); err != nil {
		t.Fatal(err)
	}
	testkit.WaitUntil(t, "the rotation to be committed", 15*time.Second, func() bool {
		rec, err := r.store.Load(t.Context(), credName)
		return err == nil && rec.Generation == 2
	})
	testkit.WaitUntil(t, "an ENOSPC sink error naming the credential", 15*time.Second, func() bool {
		for _, e := range r.logs.All() {
			if e.ContextMap()["credential"] == credName && strings.Contains(e.Message, "sink write failed") &&
				strings.Contains(e.ContextMap()["error"].(string), "no space left") {
				return true
			}
		}
		return false
	})
	if got := r.sink(); got != goodAT {
		t.Fatalf("the sink lost the last good token while the disk was full")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	rec, _ := r.store.Load(t.Context(), credName)
	testkit.WaitUntil(t, "the sink retry to deliver the new token", 15*time.Second, func() bool { return r.sink() == rec.AccessToken.Reveal() })
	if st := p.Stats(); st.Refreshes != 1 || st.Reuses != 0 {
		t.Fatalf("provider stats %+v: a full sink disk must not cause another refresh", st)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("temp files left behind on the full filesystem: %d entries", len(entries))
	}
}
