package daemon

import (
	"net/http"

	"github.com/tokend/tokend/internal/atomicfile"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/sinks/envfile"
)

// buildCache is what credentials built from one config share: one env-file
// per path (all its variables are written through one *envfile.File), one
// directory check per sink directory (not one probe file per sink: 10,000
// sinks in one directory took 2 s at start-up), one directory-fsync group
// (file sinks written at once into one directory share its fsync), and one
// HTTP client, so
// connections to a provider are pooled across its credentials instead of
// one transport and idle connection per credential.
type buildCache struct {
	files map[string]*envfile.File
	dirs  map[string]error
	http  *http.Client

	dirSync *atomicfile.DirSyncer
}

// newBuildCache sizes the shared connection pool to the scheduler's
// concurrency: that many refreshes may talk to one provider at once.
func newBuildCache(cfg *config.Config) *buildCache {
	return &buildCache{files: map[string]*envfile.File{}, dirs: map[string]error{},
		http:    grants.NewHTTPClient(max(cfg.Scheduler.MaxConcurrent, config.DefaultMaxConcurrent)),
		dirSync: atomicfile.NewDirSyncer()}
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
