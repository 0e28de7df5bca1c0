package statuspage

import (
	"bufio"
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/interop/livedaemon"
)

// chromiumPath asks the project's script for Chromium (it installs Debian's
// package when it is missing).
func chromiumPath(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(livedaemon.RepoRoot(t), "scripts", "chromium"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/chromium: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// serveWeb runs `tokend status --web` and returns the URL it prints.
func serveWeb(t *testing.T, d *livedaemon.Daemon) string {
	t.Helper()
	cmd := exec.Command(d.Bin, "status", "--web", "--config", d.Config)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("tokend status --web printed no URL: %v %s", err, stderr.String())
	}
	for _, f := range strings.Fields(line) {
		if strings.HasPrefix(f, "http://127.0.0.1:") {
			return f
		}
	}
	t.Fatalf("tokend status --web: no loopback URL in %q", line)
	return ""
}

// browser starts headless Chromium with the flags this network needs (no
// background connections) and a fresh profile.
func browser(t *testing.T, execPath string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(execPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(1280, 640),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return ctx
}

func TestStatusPageInHeadlessChromium(t *testing.T) {
	execPath := chromiumPath(t)
	d := livedaemon.Start(t, true)
	url := serveWeb(t, d)
	ctx := browser(t, execPath)

	colorScheme := func(v string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v}}})
			return err
		})
	}
	err := chromedp.Do(ctx, colorScheme("light"), chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`tr[data-credential]`)))
	if err != nil {
		t.Fatalf("loading %s in Chromium: %v\ndaemon log:\n%s", url, err, d.Logs.String())
	}
	title := run(t, ctx, chromedp.Title())
	rows := run(t, ctx, chromedp.Evaluate[[]map[string]string](`[...document.querySelectorAll("tr[data-credential]")].map(r => ({
		name: r.dataset.credential, status: r.dataset.status,
		reauth: (r.querySelector(".reauth") || {}).textContent || "",
		fill: (r.querySelector(".tl .fill") || {style: {}}).style.width || "",
		now: r.querySelector(".tl .now") ? "yes" : "",
		refresh: r.querySelector(".tl .refresh") ? "yes" : "",
		sinks: String(r.querySelectorAll(".sink").length),
		attempts: r.querySelector(".attempts").textContent,
		error: (r.querySelector(".err") || {}).textContent || ""}))`))
	html := run(t, ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	text := run(t, ctx, chromedp.Evaluate[string](`document.body.innerText`))
	lightBG := run(t, ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
	shot := run(t, ctx, chromedp.FullScreenshot(100))
	run(t, ctx, colorScheme("dark"))
	darkBG := run(t, ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))

	if title != "tokend status" {
		t.Errorf("title %q", title)
	}
	if len(rows) != 3 {
		t.Fatalf("rendered rows %v, want the 3 configured credentials", rows)
	}
	// The revoked credential comes first, with the command that fixes it.
	if r := rows[0]; r["name"] != livedaemon.Revoked || r["status"] != string(state.StatusNeedsReauth) ||
		r["reauth"] != "tokend authorize "+livedaemon.Revoked || !strings.Contains(r["error"], "invalid_grant") {
		t.Errorf("first row %v, want %s needs_reauth with its command and the provider's invalid_grant", r, livedaemon.Revoked)
	}
	seen := map[string]map[string]string{}
	for _, r := range rows {
		seen[r["name"]] = r
	}
	for _, name := range []string{livedaemon.Healthy, livedaemon.Service} {
		r := seen[name]
		if r == nil || r["status"] != string(state.StatusOK) || r["fill"] == "" || r["now"] != "yes" || r["refresh"] != "yes" || r["sinks"] != "1" || r["attempts"] != "0" {
			t.Errorf("%s row %v: want ok with a timeline (fill, now and next-refresh marks) and its sink", name, r)
		}
	}
	if lightBG == darkBG || darkBG != "rgb(13, 17, 23)" {
		t.Errorf("prefers-color-scheme: light background %s, dark %s", lightBG, darkBG)
	}
	if leaks := d.Leaks(t, html+"\n"+text); len(leaks) != 0 {
		t.Fatalf("the page's DOM holds secrets: %v", leaks)
	}
	if strings.Contains(html, "<script") || strings.Contains(html, " src=") {
		t.Error("the page has a script or loads an asset")
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil || img.Bounds().Dx() < 1000 || img.Bounds().Dy() < 200 {
		t.Fatalf("screenshot: %v %v", err, img)
	}
	// TOKEND_UPDATE_SCREENSHOT=1 refreshes the README's picture.
	out := filepath.Join(t.TempDir(), "status-page.png")
	if os.Getenv("TOKEND_UPDATE_SCREENSHOT") != "" {
		out = filepath.Join(livedaemon.RepoRoot(t), "docs", "status-page.png")
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %dx%d saved to %s", img.Bounds().Dx(), img.Bounds().Dy(), out)
}

// run runs one browser action and fails the test on error.
func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("Chromium: %v", err)
	}
	return v
}
