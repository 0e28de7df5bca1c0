package status

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/state"
)

// node is an element of a parsed page: its tag, attributes, text and children.
type node struct {
	tag   string
	attrs map[string]string
	text  strings.Builder
	kids  []*node
}

// parseHTML parses body with encoding/xml in its lenient HTML mode (void
// elements auto-closed, HTML entities known): a page that is not well-formed
// fails the test.
func parseHTML(t *testing.T, body []byte) *node {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(strings.TrimPrefix(string(body), "<!doctype html>")))
	d.Strict, d.AutoClose, d.Entity = false, xml.HTMLAutoClose, xml.HTMLEntity
	root := &node{tag: "#root"}
	stack := []*node{root}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("parsing the page: %v\n%s", err, body)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			n := &node{tag: tk.Name.Local, attrs: map[string]string{}}
			for _, a := range tk.Attr {
				n.attrs[a.Name.Local] = a.Value
			}
			top := stack[len(stack)-1]
			top.kids = append(top.kids, n)
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			for _, n := range stack {
				n.text.Write(tk)
			}
		}
	}
	if len(stack) != 1 {
		t.Fatalf("the page leaves %d elements open", len(stack)-1)
	}
	return root
}

// find returns every element under n (depth first) for which match is true.
func (n *node) find(match func(*node) bool) []*node {
	var out []*node
	for _, k := range n.kids {
		if match(k) {
			out = append(out, k)
		}
		out = append(out, k.find(match)...)
	}
	return out
}

func hasClass(class string) func(*node) bool {
	return func(n *node) bool { return slices.Contains(strings.Fields(n.attrs["class"]), class) }
}

func pageBackend() *fakeBackend {
	b := healthyBackend()
	b.sts[0].LastSuccess = testNow.Add(-20 * time.Minute) // app: issued 20m ago, refresh in 40m, expires in 1h
	b.sts = append(b.sts,
		scheduler.CredentialStatus{Name: "legacy", Status: state.StatusNeedsReauth, Generation: 4, TokenFP: "ffee0011", Attempt: 1,
			LastError: &state.ErrorInfo{Class: "permanent", Code: "invalid_grant", Description: "refresh token revoked", At: testNow.Add(-time.Minute)},
			Sinks:     []scheduler.SinkStatus{{Name: "env:/run/tokend/legacy.env", OK: false, LastError: "permission denied"}}},
		scheduler.CredentialStatus{Name: "fresh", Status: state.StatusPending})
	return b
}

func getPage(t *testing.T, base string) (http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %d %s", resp.StatusCode, body)
	}
	return resp.Header, body
}

