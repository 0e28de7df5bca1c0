package daemon

import (
	"net/http"

	"github.com/tokend/tokend/internal/atomicfile"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/sinks/envfile"
)

// buildCache is what credentials built from one config share: the env-file
// per path of this build (a File of the sinkShare, so the daemon's across
// reloads), one directory check per sink directory (not one probe file per
// sink: 10,000 sinks in one directory took 2 s at start-up), and one HTTP
// client, so connections to a provider are pooled across its credentials
// instead of one transport and idle connection per credential. What lives
// longer than one build is in share.
type buildCache struct {
	files map[string]*envfile.File
	vars  map[string][]string // env-file path -> variables registered by this build
	dirs  map[string]error
	http  *http.Client
	share *sinkShare
}

// newBuildCache sizes the shared connection pool to the scheduler's
// concurrency: that many refreshes may talk to one provider at once. A nil
// share (a build outside a running daemon) gets one of its own.
func newBuildCache(cfg *config.Config, share *sinkShare) *buildCache {
	if share == nil {
		share = newSinkShare()
	}
	return &buildCache{files: map[string]*envfile.File{}, vars: map[string][]string{}, dirs: map[string]error{},
		http:  grants.NewHTTPClient(max(cfg.Scheduler.MaxConcurrent, config.DefaultMaxConcurrent)),
		share: share}
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
