package vaultclient_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/testkit"
	"github.com/tokend/tokend/internal/vaultclient"
	"github.com/tokend/tokend/internal/vaulttest"
)

// signer signs ES256 JWTs with a key generated for the test.
type signer struct{ key *ecdsa.PrivateKey }

func newSigner(t *testing.T) signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{k}
}

// publicPEM is the public key as Vault's jwt_validation_pubkeys takes it.
func (s signer) publicPEM(t *testing.T) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// sign returns a compact JWS (RFC 7515 §7.1) of claims, alg ES256 (r || s).
func (s signer) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	enc := base64.RawURLEncoding
	body, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := enc.EncodeToString([]byte(`{"alg":"ES256","typ":"JWT","kid":"test"}`)) + "." + enc.EncodeToString(body)
	digest := sha256.Sum256([]byte(input))
	r, sv, err := ecdsa.Sign(rand.Reader, s.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := append(r.FillBytes(make([]byte, 32)), sv.FillBytes(make([]byte, 32))...)
	return input + "." + enc.EncodeToString(sig)
}

// saToken is a service-account JWT as the kubelet projects it: legacy and
// current claim shapes, for the service account ns/name.
func saToken(t *testing.T, s signer, ns, name, uid string, serial int) string {
	now := time.Now()
	return s.sign(t, map[string]any{
		"iss": "https://kubernetes.default.svc", "sub": "system:serviceaccount:" + ns + ":" + name, "aud": []string{"vault"},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": fmt.Sprint(serial),
		"kubernetes.io":                                     map[string]any{"namespace": ns, "serviceaccount": map[string]any{"name": name, "uid": uid}},
		"kubernetes.io/serviceaccount/namespace":            ns,
		"kubernetes.io/serviceaccount/service-account.name": name,
		"kubernetes.io/serviceaccount/service-account.uid":  uid,
	})
}

// tokenReview is a stand-in of the Kubernetes TokenReview API: it accepts
// the tokens it was told about (as the service accounts named with them),
// answers unauthenticated for any other, and records what it reviewed. Every
// request must carry the reviewer JWT.
type tokenReview struct {
	reviewer string
	mu       sync.Mutex
	known    map[string][3]string // token → namespace, name, uid
	reviewed []string
	badAuth  int
}

func (tr *tokenReview) allow(tok, ns, name, uid string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.known[tok] = [3]string{ns, name, uid}
}

func (tr *tokenReview) seen() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.reviewed...)
}

