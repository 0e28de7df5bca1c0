package bootstrap

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/grants"
)

// callback is one request that reached the redirect path.
type callback struct {
	query url.Values
	reply chan page
}

// authorizeLoopback serves the redirect_uri on loopback, prints the URL and
// handles the first request that reaches the redirect path: provider error,
// state check, immediate exchange, store. The browser's page reports the
// outcome; later requests are told the flow is over.
func authorizeLoopback(ctx context.Context, cr *config.Credential, c *grants.Client, pkce bool, opts AuthorizeOptions) (grants.Token, error) {
	ln, redirect, err := listenLoopback(cr.RedirectURI)
	if err != nil {
		return grants.Token{}, err
	}
	req, err := NewRequest(cr, redirect.String(), pkce)
	if err != nil {
		_ = ln.Close()
		return grants.Token{}, err
	}
	path := redirect.Path
	if path == "" {
		path = "/"
	}
	calls, done := make(chan callback), make(chan struct{})
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		cb := callback{query: r.URL.Query(), reply: make(chan page, 1)}
		select {
		case calls <- cb:
		case <-done:
			writePage(w, page{http.StatusGone, "This authorization request is already finished. See the terminal running tokend authorize."})
			return
		case <-r.Context().Done():
			return
		}
		select {
		case p := <-cb.reply:
			writePage(w, p)
		case <-r.Context().Done():
		}
	})}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	defer func() {
		close(done)
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil { // lets the last page reach the browser
			_ = srv.Close()
		}
		<-served
	}()

	fmt.Fprintln(opts.Out, req.URL)
	fmt.Fprintf(opts.Log, "Open the URL above in a browser and authorize %q; waiting up to %s for the redirect to %s\n",
		cr.Name, opts.ListenTimeout, redirect.String())
	timer := time.NewTimer(opts.ListenTimeout)
	defer timer.Stop()
	var cb callback
	select {
	case cb = <-calls:
	case <-timer.C:
		return grants.Token{}, fmt.Errorf("no redirect arrived within %s (--listen-timeout)", opts.ListenTimeout)
	case <-ctx.Done():
		return grants.Token{}, ctx.Err()
	}
	tok, p, err := handleCallback(ctx, c, req, cb.query, opts.Store)
	cb.reply <- p
	return tok, err
}

// handleCallback checks one redirect and, if it is good, exchanges and
// stores. The page says the same as the error.
func handleCallback(ctx context.Context, c *grants.Client, req Request, q url.Values, store func(context.Context, grants.Token) error) (grants.Token, page, error) {
	state := q.Get("state")
	switch {
	case subtle.ConstantTimeCompare([]byte(state), []byte(req.State)) != 1:
		return grants.Token{}, page{http.StatusBadRequest,
			"Authorization failed: the state parameter does not match this request (possible CSRF). Nothing was stored; run tokend authorize again."}, ErrStateMismatch
	case q.Get("error") != "":
		err := providerRefusal(q)
		return grants.Token{}, page{http.StatusBadRequest, "Authorization failed: " + err.Error() + ". Nothing was stored."}, err
	case q.Get("code") == "":
		err := errors.New("the redirect carried neither a code nor an error")
		return grants.Token{}, page{http.StatusBadRequest, "Authorization failed: " + err.Error() + ". Nothing was stored."}, err
	}
	tok, err := exchange(ctx, c, q.Get("code"), req.RedirectURI, req.Verifier, store)
	if err != nil {
		msg := "Authorization failed: the code could not be exchanged for tokens. Nothing was stored. See the terminal."
		var ge *grants.Error
		if errors.As(err, &ge) && ge.Code == "invalid_grant" {
			msg = "Authorization failed: the provider refused the code (invalid_grant: expired, already used or not issued for this request). Nothing was stored; run tokend authorize again."
		} else if ge == nil {
			msg = "Authorization failed: the tokens could not be stored. See the terminal."
		}
		return grants.Token{}, page{http.StatusBadGateway, msg}, err
	}
	return tok, page{http.StatusOK, "Authorized: tokend has stored the tokens. You can close this window."}, nil
}
