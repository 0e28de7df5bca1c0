package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/testkit"
)

// TestReloadReglobsIncludes: a reload globs the main file's include
// patterns again: a file added to conf.d starts its credentials, a file that
// does not validate is rejected naming itself and its line (the running set
// kept), and a removed file stops its credentials.
func TestReloadReglobsIncludes(t *testing.T) {
	e := newE2E(t, time.Hour)
	e.p.AddClient("new", "new-secret-value")
	e.edit(t, func(s string) string { return "include = \"conf.d/*.toml\"\n" + s })
	d, _, stop := e.start(t)
	defer stop()
	testkit.WaitUntil(t, "both credentials ok", 10*time.Second, allOK(d))

	confd := filepath.Join(e.dir, "conf.d")
	if err := os.Mkdir(confd, 0o700); err != nil {
		t.Fatal(err)
	}
	added := filepath.Join(confd, "new.toml")
	write(t, added, ccCredential("new", "new", e.url+"/token")+fmt.Sprintf("  [[credential.sink]]\n  type = \"file\"\n  path = %q\n", filepath.Join(e.dir, "new.json")))
	if err := d.Reload(context.Background()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got := names(d); got != "app,svc,new" {
		t.Fatalf("credentials after adding conf.d/new.toml: %s", got)
	}
	testkit.WaitUntil(t, "new ok", 10*time.Second, allOK(d))

	bad := filepath.Join(confd, "z.toml")
	write(t, bad, "\n[[credential]]\nname = \"broken\"\n")
	err := d.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), bad+`:2: credential "broken": token_url: is required`) {
		t.Fatalf("reload with a broken included file: %v", err)
	}
	if got := names(d); got != "app,svc,new" {
		t.Fatalf("credentials after a rejected reload: %s", got)
	}

	for _, f := range []string{added, bad} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Reload(context.Background()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got := names(d); got != "app,svc" {
		t.Fatalf("credentials after removing conf.d/new.toml: %s", got)
	}
}