func TestStatusPageRowsOrderedWithReauthCommandAndTimeline(t *testing.T) {
	ts := startServer(t, "127.0.0.1:0", pageBackend())
	h, body := getPage(t, "http://"+ts.srv.Addr())
	if ct := h.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Fatalf("Content-Security-Policy %q: the page must load nothing and run no script", csp)
	}
	if strings.Contains(string(body), "ZgotmplZ") || strings.Contains(string(body), "<script") {
		t.Fatalf("page has a rejected template value or a script:\n%s", body)
	}
	doc := parseHTML(t, body)
	if ext := doc.find(func(n *node) bool { return n.attrs["src"] != "" || (n.tag == "link" && n.attrs["href"] != "") }); len(ext) != 0 {
		t.Fatalf("page loads external assets: %v", ext[0].attrs)
	}
	rows := doc.find(func(n *node) bool { return n.tag == "tr" && n.attrs["data-credential"] != "" })
	var names []string
	for _, r := range rows {
		names = append(names, r.attrs["data-credential"]+"="+r.attrs["data-status"])
	}
	// needs_reauth first, then backoff, then the rest in config order.
	if want := []string{"legacy=needs_reauth", "svc=backoff", "app=ok", "fresh=pending"}; !slices.Equal(names, want) {
		t.Fatalf("rows %v, want %v", names, want)
	}
	legacy, svc, app, fresh := rows[0], rows[1], rows[2], rows[3]
	if cmd := legacy.find(hasClass("reauth")); len(cmd) != 1 || cmd[0].text.String() != "tokend authorize legacy" {
		t.Fatalf("needs_reauth row has no re-authorize command: %q", legacy.text.String())
	}
	if len(app.find(hasClass("reauth"))) != 0 || len(svc.find(hasClass("reauth"))) != 0 {
		t.Fatal("a row that needs no re-authorization shows the command")
	}
	for _, want := range []string{"invalid_grant", "refresh token revoked", "env:/run/tokend/legacy.env"} {
		if !strings.Contains(legacy.text.String(), want) {
			t.Errorf("needs_reauth row lacks %q: %q", want, legacy.text.String())
		}
	}
	if bad := legacy.find(hasClass("bad")); len(bad) != 1 || bad[0].attrs["title"] != "permission denied" {
		t.Errorf("failing sink not marked: %v", bad)
	}
	if a := svc.find(hasClass("attempts")); len(a) != 1 || a[0].text.String() != "2" {
		t.Errorf("svc failed attempts cell: %v", a)
	}
	// app: issued 20m ago, refresh in 40m, expires in 1h (an 80m span): now at 25%, refresh at 75%.
	if fill := app.find(hasClass("fill")); len(fill) != 1 || !strings.Contains(fill[0].attrs["style"], "width: 25.0%") {
		t.Fatalf("app timeline fill: %v", fill)
	}
	if m := app.find(hasClass("refresh")); len(m) != 1 || !strings.Contains(m[0].attrs["style"], "left: 75.0%") {
		t.Fatalf("app next-refresh mark: %v", m)
	}
	if m := app.find(hasClass("now")); len(m) != 1 {
		t.Fatal("app timeline has no now mark")
	}
	if !strings.Contains(app.text.String(), "issued 20m0s ago") || !strings.Contains(app.text.String(), "expires in 1h0m0s") {
		t.Errorf("app times: %q", app.text.String())
	}
	if len(fresh.find(hasClass("none"))) != 1 || len(fresh.find(hasClass("fill"))) != 0 {
		t.Error("a credential with no token yet shows a lifetime")
	}
}

func TestStatusPageEscapesNamesAndErrors(t *testing.T) {
	const evilName = `<script>alert("n")</script>`
	const evilDesc = `<img src=x onerror="alert(1)"> & "quoted"`
	b := &fakeBackend{storeOpen: true, sts: []scheduler.CredentialStatus{{Name: evilName, Status: state.StatusNeedsReauth,
		LastError: &state.ErrorInfo{Class: "permanent", Code: "invalid_grant", Description: evilDesc, At: testNow}}}}
	ts := startServer(t, "127.0.0.1:0", b)
	_, body := getPage(t, "http://"+ts.srv.Addr())
	if strings.Contains(string(body), "<script") || strings.Contains(string(body), "<img") {
		t.Fatalf("unescaped markup in the page:\n%s", body)
	}
	doc := parseHTML(t, body)
	rows := doc.find(func(n *node) bool { return n.tag == "tr" && n.attrs["data-status"] != "" })
	if len(rows) != 1 || rows[0].attrs["data-credential"] != evilName {
		t.Fatalf("rows %v", rows)
	}
	if cmd := rows[0].find(hasClass("reauth")); len(cmd) != 1 || cmd[0].text.String() != "tokend authorize "+evilName {
		t.Fatalf("command %v", cmd)
	}
	if errs := rows[0].find(hasClass("err")); len(errs) != 1 || !strings.Contains(errs[0].text.String(), evilDesc) {
		t.Fatalf("error cell %v", errs)
	}
}

