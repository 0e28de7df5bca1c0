package alerts

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/syncbuf"
	"github.com/tokend/tokend/internal/testkit"
	"github.com/tokend/tokend/interop/livedaemon"
)

// prometheusBin asks the project's script for the Prometheus server.
func prometheusBin(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(livedaemon.RepoRoot(t), "scripts", "prometheus-bin"), "prometheus")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/prometheus-bin prometheus: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// alert is one entry of Prometheus's /api/v1/alerts.
type alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

func alerts(t *testing.T, base string) []alert {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/alerts")
	if err != nil {
		return nil // not up yet
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusServiceUnavailable {
		return nil // starting up
	}
	var body struct {
		Status string `json:"status"`
		Data   struct {
			Alerts []alert `json:"alerts"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Status != "success" {
		t.Fatalf("/api/v1/alerts: %v %q", err, body.Status)
	}
	return body.Data.Alerts
}

func TestPrometheusFiresNeedsReauthForARevokedCredential(t *testing.T) {
	bin := prometheusBin(t)
	d := livedaemon.Start(t, false)
	dir := t.TempDir()

	// The shipped rules, with every `for` shortened so the test needs seconds.
	rules, err := os.ReadFile(filepath.Join(livedaemon.RepoRoot(t), "deploy", "prometheus", "tokend-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	short := regexp.MustCompile(`(?m)^(\s+for: )\S+$`).ReplaceAllString(string(rules), "${1}2s")
	if short == string(rules) {
		t.Fatal("no `for:` found in the rules")
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(short), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yaml]
scrape_configs:
  - job_name: tokend
    static_configs:
      - targets: [%q]
`, d.Listen)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", livedaemon.FreePort(t))
	logs := &syncbuf.Buffer{}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	base := "http://" + addr
	var firing []alert
	testkit.WaitUntil(t, "the needs-reauth alert to fire for "+livedaemon.Revoked, 60*time.Second, func() bool {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("prometheus exited: %v\n%s", err, logs.String())
		default:
		}
		firing = firing[:0]
		for _, a := range alerts(t, base) {
			if a.State == "firing" {
				firing = append(firing, a)
			}
		}
		for _, a := range firing {
			if a.Labels["alertname"] == "TokendCredentialNeedsReauth" && a.Labels["credential"] == livedaemon.Revoked {
				return true
			}
		}
		return false
	})
	for _, a := range firing {
		switch {
		case a.Labels["alertname"] == "TokendCredentialNeedsReauth":
			if a.Labels["credential"] != livedaemon.Revoked || a.Labels["severity"] != "critical" ||
				!strings.Contains(a.Annotations["runbook"], "tokend authorize "+livedaemon.Revoked) {
				t.Errorf("needs-reauth alert %+v", a)
			}
		case a.Labels["alertname"] == "TokendSinkFailing" && a.Labels["credential"] == livedaemon.Revoked:
			// Its sink never received a token: tokend_sink_ok is 0 for it too.
		default:
			t.Errorf("unexpected firing alert %+v", a)
		}
	}
	if leaks := d.Leaks(t, logs.String()); len(leaks) != 0 {
		t.Fatalf("secrets in Prometheus's log: %v", leaks)
	}
}
