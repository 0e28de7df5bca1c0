package grants

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/secret"
)

// TestTokenExchangeSubjectFileReadFresh: the subject token file is read for
// every request (a rotated projected token is used at once), the RFC 8693
// parameters are sent, and issued_token_type is kept.
func TestTokenExchangeSubjectFileReadFresh(t *testing.T) {
	dir := t.TempDir()
	subj, actor := filepath.Join(dir, "k8s"), filepath.Join(dir, "actor")
	write := func(p, v string) {
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(subj, "subject-one\n")
	write(actor, "actor-jwt")
	ep := newEndpoint(t, reply{Body: `{"access_token":"exchanged","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":600}`})
	o := &TokenExchangeOptions{SubjectTokenFile: subj, RequestedTokenType: TokenTypeAccessToken, Audience: "api://backend",
		Resource: "https://backend.example/", ActorTokenFile: actor}
	resolve(t, o)
	c := newTestClient(t, ep.URL, func(cfg *Config) { cfg.Grant, cfg.GrantOptions = GrantTokenExchange, o })
	tok, err := c.Renew(context.Background(), secret.Secret{})
	if err != nil {
		t.Fatal(err)
	}
	if tok.IssuedTokenType != TokenTypeAccessToken {
		t.Errorf("issued_token_type %q", tok.IssuedTokenType)
	}
	write(subj, "subject-two")
	if _, err := c.Renew(context.Background(), secret.Secret{}); err != nil {
		t.Fatal(err)
	}
	want := url.Values{"grant_type": {TokenExchangeGrantType}, "subject_token": {"subject-one"}, "subject_token_type": {TokenTypeJWT},
		"requested_token_type": {TokenTypeAccessToken}, "audience": {"api://backend"}, "resource": {"https://backend.example/"},
		"actor_token": {"actor-jwt"}, "actor_token_type": {TokenTypeJWT}}
	for i, r := range ep.reqs {
		form, _ := url.ParseQuery(r.Body)
		if i == 1 {
			want.Set("subject_token", "subject-two")
		}
		if form.Encode() != want.Encode() {
			t.Errorf("request %d: %s\nwant %s", i, form.Encode(), want.Encode())
		}
	}
	// A vanished file is transient and names the file, not a token.
	if err := os.Remove(subj); err != nil {
		t.Fatal(err)
	}
	_, err = c.Renew(context.Background(), secret.Secret{})
	if IsPermanent(err) || !strings.Contains(err.Error(), subj) || ep.count() != 2 {
		t.Errorf("missing subject file: %v (requests %d)", err, ep.count())
	}
}

// TestTokenExchangeSubjectCredential: the subject token comes from the
// lookup the daemon lends (another credential's current token); no token
// yet is transient and sends nothing.
func TestTokenExchangeSubjectCredential(t *testing.T) {
	ep := newEndpoint(t, reply{Body: okBody})
	o := &TokenExchangeOptions{SubjectCredential: "upstream"}
	o.Defaults()
	current := secret.Secret{}
	lookup := func(_ context.Context, name string) (secret.Secret, error) {
		if name != "upstream" {
			t.Errorf("looked up %q", name)
		}
		if current.IsZero() {
			return secret.Secret{}, errors.New("no token yet")
		}
		return current, nil
	}
	c := newTestClient(t, ep.URL, func(cfg *Config) {
		cfg.Grant, cfg.GrantOptions, cfg.CredentialToken = GrantTokenExchange, o, lookup
	})
	_, err := c.Renew(context.Background(), secret.Secret{})
	if err == nil || IsPermanent(err) || ep.count() != 0 || !strings.Contains(err.Error(), `credential "upstream" has no current access token`) {
		t.Fatalf("before the subject has a token: %v", err)
	}
	current = secret.New("upstream-access-token")
	if _, err := c.Renew(context.Background(), secret.Secret{}); err != nil {
		t.Fatal(err)
	}
	form, _ := url.ParseQuery(ep.only(t).Body)
	if form.Get("subject_token") != "upstream-access-token" || form.Get("subject_token_type") != TokenTypeAccessToken {
		t.Errorf("body %v", form)
	}
	var problems []string
	(&TokenExchangeOptions{SubjectTokenFile: "/f", SubjectCredential: "x", SubjectTokenType: "jwt", ActorTokenType: TokenTypeJWT}).Validate(
		func(field, format string, args ...any) { problems = append(problems, field) })
	if strings.Join(problems, ",") != "subject_token_file,subject_token_type,actor_token_type" {
		t.Errorf("problems %v", problems)
	}
}
