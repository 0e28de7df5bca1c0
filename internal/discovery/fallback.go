package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tokend/tokend/internal/config"
)

// Store keeps the last metadata discovered per issuer, so that an issuer
// that is down at start-up does not take tokend down (issue 12 item 6).
// state.FileStore implements it. Implementations are safe for concurrent
// use; LoadDiscovery's error wraps state.ErrNotFound when nothing is
// stored (callers here treat every load error as "nothing stored").
type Store interface {
	SaveDiscovery(ctx context.Context, issuer string, doc []byte) error
	LoadDiscovery(ctx context.Context, issuer string) ([]byte, error)
}

// storedDoc is the form a Metadata is kept in: the metadata, the document
// it came from and when.
type storedDoc struct {
	Metadata
	Source       string    `json:"source"`
	DiscoveredAt time.Time `json:"discovered_at"`
}

// Encode renders md, discovered at at, for a Store.
func Encode(md Metadata, at time.Time) ([]byte, error) {
	return json.Marshal(storedDoc{Metadata: md, Source: md.URL, DiscoveredAt: at.UTC()})
}

// Decode reads what Encode wrote. A document without a token_endpoint is
// refused, as Fetch refuses one.
func Decode(doc []byte) (Metadata, time.Time, error) {
	var d storedDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return Metadata{}, time.Time{}, errors.New("stored metadata is not the JSON tokend writes")
	}
	if d.TokenEndpoint == "" || d.Issuer == "" {
		return Metadata{}, time.Time{}, errors.New("stored metadata has no issuer or token_endpoint")
	}
	d.Metadata.URL = d.Source
	return d.Metadata, d.DiscoveredAt, nil
}

// Resolved is issuer metadata and where it came from.
type Resolved struct {
	Metadata
	// DiscoveredAt is when the metadata was fetched (now, or earlier when
	// it came from the store).
	DiscoveredAt time.Time
	// FetchErr is why fetching failed when the metadata came from the
	// store; nil when it was fetched now.
	FetchErr error
}

// Resolve fetches issuer's metadata and keeps it in st; when fetching
// fails it returns the metadata st kept from an earlier success, with
// FetchErr saying why. It fails only when neither is available (the error
// says both). st may be nil (fetch only). A failed save is returned in
// saveErr and does not fail the resolution.
func Resolve(ctx context.Context, hc *http.Client, st Store, issuer string, now time.Time) (r Resolved, saveErr error, err error) {
	md, ferr := Fetch(ctx, hc, issuer)
	if ferr == nil {
		if st != nil {
			if doc, err := Encode(md, now); err == nil {
				saveErr = st.SaveDiscovery(context.WithoutCancel(ctx), issuer, doc)
			}
		}
		return Resolved{Metadata: md, DiscoveredAt: now}, saveErr, nil
	}
	if st == nil {
		return Resolved{}, nil, ferr
	}
	doc, lerr := st.LoadDiscovery(ctx, issuer)
	if lerr != nil {
		return Resolved{}, nil, fmt.Errorf("%w; no metadata stored from an earlier discovery", ferr)
	}
	smd, at, derr := Decode(doc)
	if derr != nil || smd.Issuer != issuer {
		return Resolved{}, nil, fmt.Errorf("%w; the stored metadata is unusable", ferr)
	}
	return Resolved{Metadata: smd, DiscoveredAt: at, FetchErr: ferr}, nil, nil
}

// Fill copies r's endpoints into the keys cr left empty and checks the
// result as ApplyCredential does.
func Fill(cr *config.Credential, r Resolved) error { return check(cr, r.Metadata) }
