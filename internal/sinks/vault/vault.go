// Package vault is the Vault KV sink: it writes a credential's access token
// to a KV v2 (default) or KV v1 secret for services that read Vault.
//
// KV v2 writes are check-and-set, and the token's generation travels in the
// data (field "generation"): the sink writes with cas = the version it last
// wrote — one request per rotation — and only when that fails (another
// writer got in) or it knows no version yet does it read the key and skip
// the write if the stored generation is at least its own, so a stale writer
// (an old replica, a delayed retry) never overwrites a newer token. A token
// whose policy cannot read the data path falls back to the metadata:
// custom_metadata carries credential, generation and expires_at, read before
// and set after each write (two requests per rotation). KV v1 has no
// versions: the sink compares the stored expires_at field first (best
// effort, not atomic).
package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/tokend/tokend/internal/sinks"
	"github.com/tokend/tokend/internal/vaultclient"
)

// Options configures one vault sink.
type Options struct {
	Client     *vaultclient.Client
	Credential string            // for errors
	Mount      string            // KV mount, e.g. "secret"
	Path       string            // key under the mount
	KVVersion  int               // 1 or 2
	Fields     map[string]string // FieldKeys -> field name
}

// casAttempts bounds re-reads after a check-and-set conflict.
const casAttempts = 3

// Sink writes tokens to one Vault KV key. It is safe for concurrent use.
type Sink struct {
	o Options
	// readData: the token may read the KV v2 data path, so the generation
	// is read from the data and custom_metadata is not kept (one request
	// per rotation). readMeta: it may read the metadata (the generation an
	// older tokend kept there, or the fallback mode).
	readData, readMeta bool

	// last is the KV v2 version this sink last wrote and the generation
	// in it: the next write uses it as its cas without reading the
	// metadata first (2 requests per rotation instead of 3). A CAS
	// mismatch means another writer got in: then the sink reads the
	// metadata and decides as before.
	mu   sync.Mutex
	last struct {
		version int
		gen     uint64
	}
}

// New checks the sink against Vault before tokend starts refreshing: the
// mount exists and has the configured KV version, and the token's policy
// allows the writes (sys/capabilities-self). Errors name credential and path.
func New(ctx context.Context, o Options) (*Sink, error) {
	s := &Sink{o: o}
	if o.Client == nil {
		return nil, s.wrap(errors.New("no vault client"))
	}
	for _, k := range FieldKeys {
		if o.Fields[k] == "" {
			return nil, s.wrap(fmt.Errorf("no field name for %s", k))
		}
	}
	v, err := o.Client.KVVersion(ctx, o.Mount)
	if err != nil {
		return nil, s.wrap(fmt.Errorf("checking mount: %w", err))
	}
	if v != o.KVVersion {
		return nil, s.wrap(fmt.Errorf("mount %q is KV version %d but the sink has kv_version = %d", o.Mount, v, o.KVVersion))
	}
	// Each check: a path and the capabilities of which one is needed.
	type need struct {
		path  string
		oneOf []string
	}
	caps, err := o.Client.Capabilities(ctx, s.dataPath(), s.metaPath())
	if err != nil {
		return nil, s.wrap(fmt.Errorf("checking policy: %w", err))
	}
	checks := []need{{s.dataPath(), []string{"create", "update"}}, {s.dataPath(), []string{"read"}}}
	if o.KVVersion == 2 {
		s.readData = vaultclient.HasCapability(caps[s.dataPath()], "read")
		s.readMeta = vaultclient.HasCapability(caps[s.metaPath()], "read")
		checks = []need{{s.dataPath(), []string{"create", "update"}}}
		if !s.readData { // the metadata carries the generation instead
			checks = append(checks, need{s.metaPath(), []string{"read"}}, need{s.metaPath(), []string{"create", "update"}})
		}
	}
	for _, c := range checks {
		if !vaultclient.HasCapability(caps[c.path], c.oneOf...) {
			return nil, s.wrap(fmt.Errorf("the vault token's policy allows none of %v on %s (it has %v)", c.oneOf, c.path, caps[c.path]))
		}
	}
	return s, nil
}

// String names the sink in logs.
func (s *Sink) String() string { return "vault " + s.dataPath() }

func (s *Sink) dataPath() string {
	if s.o.KVVersion == 1 {
		return s.o.Mount + "/" + s.o.Path
	}
	return s.o.Mount + "/data/" + s.o.Path
}

func (s *Sink) metaPath() string { return s.o.Mount + "/metadata/" + s.o.Path }

func (s *Sink) wrap(err error) error {
	return fmt.Errorf("vault sink for credential %q at %s: %w", s.o.Credential, s.dataPath(), err)
}

