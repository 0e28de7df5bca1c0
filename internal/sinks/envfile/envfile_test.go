package envfile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/sinks"
)

func tok(cred, value string) sinks.Token {
	return sinks.Token{Credential: cred, AccessToken: secret.New(value), TokenType: "Bearer"}
}

func open(t *testing.T, path string, mode fs.FileMode) *File {
	t.Helper()
	f, err := Open(path, mode)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func sink(t *testing.T, f *File, name string) *Sink {
	t.Helper()
	s, err := f.Sink(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// writeValues writes each value through its sink (sink, value, sink, value...).
func writeValues(t *testing.T, pairs ...any) {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := pairs[i].(*Sink).Write(t.Context(), tok("c", pairs[i+1].(string))); err != nil {
			t.Fatal(err)
		}
	}
}

// readVars parses the env-file at path.
func readVars(t *testing.T, path string) map[string]string {
	t.Helper()
	vars, err := Parse([]byte(read(t, path)))
	if err != nil {
		t.Fatal(err)
	}
	return vars
}

// TestRetain drops the variables a reload no longer writes: their lines go
// with the next write, their old sinks fail, and the kept ones are untouched.
func TestRetain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.env")
	f := open(t, path, 0)
	a, b := sink(t, f, "A"), sink(t, f, "B")
	writeValues(t, a, "tok-a", b, "tok-b")
	f.Retain([]string{"A", "NOT_REGISTERED"})
	if err := a.Write(t.Context(), tok("c", "tok-a2")); err != nil {
		t.Fatal(err)
	}
	if got := readVars(t, path); len(got) != 1 || got["A"] != "tok-a2" {
		t.Fatalf("file after Retain(A) and a write = %v; want only A=tok-a2", got)
	}
	if err := b.Write(t.Context(), tok("c", "tok-b2")); err == nil || !strings.Contains(err.Error(), "B is not registered") {
		t.Fatalf("write through a dropped variable's sink: err = %v", err)
	}
	if strings.Contains(read(t, path), "tok-b") {
		t.Fatal("dropped variable's value still in the file")
	}
}

func TestWriteSharedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.env")
	f := open(t, path, 0)
	if f.Path() != path {
		t.Errorf("Path() = %q, want %q", f.Path(), path)
	}
	gh := sink(t, f, "GITHUB_TOKEN")
	api := sink(t, f, "API_TOKEN")
	if got, want := gh.String(), "envfile:"+path+":GITHUB_TOKEN"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	ctx := context.Background()
	if err := gh.Write(ctx, tok("github", "gho_abc.DEF-1")); err != nil {
		t.Fatal(err)
	}
	// A variable with no value yet is not written.
	if got, want := read(t, path), Header+"\nGITHUB_TOKEN=gho_abc.DEF-1\n"; got != want {
		t.Errorf("after first write:\n got %q\nwant %q", got, want)
	}
	if err := api.Write(ctx, tok("api", " spaced")); err != nil {
		t.Fatal(err)
	}
	want := Header + "\nAPI_TOKEN=\" spaced\"\nGITHUB_TOKEN=gho_abc.DEF-1\n"
	if got := read(t, path); got != want {
		t.Errorf("after second write:\n got %q\nwant %q", got, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
}

func TestOpenMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.env")
	f := open(t, path, 0o640)
	if err := sink(t, f, "T").Write(context.Background(), tok("c", "v")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode = %v, want 0640", fi.Mode().Perm())
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.env")
	if err := os.WriteFile(bad, []byte("A=\xff\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		mode       fs.FileMode
		want       string
	}{
		{"empty path", "", 0, "env-file: path is required"},
		{"missing dir", filepath.Join(dir, "nope", "x.env"), 0, "directory " + filepath.Join(dir, "nope") + " does not exist"},
		{"dir is a file", filepath.Join(plain, "x.env"), 0, plain + " is not a directory"},
		{"path is a dir", dir, 0, dir + ": path is a directory"},
		{"bad mode", filepath.Join(dir, "x.env"), fs.ModeSticky | 0o600, "bits other than permissions"},
		{"unparsable file", bad, 0, "parsing existing file: line 1: invalid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(tt.path, tt.mode)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestSinkRegistration(t *testing.T) {
	f := open(t, filepath.Join(t.TempDir(), "x.env"), 0)
	s1 := sink(t, f, "A_1")
	if err := s1.Write(t.Context(), sinks.Token{Credential: "a", AccessToken: secret.New("tok-5"), Generation: 5}); err != nil {
		t.Fatal(err)
	}
	// A second registration (a reload) shares the variable, its value and
	// its generation: an older token through the new sink changes nothing.
	s2 := sink(t, f, "A_1")
	if err := s2.Write(t.Context(), sinks.Token{Credential: "a", AccessToken: secret.New("tok-4"), Generation: 4}); err != nil {
		t.Fatal(err)
	}
	if got := readVars(t, f.Path())["A_1"]; got != "tok-5" {
		t.Errorf("A_1 = %q after an older write through the second sink; want tok-5", got)
	}
	for _, name := range []string{"", "1A", "A-B", "A B", "A=B", "Ä"} {
		if _, err := f.Sink(name); err == nil || !strings.Contains(err.Error(), "invalid variable name") {
			t.Errorf("Sink(%q): err = %v, want invalid name", name, err)
		}
	}
}

// TestOpenKeepsManagedValues simulates a restart: values of registered
// variables survive until their credential writes; unmanaged lines and
// unwritable values are dropped at the first write.
func TestOpenKeepsManagedValues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.env")
	old := Header + "\nA=old-a\nB=\"old b \"\nC='multi\nline'\nUNMANAGED=x\n"
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	f := open(t, path, 0)
	if got := read(t, path); got != old {
		t.Errorf("Open changed the file to %q", got)
	}
	a := sink(t, f, "A")
	sink(t, f, "B")
	sink(t, f, "C") // its old value has a newline and cannot be written back
	sink(t, f, "D") // not in the file
	if err := a.Write(context.Background(), tok("a", "new-a")); err != nil {
		t.Fatal(err)
	}
	want := Header + "\nA=new-a\nB=\"old b \"\n"
	if got := read(t, path); got != want {
		t.Errorf("after restart and one write:\n got %q\nwant %q", got, want)
	}
}

func TestWriteRefusals(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.env")
	f := open(t, path, 0)
	s := sink(t, f, "TOKEN")
	ctx := context.Background()
	if err := s.Write(ctx, tok("cred", "good")); err != nil {
		t.Fatal(err)
	}
	before := read(t, path)

	err := s.Write(ctx, tok("cred", "SECRET\nINJECTED=1"))
	if err == nil || !strings.Contains(err.Error(), "variable TOKEN: value contains a newline") {
		t.Errorf("newline value: err = %v", err)
	} else if strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), `"cred"`) {
		t.Errorf("error %q must name the credential and not leak the value", err)
	}
	if err := s.Write(ctx, tok("cred", "")); err == nil || !strings.Contains(err.Error(), "empty access token") {
		t.Errorf("empty value: err = %v", err)
	}
	if got := read(t, path); got != before {
		t.Errorf("refused writes changed the file to %q", got)
	}
	// A refused value is not kept: the next write of another variable works.
	other := sink(t, f, "OTHER")
	if err := other.Write(ctx, tok("o", "o")); err != nil {
		t.Fatalf("write after a refusal: %v", err)
	}

	if err := f.SetMany(ctx, map[string]secret.Secret{"UNKNOWN": secret.New("x")}); err == nil ||
		!strings.Contains(err.Error(), "UNKNOWN is not registered") {
		t.Errorf("SetMany unregistered: err = %v", err)
	}
}

func TestWriteHonoursContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.env")
	f := open(t, path, 0)
	s := sink(t, f, "TOKEN")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Write(ctx, tok("c", "v")); !errors.Is(err, context.Canceled) {
		t.Errorf("Write with cancelled ctx = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file written despite cancelled ctx (stat: %v)", err)
	}
}

// TestFailedWriteKeepsValue: when the disk write fails, the new value is
// kept and published by the next successful write of any variable.
func TestFailedWriteKeepsValue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.env")
	f := open(t, path, 0)
	a, b := sink(t, f, "A"), sink(t, f, "B")
	// A non-empty directory in the file's place makes the rename fail.
	if err := os.MkdirAll(filepath.Join(path, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	err := a.Write(context.Background(), tok("a", "SECRETA"))
	if err == nil {
		t.Fatal("Write onto a directory succeeded")
	}
	if strings.Contains(err.Error(), "SECRETA") || !strings.Contains(err.Error(), path) {
		t.Errorf("error %q must name the path and not leak the token", err)
	}
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	if err := b.Write(context.Background(), tok("b", "bee")); err != nil {
		t.Fatal(err)
	}
	if got, want := read(t, path), Header+"\nA=SECRETA\nB=bee\n"; got != want {
		t.Errorf("file = %q, want %q", got, want)
	}
}

func TestSetManyWritesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.env")
	f := open(t, path, 0)
	sink(t, f, "B")
	sink(t, f, "A")
	err := f.SetMany(context.Background(), map[string]secret.Secret{
		"A": secret.New("a"), "B": secret.New(`b\`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := read(t, path), Header+"\nA=a\nB=\"b\\\\\"\n"; got != want {
		t.Errorf("SetMany wrote %q, want %q", got, want)
	}
	// One bad value: nothing changes.
	err = f.SetMany(context.Background(), map[string]secret.Secret{
		"A": secret.New("a2"), "B": secret.New("bad\x00"),
	})
	if err == nil {
		t.Fatal("SetMany accepted a NUL")
	}
	got, err := Parse([]byte(read(t, path)))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"A": "a", "B": `b\`}; !maps.Equal(got, want) {
		t.Errorf("after refused SetMany: %q, want %q", got, want)
	}
}

// TestConcurrentWritersBothValuesSurvive has two credentials write the same
// file from separate goroutines; the file must end with both last values.
func TestConcurrentWritersBothValuesSurvive(t *testing.T) {
	const rounds = 20
	path := filepath.Join(t.TempDir(), "app.env")
	f := open(t, path, 0)
	sinksByName := map[string]*Sink{"ONE": sink(t, f, "ONE"), "TWO": sink(t, f, "TWO")}
	var wg sync.WaitGroup
	errs := make(chan error, 2*rounds)
	for name, s := range sinksByName {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				if err := s.Write(context.Background(), tok(name, fmt.Sprintf("%s-%d", name, i))); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := Parse([]byte(read(t, path)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"ONE": fmt.Sprintf("ONE-%d", rounds-1), "TWO": fmt.Sprintf("TWO-%d", rounds-1)}
	if !maps.Equal(got, want) {
		t.Errorf("final file %q, want %q", got, want)
	}
}

// TestReaderNeverSeesPartialFile rewrites a shared file from two writers
// while a reader checks that every read is a complete file: the header, both
// variables, each with one of its complete values. Bounded by counts.
func TestReaderNeverSeesPartialFile(t *testing.T) {
	const rounds = 15
	path := filepath.Join(t.TempDir(), "app.env")
	f := open(t, path, 0)
	names := []string{"ALPHA", "BETA"}
	value := func(name string, i int) string { return fmt.Sprintf("%s.%02d.%s", name, i, strings.Repeat("t", 8000)) }
	valid := map[string]bool{}
	initial := map[string]secret.Secret{}
	handles := map[string]*Sink{}
	for _, n := range names {
		handles[n] = sink(t, f, n)
		initial[n] = secret.New(value(n, 0))
		for i := 0; i < rounds; i++ {
			valid[value(n, i)] = true
		}
	}
	if err := f.SetMany(context.Background(), initial); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(names)*rounds)
	for n, s := range handles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i < rounds; i++ {
				if err := s.Write(context.Background(), tok(n, value(n, i))); err != nil {
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
		data := read(t, path)
		if !strings.HasPrefix(data, Header+"\n") || !strings.HasSuffix(data, "\n") {
			t.Fatalf("read %d: file is not whole (%d bytes)", n, len(data))
		}
		got, err := Parse([]byte(data))
		if err != nil {
			t.Fatalf("read %d: %v", n, err)
		}
		for _, name := range names {
			if !valid[got[name]] {
				t.Fatalf("read %d: %s has a partial or unknown value (%d bytes)", n, name, len(got[name]))
			}
		}
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestReopenSkipsIdenticalRewrite: a File opened on a file that already
// holds every value (a restart) does not rewrite it when the values are set
// again, and writes as soon as one changes.
func TestReopenSkipsIdenticalRewrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.env")
	f := open(t, path, 0)
	a, b := sink(t, f, "A"), sink(t, f, "B")
	writeValues(t, a, "tok-a", b, "tok-b")
	before := read(t, path)
	fi0, _ := os.Stat(path)

	g := open(t, path, 0) // the restarted daemon
	a2, b2 := sink(t, g, "A"), sink(t, g, "B")
	writeValues(t, a2, "tok-a", b2, "tok-b")
	fi1, _ := os.Stat(path)
	if g.Writes() != 0 || !os.SameFile(fi0, fi1) || read(t, path) != before {
		t.Fatalf("identical values rewrote the file (%d writes)", g.Writes())
	}
	if err := a2.Write(t.Context(), tok("c", "tok-a2")); err != nil {
		t.Fatal(err)
	}
	if got := readVars(t, path); g.Writes() != 1 || got["A"] != "tok-a2" || got["B"] != "tok-b" {
		t.Fatalf("after a change: %d writes, file %v", g.Writes(), got)
	}
}