func (tr *tokenReview) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/apis/authentication.k8s.io/v1/tokenreviews" {
		http.NotFound(w, r)
		return
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+tr.reviewer {
		tr.badAuth++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var req struct {
		Spec struct {
			Token string `json:"token"`
		} `json:"spec"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	tr.reviewed = append(tr.reviewed, req.Spec.Token)
	status := map[string]any{"authenticated": false, "error": "invalid bearer token"}
	if sa, ok := tr.known[req.Spec.Token]; ok {
		status = map[string]any{"authenticated": true, "audiences": []string{"vault"}, "user": map[string]any{
			"username": "system:serviceaccount:" + sa[0] + ":" + sa[1], "uid": sa[2],
			"groups": []string{"system:serviceaccounts", "system:serviceaccounts:" + sa[0], "system:authenticated"}}}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status})
}

// TestKubernetesAuth: auth = "kubernetes" against the real Vault, whose
// kubernetes auth method asks a stand-in TokenReview API (with
// token_reviewer_jwt; no local CA or JWT). Login works for the bound service
// account; when the Vault token reaches its max TTL, Run logs in again with
// the JWT file read afresh (the kubelet rotated the projected token); a
// token the API rejects fails login without showing the token.
func TestKubernetesAuth(t *testing.T) {
	srv := vaulttest.Start(t)
	tr := &tokenReview{reviewer: "reviewer-jwt-value", known: map[string][3]string{}}
	api := httptest.NewServer(tr)
	t.Cleanup(api.Close)
	srv.Write("sys/auth/kubernetes", map[string]any{"type": "kubernetes"})
	srv.Write("auth/kubernetes/config", map[string]any{"kubernetes_host": api.URL, "disable_local_ca_jwt": true, "token_reviewer_jwt": tr.reviewer})
	srv.Policy("tokend", `path "secret/data/tokend/*" { capabilities = ["create", "read", "update"] }`)
	srv.Write("auth/kubernetes/role/tokend", map[string]any{"bound_service_account_names": "tokend", "bound_service_account_namespaces": "auth",
		"token_policies": "tokend", "token_ttl": "2s", "token_max_ttl": "3s"})

	s := newSigner(t)
	jwt1 := saToken(t, s, "auth", "tokend", "uid-1", 1)
	tr.allow(jwt1, "auth", "tokend", "uid-1")
	dir := t.TempDir()
	jwtFile := writeFile(t, dir, "token", jwt1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := vaultclient.Config{Address: srv.Addr, Auth: "kubernetes", Role: "tokend", JWTPath: jwtFile, Mount: "kubernetes"}
	c, err := vaultclient.New(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.KVPut(ctx, "secret", "tokend/k8s", map[string]any{"v": "1"}, 0)
	if err != nil {
		t.Fatalf("write with the kubernetes login's token: %v", err)
	}
	// The kubelet rotates the projected token; the next login reads it.
	jwt2 := saToken(t, s, "auth", "tokend", "uid-1", 2)
	tr.allow(jwt2, "auth", "tokend", "uid-1")
	if err := os.WriteFile(jwtFile, []byte(jwt2+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	testkit.WaitUntil(t, "a second login", 20*time.Second, func() bool { logins, _ := c.Stats(); return logins >= 2 })
	if seen := tr.seen(); len(seen) < 2 || seen[0] != jwt1 || seen[len(seen)-1] != jwt2 {
		t.Fatalf("reviewed %d tokens; want the first login with the first token and the re-login with the rotated one", len(seen))
	}
	if _, err := c.KVPut(ctx, "secret", "tokend/k8s", map[string]any{"v": "2"}, v); err != nil {
		t.Fatalf("write after re-login: %v", err)
	}
	cancel()
	<-done
	if tr.badAuth != 0 {
		t.Errorf("%d reviews without the reviewer JWT", tr.badAuth)
	}

	// A token the API does not accept, and a service account the role does not bind.
	bad := saToken(t, s, "auth", "tokend", "uid-1", 3)
	other := saToken(t, s, "auth", "intruder", "uid-2", 4)
	tr.allow(other, "auth", "intruder", "uid-2")
	for _, tok := range []string{bad, other} {
		cfg.JWTPath = writeFile(t, dir, "bad", tok)
		_, err := vaultclient.New(context.Background(), cfg, nil)
		if err == nil || !strings.Contains(err.Error(), "kubernetes auth") || strings.Contains(err.Error(), tok) || strings.Contains(err.Error(), tok[len(tok)-20:]) {
			t.Errorf("rejected token: %v", err)
		}
	}
}

// TestJWTAuth: auth = "jwt" against the real Vault's JWT auth method, which
// checks the token's signature with jwt_validation_pubkeys (no TokenReview).
// The JWT file is read at every login: after a rotation Run's re-login
// presents the new token (its claim "gen", mapped into the Vault token's
// metadata, shows which one). A token signed by another key, or for another
// audience, fails without showing the token.
func TestJWTAuth(t *testing.T) {
	srv := vaulttest.Start(t)
	s := newSigner(t)
	srv.Write("sys/auth/jwt", map[string]any{"type": "jwt"})
	srv.Write("auth/jwt/config", map[string]any{"jwt_validation_pubkeys": []string{s.publicPEM(t)}})
	srv.Policy("tokend", `path "secret/data/tokend/*" { capabilities = ["create", "read", "update"] }`)
	srv.Write("auth/jwt/role/tokend", map[string]any{"role_type": "jwt", "user_claim": "sub", "bound_audiences": "vault",
		"bound_subject": "system:serviceaccount:auth:tokend", "claim_mappings": map[string]any{"gen": "gen"},
		"token_policies": "tokend", "token_ttl": "2s", "token_max_ttl": "3s"})
	token := func(sg signer, aud string, gen int) string {
		now := time.Now()
		return sg.sign(t, map[string]any{"iss": "https://kubernetes.default.svc", "sub": "system:serviceaccount:auth:tokend", "aud": []string{aud},
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(), "gen": fmt.Sprint(gen)})
	}
	dir := t.TempDir()
	jwtFile := writeFile(t, dir, "token", token(s, "vault", 1))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := vaultclient.Config{Address: srv.Addr, Auth: "jwt", Role: "tokend", JWTPath: jwtFile, Mount: "jwt"}
	c, err := vaultclient.New(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	gen := func() string {
		sec, err := c.API().Auth().Token().LookupSelfWithContext(ctx)
		if err != nil {
			t.Fatalf("lookup-self (%d logins): %v", func() int64 { l, _ := c.Stats(); return l }(), err)
		}
		meta, _ := sec.Data["meta"].(map[string]any)
		return fmt.Sprint(meta["gen"])
	}
	if g := gen(); g != "1" {
		t.Fatalf("first login: token metadata gen %q", g)
	}
	if _, err := c.KVPut(ctx, "secret", "tokend/jwt", map[string]any{"v": "1"}, 0); err != nil {
		t.Fatalf("write with the jwt login's token: %v", err)
	}
	if err := os.WriteFile(jwtFile, []byte(token(s, "vault", 2)), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	testkit.WaitUntil(t, "a second login", 20*time.Second, func() bool { logins, _ := c.Stats(); return logins >= 2 })
	if g := gen(); g != "2" {
		t.Fatalf("re-login: token metadata gen %q, want the rotated file's 2", g)
	}
	cancel()
	<-done

	for what, tok := range map[string]string{"another key": token(newSigner(t), "vault", 3), "another audience": token(s, "elsewhere", 4)} {
		cfg.JWTPath = writeFile(t, dir, "bad", tok)
		_, err := vaultclient.New(context.Background(), cfg, nil)
		if err == nil || !strings.Contains(err.Error(), "jwt auth") || strings.Contains(err.Error(), tok[len(tok)-20:]) {
			t.Errorf("%s: %v", what, err)
		}
	}
}
