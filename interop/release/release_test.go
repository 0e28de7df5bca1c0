package release

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/tokend/tokend/interop/livedaemon"
)

const version = "v1.2.3"

// releaseOnce runs scripts/release once into a temporary directory and
// returns that directory and the files it printed.
func release(t *testing.T) (string, []string) {
	t.Helper()
	dist := t.TempDir()
	cmd := exec.Command(filepath.Join(livedaemon.RepoRoot(t), "scripts", "release"), version)
	cmd.Env = append(os.Environ(), "TOKEND_DIST="+dist, "TOKEND_ALLOW_DIRTY=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/release: %v\n%s", err, stderr.String())
	}
	return dist, strings.Fields(string(out))
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

func TestReleaseArtifacts(t *testing.T) {
	root := livedaemon.RepoRoot(t)
	dist, files := release(t)
	want := []string{"tokend_v1.2.3_linux_amd64", "tokend_1.2.3-1_amd64.deb", "tokend_v1.2.3_linux_arm64", "tokend_1.2.3-1_arm64.deb", "SHA256SUMS"}
	if strings.Join(files, " ") != strings.Join(want, " ") {
		t.Fatalf("release printed %v, want %v", files, want)
	}
	head := strings.TrimSpace(run(t, "git", "-C", root, "rev-parse", "HEAD"))

	// SHA256SUMS covers every artifact with the right digest.
	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(sums)), "\n")
	if len(lines) != 4 {
		t.Fatalf("SHA256SUMS:\n%s", sums)
	}
	for i, l := range lines {
		sum, name, _ := strings.Cut(l, "  ")
		b, err := os.ReadFile(filepath.Join(dist, name))
		if err != nil {
			t.Fatal(err)
		}
		if d := sha256.Sum256(b); name != want[i] || sum != hex.EncodeToString(d[:]) {
			t.Errorf("SHA256SUMS line %q: digest of %s is %x", l, name, d)
		}
	}

	// Static binaries of the right architecture: no interpreter, no shared libraries.
	for arch, machine := range map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64} {
		f, err := elf.Open(filepath.Join(dist, "tokend_v1.2.3_linux_"+arch))
		if err != nil {
			t.Fatal(err)
		}
		libs, _ := f.ImportedLibraries()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s binary has an interpreter: not static", arch)
			}
		}
		if f.Machine != machine || len(libs) != 0 {
			t.Errorf("%s binary: machine %v, libraries %v", arch, f.Machine, libs)
		}
		f.Close()
	}
	got := run(t, filepath.Join(dist, "tokend_v1.2.3_linux_amd64"), "version")
	if !strings.HasPrefix(got, "tokend v1.2.3 (revision "+head) {
		t.Errorf("tokend version: %q, want v1.2.3 and commit %s", got, head)
	}

	checkDeb(t, root, dist, "amd64")
	checkDebArch(t, dist, "arm64")
}

// checkDebArch checks the arm64 package's control data and binary.
func checkDebArch(t *testing.T, dist, arch string) {
	deb := filepath.Join(dist, "tokend_1.2.3-1_"+arch+".deb")
	if a := strings.TrimSpace(run(t, "dpkg-deb", "-f", deb, "Architecture")); a != arch {
		t.Errorf("%s: Architecture %q", deb, a)
	}
	x := t.TempDir()
	run(t, "dpkg-deb", "-x", deb, x)
	if f, err := elf.Open(filepath.Join(x, "usr/bin/tokend")); err != nil || f.Machine != elf.EM_AARCH64 {
		t.Errorf("%s: /usr/bin/tokend is not the arm64 binary: %v", deb, err)
	}
}

