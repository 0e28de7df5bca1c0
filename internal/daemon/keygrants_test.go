package daemon

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/fakeprovider"
	"github.com/tokend/tokend/internal/testkit"
)

// TestKeyGrantsThroughTheDaemon runs the three re-minted grants in a real
// daemon against strict fakes: a GitHub App installation token is minted
// again ahead of its expiry and every mint reaches the sink (the old token
// then dies at GitHub); a Google service-account key file yields a token;
// a token exchange presents that Google token (subject_credential) and its
// result reaches its sink. The signing key, the assertions, the app JWTs
// and every minted token appear in no log line, status snapshot or metric.
func TestKeyGrantsThroughTheDaemon(t *testing.T) {
	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	write(t, filepath.Join(dir, "gh.pem"), keyPEM)

	const ttl = 9 * time.Second // tokend re-mints at about two thirds of it
	gh := fakeprovider.NewGitHubApp("42", "Iv1.abc", "7890", key.Public(), ttl, nil)
	ghSrv := httptest.NewServer(gh)
	defer ghSrv.Close()

	google := fakeprovider.NewGoogleSA("robot@p.iam.gserviceaccount.com", "key-id-1", key.Public(), nil)
	gSrv := httptest.NewServer(google)
	defer gSrv.Close()
	google.TokenURI = gSrv.URL + "/token"
	sa, _ := json.Marshal(map[string]string{"type": "service_account", "client_email": "robot@p.iam.gserviceaccount.com",
		"private_key_id": "key-id-1", "private_key": keyPEM, "token_uri": google.TokenURI})
	write(t, filepath.Join(dir, "sa.json"), string(sa))

	sts := &fakeprovider.STS{Audience: "api://backend", TTL: 3600, Valid: func(subject, typ string) bool {
		return typ == "urn:ietf:params:oauth:token-type:access_token" && slices.Contains(google.Issued(), subject)
	}}
	stsSrv := httptest.NewServer(sts)
	defer stsSrv.Close()

	toml := fmt.Sprintf(`[state]
dir = %[1]q
[scheduler]
shutdown_grace = "5s"

[[credential]]
name = "gh"
provider = "github-app"
app_id = "42"
installation_id = "7890"
private_key_file = %[2]q
api_url = %[3]q
repositories = ["infra"]
  [[credential.sink]]
  type = "file"
  path = %[4]q

[[credential]]
name = "gcp"
provider = "google-service-account"
service_account_file = %[5]q
  [[credential.sink]]
  type = "file"
  path = %[6]q

[[credential]]
name = "sts"
grant = "token_exchange"
token_url = %[7]q
auth_style = "none"
client_id = "backend-client"
subject_credential = "gcp"
audience = "api://backend"
  [[credential.sink]]
  type = "file"
  path = %[8]q
`, filepath.Join(dir, "state"), filepath.Join(dir, "gh.pem"), ghSrv.URL, filepath.Join(dir, "gh.token"),
		filepath.Join(dir, "sa.json"), filepath.Join(dir, "gcp.token"), stsSrv.URL+"/token", filepath.Join(dir, "sts.token"))
	e := &e2e{dir: dir, cfgFn: filepath.Join(dir, "tokend.toml")}
	write(t, e.cfgFn, toml)
	d, logs, stop := e.start(t)

	sink := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(dir, name+".token"))
		return strings.TrimSpace(string(b))
	}
	testkit.WaitUntil(t, "the first installation token in the sink", 10*time.Second, func() bool {
		m := gh.Minted()
		return len(m) == 1 && sink("gh") == m[0]
	})
	first := gh.Minted()[0]
	testkit.WaitUntil(t, "a second installation token in the sink", 3*ttl, func() bool {
		m := gh.Minted()
		return len(m) >= 2 && sink("gh") == m[len(m)-1]
	})
	second := gh.Minted()[1]
	if !gh.MintedAt(second).Before(gh.Expiry(first)) {
		t.Errorf("second token minted at %v, after the first expired at %v", gh.MintedAt(second), gh.Expiry(first))
	}
	api := func(tok string) int {
		req, _ := http.NewRequest(http.MethodGet, ghSrv.URL+"/installation/repositories", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	testkit.WaitUntil(t, "the first token to expire at GitHub", 2*ttl, func() bool { return time.Now().After(gh.Expiry(first)) })
	if api(first) != http.StatusUnauthorized || api(sink("gh")) != http.StatusOK {
		t.Error("after expiry the old token must be refused and the sink's accepted")
	}
	if body := gh.Bodies()[0]; fmt.Sprint(body["repositories"]) != "[infra]" {
		t.Errorf("mint body %v", body)
	}

	testkit.WaitUntil(t, "the exchanged token in its sink", 15*time.Second, func() bool {
		is := sts.Issued()
		return len(is) > 0 && sink("sts") == is[len(is)-1]
	})
	if subj := sts.Subjects()[0]; subj != sink("gcp") || !slices.Contains(google.Issued(), subj) {
		t.Errorf("token exchange presented %q…, not the Google credential's token", subj[:min(8, len(subj))])
	}
	if !strings.Contains(logs.String(), `"credential":"sts","status":"ok"`) || !strings.Contains(logs.String(), `"issued_token_type":"urn:ietf:params:oauth:token-type:access_token"`) {
		t.Error("the exchange's issued_token_type is not in its refreshed line")
	}
	if r := append(google.Rejected(), sts.Rejected()...); len(r) != 0 {
		t.Errorf("strict fakes refused: %v", r)
	}

	// The secret scan: logs, the status snapshot, the metrics.
	rec := httptest.NewRecorder()
	d.Metrics().Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	status, _ := json.Marshal(d.Snapshot())
	stop()
	seen := logs.String() + "\n" + string(status) + "\n" + rec.Body.String()
	if !strings.Contains(seen, `"gh"`) || !strings.Contains(rec.Body.String(), "tokend_") {
		t.Fatal("the scan has nothing to look at")
	}
	pemLines := strings.Split(keyPEM, "\n") // the service-account key holds the same PEM
	secrets := map[string][]string{"key": {pemLines[1], pemLines[12]}}
	secrets["app JWT"], secrets["assertion"] = gh.AppJWTs(), google.Assertions()
	secrets["minted token"] = slices.Concat(gh.Minted(), google.Issued(), sts.Issued())
	for what, vals := range secrets {
		for _, v := range vals {
			if v != "" && strings.Contains(seen, v) {
				t.Errorf("a %s appears in the logs, status or metrics", what)
			}
		}
	}
}
