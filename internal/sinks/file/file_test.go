package file

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/sinks"
)

const tokenValue = "eyJhbGciOi.J9-_~+/=.sig<&>"

func token() sinks.Token {
	return sinks.Token{
		Credential:  "github",
		AccessToken: secret.New(tokenValue),
		TokenType:   "Bearer",
		Scope:       "read write",
		ExpiresAt:   time.Date(2030, 1, 2, 3, 4, 5, 600, time.FixedZone("CET", 3600)),
		Generation:  7,
	}
}

func newSink(t *testing.T, opts Options) *Sink {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteRaw(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	s := newSink(t, Options{Path: path})
	if got, want := s.String(), "file:"+path; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if err := s.Write(context.Background(), token()); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != tokenValue {
		t.Errorf("raw content = %q, want exactly %q", got, tokenValue)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}

	tok := token()
	tok.AccessToken = secret.New("second")
	if err := s.Write(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != "second" {
		t.Errorf("after rewrite content = %q, want %q", got, "second")
	}
}

func TestWriteJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token.json")
	s := newSink(t, Options{Path: path, Format: "json", Mode: 0o640})
	if err := s.Write(context.Background(), token()); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, path)
	want := `{"access_token":"` + tokenValue + `","token_type":"Bearer","expires_at":"2030-01-02T02:04:05Z","scope":"read write"}` + "\n"
	if got != want {
		t.Errorf("json content:\n got %q\nwant %q", got, want)
	}
	var doc map[string]string
	if err := json.Unmarshal([]byte(got), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["access_token"] != tokenValue {
		t.Errorf("decoded access_token = %q", doc["access_token"])
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode = %v, want 0640", fi.Mode().Perm())
	}

	// No expiry and no scope: both keys are omitted, token_type is kept.
	tok := token()
	tok.ExpiresAt = time.Time{}
	tok.Scope = ""
	if err := s.Write(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	want = `{"access_token":"` + tokenValue + `","token_type":"Bearer"}` + "\n"
	if got := readFile(t, path); got != want {
		t.Errorf("json without expiry:\n got %q\nwant %q", got, want)
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"empty path", Options{}, "file sink: path is required"},
		{"bad format", Options{Path: filepath.Join(dir, "t"), Format: "yaml"}, `unknown format "yaml"`},
		{"bad mode", Options{Path: filepath.Join(dir, "t"), Mode: fs.ModeSetuid | 0o600}, "bits other than permissions"},
		{"missing dir", Options{Path: filepath.Join(dir, "nope", "t")}, "directory " + filepath.Join(dir, "nope") + " does not exist"},
		{"dir is a file", Options{Path: filepath.Join(plain, "t")}, plain + " is not a directory"},
		{"path is a dir", Options{Path: sub}, sub + ": path is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.opts)
			if err == nil {
				t.Fatalf("New succeeded: %v", s)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
	// The missing-directory error still unwraps to the cause.
	_, err := New(Options{Path: filepath.Join(dir, "nope", "t")})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing dir error %v does not unwrap to fs.ErrNotExist", err)
	}
}

func TestWriteHonoursCancelledContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	s := newSink(t, Options{Path: path})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Write(ctx, token())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Write with cancelled ctx = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file was written despite the cancelled context (stat: %v)", err)
	}
}

func TestWriteRefusesEmptyToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	s := newSink(t, Options{Path: path})
	if err := s.Write(context.Background(), token()); err != nil {
		t.Fatal(err)
	}
	tok := token()
	tok.AccessToken = secret.Secret{}
	err := s.Write(context.Background(), tok)
	if err == nil || !strings.Contains(err.Error(), "empty access token") || !strings.Contains(err.Error(), `"github"`) {
		t.Fatalf("Write(empty) = %v, want an empty-token error naming the credential", err)
	}
	if got := readFile(t, path); got != tokenValue {
		t.Errorf("file changed to %q after a refused write", got)
	}
}

