package daemon

import (
	"net/http"

	"github.com/tokend/tokend/internal/atomicfile"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/sinks/envfile"
)

// buildCache is what credentials built from one config share: one env-file
// per path (all its variables are written through one *envfile.File, the
// daemon's across reloads: envfiles.go), one
// directory check per sink directory (not one probe file per sink: 10,000
// sinks in one directory took 2 s at start-up), one directory-fsync group
// (file sinks written at once into one directory share its fsync), and one
// HTTP client, so
// connections to a provider are pooled across its credentials instead of
// one transport and idle connection per credential.
type buildCache struct {
	files map[string]*envfile.File
	vars  map[string][]string // env-file path -> variables registered by this build
	dirs  map[string]error
	http  *http.Client

	dirSync   *atomicfile.DirSyncer
	fileSlots chan struct{} // bounds file-sink writes in flight (fileWriteSlots)
}

// fileWriteSlots bounds the file-sink writes in flight across the daemon
// (file.Options.Slots). A write blocked in fsync holds an OS thread, and Go
// never lets a thread go: writing 10,000 sinks at start-up through 256
// workers left 260 threads and 9 MiB of their stacks resident (RSS 61-62
// MiB against 52-53 with this bound). More writers did not write faster: on
// ext4, 4 to 256 of them wrote the same 1,500-3,000 durable files/s, with or
// without the shared directory fsync.
const fileWriteSlots = 16

// newBuildCache sizes the shared connection pool to the scheduler's
// concurrency: that many refreshes may talk to one provider at once.
func newBuildCache(cfg *config.Config) *buildCache {
	return &buildCache{files: map[string]*envfile.File{}, vars: map[string][]string{}, dirs: map[string]error{},
		http:    grants.NewHTTPClient(max(cfg.Scheduler.MaxConcurrent, config.DefaultMaxConcurrent)),
		dirSync: atomicfile.NewDirSyncer(), fileSlots: make(chan struct{}, fileWriteSlots)}
}

// checkDir runs atomicfile.CheckDirWritable once per directory. Credentials
// are built sequentially, so no lock is needed.
func (b *buildCache) checkDir(dir string) error {
	if err, ok := b.dirs[dir]; ok {
		return err
	}
	err := atomicfile.CheckDirWritable(dir)
	b.dirs[dir] = err
	return err
}
