// Package statuspage holds no code: its test loads tokend's status page in a
// real headless Chromium (Debian's chromium, installed by scripts/chromium,
// driven over the DevTools protocol with github.com/chromedp/chromedp), from
// a running daemon on a unix socket through `tokend status --web`. It lives
// in the interop module so that chromedp stays out of tokend's go.mod.
package statuspage