func TestWriteErrorDoesNotLeakToken(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	s := newSink(t, Options{Path: path})
	// Replace the target with a non-empty directory so the rename fails.
	if err := os.MkdirAll(filepath.Join(path, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	err := s.Write(context.Background(), token())
	if err == nil {
		t.Fatal("Write onto a directory succeeded")
	}
	if strings.Contains(err.Error(), tokenValue) {
		t.Errorf("error leaks the token: %v", err)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"github"`) {
		t.Errorf("error %q should name the path and the credential", err)
	}
}

// TestConcurrentWritesAndReader checks that a reader never sees a partial
// token while writers replace it (bounded by counts, not time).
func TestConcurrentWritesAndReader(t *testing.T) {
	const writers, perWriter = 3, 20
	path := filepath.Join(t.TempDir(), "token")
	s := newSink(t, Options{Path: path})
	value := func(w, i int) string { return fmt.Sprintf("w%d-%03d-%s", w, i, strings.Repeat("x", 4096)) }
	valid := map[string]bool{}
	for w := 0; w < writers; w++ {
		for i := 0; i < perWriter; i++ {
			valid[value(w, i)] = true
		}
	}
	tok := token()
	tok.AccessToken = secret.New(value(0, 0))
	if err := s.Write(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers*perWriter)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				tok := token()
				tok.AccessToken = secret.New(value(w, i))
				if err := s.Write(context.Background(), tok); err != nil {
					errs <- err
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for n, stop := 0, false; !stop && n < 100000; n++ {
		select {
		case <-done:
			stop = true
		default:
		}
		if got := readFile(t, path); !valid[got] {
			t.Fatalf("read %d saw a partial token (%d bytes)", n, len(got))
		}
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// inode identifies the file now at path: an atomic rewrite gives a new one.
func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestFirstWriteSkipsIdenticalFile: a new Sink (a restart, a reload) whose
// first token is already in the file with the right mode leaves the file
// alone; a different token, a different mode or a changed file is written.
func TestFirstWriteSkipsIdenticalFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tok.json")
	ctx := context.Background()
	if err := newSink(t, Options{Path: path, Format: FormatJSON}).Write(ctx, token()); err != nil {
		t.Fatal(err)
	}
	ino := inode(t, path)

	restarted := newSink(t, Options{Path: path, Format: FormatJSON})
	if err := restarted.Write(ctx, token()); err != nil {
		t.Fatal(err)
	}
	if inode(t, path) != ino {
		t.Fatal("an identical first write replaced the file")
	}
	next := token()
	next.AccessToken, next.Generation = secret.New("a-new-token"), 8
	if err := restarted.Write(ctx, next); err != nil {
		t.Fatal(err)
	}
	if inode(t, path) == ino || !strings.Contains(readFile(t, path), "a-new-token") {
		t.Fatal("a new token was not written")
	}

	ino = inode(t, path)
	if err := newSink(t, Options{Path: path, Format: FormatJSON, Mode: 0o640}).Write(ctx, next); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); inode(t, path) == ino || fi.Mode().Perm() != 0o640 {
		t.Fatalf("a changed mode was not applied (mode %v)", fi.Mode().Perm())
	}

	if err := os.WriteFile(path, []byte("edited by hand"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := newSink(t, Options{Path: path, Format: FormatJSON, Mode: 0o640}).Write(ctx, next); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(readFile(t, path), "a-new-token") {
		t.Fatal("a file changed by hand was not rewritten")
	}
}

// TestWriteJSONExtraFields: the kept response fields appear under
// extra_fields (map keys sorted by encoding/json), and only in json format.
func TestWriteJSONExtraFields(t *testing.T) {
	dir := t.TempDir()
	tok := token()
	tok.Extra = map[string]string{"instance_url": "https://acme.my.salesforce.com", "id_token": "eyJ.eyJ.sig"}
	path := filepath.Join(dir, "token.json")
	if err := newSink(t, Options{Path: path, Format: FormatJSON}).Write(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	want := `{"access_token":"` + tokenValue + `","token_type":"Bearer","expires_at":"2030-01-02T02:04:05Z","scope":"read write",` +
		`"extra_fields":{"id_token":"eyJ.eyJ.sig","instance_url":"https://acme.my.salesforce.com"}}` + "\n"
	if got := readFile(t, path); got != want {
		t.Errorf("json content:\n got %q\nwant %q", got, want)
	}
	raw := filepath.Join(dir, "token")
	if err := newSink(t, Options{Path: raw}).Write(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, raw); got != tokenValue {
		t.Errorf("raw content = %q, want the access token only", got)
	}
}