func checkDeb(t *testing.T, root, dist, arch string) {
	deb := filepath.Join(dist, "tokend_1.2.3-1_"+arch+".deb")
	info := run(t, "dpkg-deb", "-I", deb)
	for _, want := range []string{"Package: tokend", "Version: 1.2.3-1", "Architecture: amd64", "Depends: systemd | systemd-standalone-sysusers",
		"conffiles", "postinst", "prerm", "postrm", "Homepage: https://github.com/tokend/tokend"} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb -I lacks %q:\n%s", want, info)
		}
	}
	if c := strings.TrimSpace(run(t, "dpkg-deb", "-I", deb, "conffiles")); c != "/etc/tokend/tokend.toml" {
		t.Errorf("conffiles %q, want only the example config", c)
	}
	if p := run(t, "dpkg-deb", "-I", deb, "postinst"); !strings.Contains(p, `systemd-sysusers ${DPKG_ROOT:+--root="$DPKG_ROOT"} "$DPKG_ROOT/usr/lib/sysusers.d/tokend.conf"`) {
		t.Errorf("postinst does not run systemd-sysusers:\n%s", p)
	}

	// Files and modes: dpkg-deb -c lines are "MODE OWNER SIZE DATE TIME ./PATH".
	modes := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(run(t, "dpkg-deb", "-c", deb)), "\n") {
		f := strings.Fields(l)
		if len(f) >= 6 && !strings.HasPrefix(f[0], "d") {
			modes[strings.TrimPrefix(f[5], ".")] = f[0] + " " + f[1]
		}
	}
	wantModes := map[string]string{
		"/usr/bin/tokend":                        "-rwxr-xr-x root/root",
		"/usr/lib/systemd/system/tokend.service": "-rw-r--r-- root/root",
		"/usr/lib/sysusers.d/tokend.conf":        "-rw-r--r-- root/root",
		"/etc/tokend/tokend.toml":                "-rw-r--r-- root/root",
		"/usr/share/doc/tokend/copyright":        "-rw-r--r-- root/root",
	}
	for p, m := range wantModes {
		if modes[p] != m {
			t.Errorf("%s: %q, want %q", p, modes[p], m)
		}
	}
	if len(modes) != len(wantModes) {
		t.Errorf("files in the package: %v", modes)
	}

	// Contents: the binary, the unit pointing at it, the example config.
	x := t.TempDir()
	run(t, "dpkg-deb", "-x", deb, x)
	same := func(got, want string) {
		a, err1 := os.ReadFile(filepath.Join(x, got))
		b, err2 := os.ReadFile(want)
		if err1 != nil || err2 != nil || string(a) != string(b) {
			t.Errorf("%s in the package differs from %s (%v %v)", got, want, err1, err2)
		}
	}
	same("usr/bin/tokend", filepath.Join(dist, "tokend_v1.2.3_linux_amd64"))
	same("etc/tokend/tokend.toml", filepath.Join(root, "tokend.toml"))
	same("usr/lib/sysusers.d/tokend.conf", filepath.Join(root, "systemd", "tokend.sysusers"))
	unit, err := os.ReadFile(filepath.Join(x, "usr/lib/systemd/system/tokend.service"))
	if err != nil || !regexp.MustCompile(`(?m)^ExecStart=/usr/bin/tokend run --config /etc/tokend/tokend.toml$`).Match(unit) || strings.Contains(string(unit), "/usr/local/bin") {
		t.Errorf("packaged unit does not run /usr/bin/tokend: %v", err)
	}

	// A real install into a throwaway root: dpkg unpacks, records the
	// conffile, and the postinst creates the tokend user in that root.
	dr := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "etc"} {
		if err := os.MkdirAll(filepath.Join(dr, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dr, "var/lib/dpkg/status"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "dpkg", "--root="+dr, "--force-script-chrootless", "--force-not-root", "--force-depends", "--log=/dev/null", "-i", deb)
	passwd, err := os.ReadFile(filepath.Join(dr, "etc/passwd"))
	if err != nil || !regexp.MustCompile(`(?m)^tokend:x:\d+:\d+:[^:]*:/var/lib/tokend:/usr/sbin/nologin$`).Match(passwd) {
		t.Errorf("postinst did not create the tokend user in the root: %v\n%s", err, passwd)
	}
	// First install: /etc/tokend and the config are root:tokend 0750 and 0640.
	gid := regexp.MustCompile(`(?m)^tokend:x:(\d+):`).FindSubmatch(mustRead(t, filepath.Join(dr, "etc/group")))
	for p, mode := range map[string]os.FileMode{"etc/tokend": 0o750 | os.ModeDir, "etc/tokend/tokend.toml": 0o640} {
		fi, err := os.Stat(filepath.Join(dr, p))
		if err != nil || gid == nil || fi.Mode() != mode || fmt.Sprint(fi.Sys().(*syscall.Stat_t).Gid) != string(gid[1]) {
			t.Errorf("/%s after install: %v %v, want mode %v group tokend (%s)", p, fi.Mode(), err, mode, gid)
		}
	}
	status := run(t, "dpkg", "--root="+dr, "-s", "tokend")
	if !strings.Contains(status, "Status: install ok installed") || !strings.Contains(status, "/etc/tokend/tokend.toml ") {
		t.Errorf("dpkg -s after the install:\n%s", status)
	}
	if fi, err := os.Stat(filepath.Join(dr, "usr/bin/tokend")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("installed binary: %v %v", fi, err)
	}
	// Removal keeps the conffile (purge removes it), as Debian expects.
	run(t, "dpkg", "--root="+dr, "--force-script-chrootless", "--force-not-root", "--log=/dev/null", "-r", "tokend")
	if _, err := os.Stat(filepath.Join(dr, "usr/bin/tokend")); !os.IsNotExist(err) {
		t.Errorf("binary left after dpkg -r: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dr, "etc/tokend/tokend.toml")); err != nil {
		t.Errorf("conffile removed by dpkg -r: %v", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