// Write stores tok unless Vault already holds the same or a newer
// generation. It honours ctx; an error leaves the previous value in place.
// Writes of all sinks sharing a Client run at once up to its bound
// (vaultclient.WriteSlot); beyond it they wait for a slot within ctx.
func (s *Sink) Write(ctx context.Context, tok sinks.Token) error {
	if s.o.KVVersion == 1 {
		release, err := s.o.Client.WriteSlot(ctx)
		if err != nil {
			return s.wrap(err)
		}
		defer release()
		return s.writeV1(ctx, tok)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last.version > 0 && s.last.gen >= tok.Generation {
		return nil // this sink already wrote the same or a newer token
	}
	release, err := s.o.Client.WriteSlot(ctx)
	if err != nil {
		return s.wrap(err)
	}
	defer release()
	known := s.last.version // 0: unknown, read the key first
	for range casAttempts {
		cur := known
		if cur == 0 {
			v, g, err := s.stored(ctx)
			if err != nil {
				return s.wrap(err)
			}
			if g >= tok.Generation && v > 0 {
				s.last.version, s.last.gen = v, g
				return nil // the same or a newer token is already there
			}
			cur = v
		}
		known = 0
		v, err := s.o.Client.KVPut(ctx, s.o.Mount, s.o.Path, s.fields(tok), cur)
		if vaultclient.IsCASMismatch(err) {
			s.last.version = 0
			continue // another writer got in first: look again
		}
		if err != nil {
			s.last.version = 0
			return s.wrap(err)
		}
		s.last.version, s.last.gen = v, tok.Generation
		if s.readData {
			return nil
		}
		meta := map[string]string{"credential": tok.Credential, "generation": strconv.FormatUint(tok.Generation, 10),
			"expires_at": formatTime(tok.ExpiresAt)}
		if err := s.o.Client.KVSetCustomMetadata(ctx, s.o.Mount, s.o.Path, meta); err != nil {
			// The token is written; without the generation a later stale
			// write is still stopped by cas, so report and let it retry
			// (from the metadata: the retry sets it).
			s.last.version = 0
			return s.wrap(fmt.Errorf("token written, setting custom_metadata failed: %w", err))
		}
		return nil
	}
	return s.wrap(fmt.Errorf("check-and-set kept failing after %d attempts", casAttempts))
}

// stored returns the key's current version and the generation stored with
// it (0 when none is known: a key written by someone else). With readData
// the generation is the data's; a key last written by a tokend that kept
// it in custom_metadata only is looked up there too, when allowed.
func (s *Sink) stored(ctx context.Context) (version int, gen uint64, err error) {
	if s.readData {
		e, err := s.o.Client.KVGet(ctx, s.o.Mount, s.o.Path)
		if err != nil {
			return 0, 0, fmt.Errorf("reading the stored token: %w", err)
		}
		if g, ok := generationOf(e.Data[s.o.Fields["generation"]]); ok || e.Version == 0 || !s.readMeta {
			return e.Version, g, nil
		}
	}
	v, custom, err := s.o.Client.KVMetadata(ctx, s.o.Mount, s.o.Path)
	if err != nil {
		return 0, 0, fmt.Errorf("reading metadata: %w", err)
	}
	g, _ := strconv.ParseUint(custom["generation"], 10, 64)
	return v, g, nil
}

// generationOf reads a stored generation field (a JSON number; a string of
// digits is taken too).
func generationOf(v any) (uint64, bool) {
	var s string
	switch n := v.(type) {
	case json.Number:
		s = n.String()
	case string:
		s = n
	case float64:
		if n < 0 || n != float64(uint64(n)) {
			return 0, false
		}
		return uint64(n), true
	default:
		return 0, false
	}
	g, err := strconv.ParseUint(s, 10, 64)
	return g, err == nil
}

func (s *Sink) writeV1(ctx context.Context, tok sinks.Token) error {
	api := s.o.Client.API().Logical()
	if !tok.ExpiresAt.IsZero() {
		cur, err := api.ReadWithContext(ctx, s.dataPath())
		if err != nil {
			return s.wrap(vaultclient.Describe(err))
		}
		if cur != nil {
			prev, _ := cur.Data[s.o.Fields["expires_at"]].(string)
			if t, err := time.Parse(time.RFC3339, prev); err == nil && t.After(tok.ExpiresAt) {
				return nil // a newer token is already there
			}
		}
	}
	if _, err := api.WriteWithContext(ctx, s.dataPath(), s.fields(tok)); err != nil {
		return s.wrap(vaultclient.Describe(err))
	}
	return nil
}

func (s *Sink) fields(tok sinks.Token) map[string]any {
	f := s.o.Fields
	return map[string]any{
		f["access_token"]: tok.AccessToken.Reveal(),
		f["expires_at"]:   formatTime(tok.ExpiresAt),
		f["token_type"]:   tok.TokenType,
		f["scope"]:        tok.Scope,
		f["generation"]:   tok.Generation,
	}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