func TestStatusPageShowsOnlyTheSnapshot(t *testing.T) {
	// The page is built from scheduler.CredentialStatus, the JSON API's
	// type: it holds a fingerprint, never a token. The page does not even
	// show the fingerprint, so a page is the JSON API's facts or fewer.
	ts := startServer(t, "127.0.0.1:0", pageBackend())
	_, body := getPage(t, "http://"+ts.srv.Addr())
	for _, st := range ts.b.Snapshot() {
		if !strings.Contains(string(body), `data-credential="`+st.Name+`"`) {
			t.Errorf("credential %s missing", st.Name)
		}
		if strings.Contains(string(body), st.TokenFP) && st.TokenFP != "" {
			t.Errorf("credential %s: the page shows its token fingerprint", st.Name)
		}
	}
	b := &fakeBackend{storeOpen: false}
	ts = startServer(t, "127.0.0.1:0", b)
	_, body = getPage(t, "http://"+ts.srv.Addr())
	doc := parseHTML(t, body)
	if sum := doc.find(func(n *node) bool { return n.attrs["id"] == "summary" }); len(sum) != 1 ||
		!strings.Contains(sum[0].text.String(), "not ready") || !strings.Contains(sum[0].text.String(), "state store closed") {
		t.Fatalf("summary of an empty daemon with a closed store: %v", sum)
	}
	if !strings.Contains(string(body), "no credentials configured") {
		t.Fatal("empty page does not say there are no credentials")
	}
}

func TestTimelineOf(t *testing.T) {
	issued := testNow.Add(-30 * time.Minute)
	cases := []struct {
		name string
		st   scheduler.CredentialStatus
		want Timeline
	}{
		{"no token yet", scheduler.CredentialStatus{}, Timeline{}},
		{"no expiry", scheduler.CredentialStatus{LastSuccess: issued}, Timeline{}},
		{"halfway, refresh ahead", scheduler.CredentialStatus{LastSuccess: issued, ExpiresAt: testNow.Add(30 * time.Minute), NextRefresh: testNow.Add(15 * time.Minute)},
			Timeline{Known: true, NowPct: 50, RefreshPct: 75, HasRefresh: true}},
		{"refresh due", scheduler.CredentialStatus{LastSuccess: issued, ExpiresAt: testNow.Add(30 * time.Minute), NextRefresh: testNow.Add(-time.Minute)},
			Timeline{Known: true, NowPct: 50, RefreshPct: 100 * 29.0 / 60, HasRefresh: true, Due: true}},
		{"expired, clamped", scheduler.CredentialStatus{LastSuccess: issued, ExpiresAt: testNow.Add(-10 * time.Minute)},
			Timeline{Known: true, NowPct: 100, Expired: true}},
	}
	for _, c := range cases {
		if got := timelineOf(c.st, testNow); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestWebProxyServesThePageFromAUnixSocketReadOnly(t *testing.T) {
	ts := startServer(t, "unix:"+filepath.Join(t.TempDir(), "s.sock"), pageBackend())
	if err := ts.client.ServeWeb(context.Background(), "0.0.0.0:0", func(string) {}); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("non-loopback address: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- ts.client.ServeWeb(ctx, "127.0.0.1:0", func(u string) { urls <- u }) }()
	u := <-urls
	base := strings.TrimSuffix(u, "/")
	_, body := getPage(t, base)
	if !strings.Contains(string(body), `data-credential="legacy"`) {
		t.Fatalf("proxied page:\n%s", body)
	}
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"POST", "/v1/reload", http.StatusNotFound},
		{"POST", "/v1/credentials/app/refresh", http.StatusNotFound},
		{"GET", "/metrics", http.StatusNotFound},
		{"POST", "/", http.StatusMethodNotAllowed},
		{"GET", "/v1/credentials", http.StatusOK},
	} {
		req, _ := http.NewRequest(c.method, base+c.path, nil)
		req.Header.Set("Authorization", "Bearer "+ts.admin.Reveal())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("%s %s through the proxy: %d, want %d", c.method, c.path, resp.StatusCode, c.code)
		}
	}
	if ts.b.reloads != 0 || len(ts.b.refreshed) != 0 {
		t.Fatal("the proxy forwarded an admin call")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ServeWeb: %v", err)
	}
}
