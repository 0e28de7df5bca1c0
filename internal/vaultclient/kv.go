package vaultclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// KVVersion returns the version (1 or 2) of the KV engine mounted at mount,
// using sys/internal/ui/mounts, which any token with access under the mount
// may read (the vault CLI does the same). A mount that is not KV is an error.
// A fresh Prefetch answers without a request.
func (c *Client) KVVersion(ctx context.Context, mount string) (int, error) {
	if a, ok := c.cachedMount(mount); ok {
		return a.version, a.err
	}
	return c.kvVersion(ctx, mount)
}

// MountError is Vault's answer that a mount is missing or not KV (not a
// failure to ask).
type MountError struct{ msg string }

func (e *MountError) Error() string { return e.msg }

func (c *Client) kvVersion(ctx context.Context, mount string) (int, error) {
	sec, err := c.api.Logical().ReadWithContext(ctx, "sys/internal/ui/mounts/"+mount)
	if err != nil {
		return 0, Describe(err)
	}
	if sec == nil || sec.Data == nil {
		return 0, &MountError{fmt.Sprintf("mount %q not found", mount)}
	}
	typ, _ := sec.Data["type"].(string)
	if typ != "kv" && typ != "generic" {
		return 0, &MountError{fmt.Sprintf("mount %q is a %q engine, not kv", mount, typ)}
	}
	if p, _ := sec.Data["path"].(string); p != "" && strings.TrimSuffix(p, "/") != mount {
		return 0, &MountError{fmt.Sprintf("mount %q not found (the path belongs to mount %q)", mount, strings.TrimSuffix(p, "/"))}
	}
	opts, _ := sec.Data["options"].(map[string]any)
	if v, _ := opts["version"].(string); v == "2" {
		return 2, nil
	}
	return 1, nil
}

// Capabilities returns the token's capabilities on each path
// (sys/capabilities-self). A fresh Prefetch that covers every path answers
// without a request.
func (c *Client) Capabilities(ctx context.Context, paths ...string) (map[string][]string, error) {
	if caps, ok := c.cachedCaps(paths); ok {
		return caps, nil
	}
	return c.capabilities(ctx, paths)
}

func (c *Client) capabilities(ctx context.Context, paths []string) (map[string][]string, error) {
	sec, err := c.api.Logical().WriteWithContext(ctx, "sys/capabilities-self", map[string]any{"paths": paths})
	if err != nil {
		return nil, Describe(err)
	}
	out := map[string][]string{}
	if sec == nil {
		return out, nil
	}
	for _, p := range paths {
		list, _ := sec.Data[p].([]any)
		for _, v := range list {
			if s, ok := v.(string); ok {
				out[p] = append(out[p], s)
			}
		}
	}
	return out, nil
}

// HasCapability reports whether caps grants one of want (root grants all;
// deny grants nothing).
func HasCapability(caps []string, want ...string) bool {
	for _, c := range caps {
		if c == "deny" {
			return false
		}
	}
	for _, c := range caps {
		if c == "root" {
			return true
		}
		for _, w := range want {
			if c == w {
				return true
			}
		}
	}
	return false
}

// KVEntry is one KV v2 secret's latest version.
type KVEntry struct {
	Data    map[string]any
	Version int // 0: the key does not exist (a cas=0 write creates it)
}

// KVGet reads the latest version of key on a KV v2 mount. A missing key (or
// one whose latest version is deleted) returns Version 0 and no error,
// except that a deleted latest version keeps its version number so a
// check-and-set write can follow it.
func (c *Client) KVGet(ctx context.Context, mount, key string) (KVEntry, error) {
	sec, err := c.api.Logical().ReadWithContext(ctx, mount+"/data/"+key)
	if err != nil {
		return KVEntry{}, Describe(err)
	}
	if sec == nil || sec.Data == nil {
		return KVEntry{}, nil
	}
	e := KVEntry{Version: versionOf(sec.Data["metadata"])}
	e.Data, _ = sec.Data["data"].(map[string]any)
	return e, nil
}

// KVGetJSON is KVGet answering with the data as the JSON object Vault sent
// (nil when the key does not exist or its latest version is deleted), for
// callers that decode it into their own type: no map of it is built.
func (c *Client) KVGetJSON(ctx context.Context, mount, key string) (data []byte, version int, err error) {
	resp, err := c.api.Logical().ReadRawWithContext(ctx, mount+"/data/"+key)
	if resp != nil {
		defer resp.Body.Close()
	}
	if err != nil && (resp == nil || resp.StatusCode != http.StatusNotFound) {
		return nil, 0, Describe(err)
	}
	// A 404 is a missing key, or a deleted latest version whose metadata
	// still carries its version.
	var out struct {
		Data struct {
			Data     json.RawMessage `json:"data"`
			Metadata struct {
				Version int `json:"version"`
			} `json:"metadata"`
		} `json:"data"`
	}
	if derr := json.NewDecoder(resp.Body).Decode(&out); derr != nil && !(errors.Is(derr, io.EOF) && err != nil) {
		return nil, 0, fmt.Errorf("decoding the read response: %w", derr)
	}
	data = out.Data.Data
	if len(data) == 0 || string(data) == "null" {
		data = nil
	}
	return data, out.Data.Metadata.Version, nil
}

// KVPut writes data to key on a KV v2 mount with check-and-set: it succeeds
// only if the key's current version is cas (0: the key must not exist), and
// returns the new version. A mismatch is an error for which IsCASMismatch
// is true.
func (c *Client) KVPut(ctx context.Context, mount, key string, data map[string]any, cas int) (int, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return 0, fmt.Errorf("encoding the write: %w", err)
	}
	return c.KVPutJSON(ctx, mount, key, raw, cas)
}

// KVPutJSON is KVPut with data already encoded as a JSON object (the state
// store's records, state.EncodeRecord): the bytes go into the request body
// as they are, without building a map of them and encoding it again. data
// must be a JSON object.
func (c *Client) KVPutJSON(ctx context.Context, mount, key string, data []byte, cas int) (int, error) {
	body := make([]byte, 0, len(data)+40)
	body = append(body, `{"data":`...)
	body = append(body, data...)
	body = append(body, `,"options":{"cas":`...)
	body = strconv.AppendInt(body, int64(cas), 10)
	body = append(body, "}}"...)
	sec, err := c.api.Logical().WriteBytesWithContext(ctx, mount+"/data/"+key, body)
	if err != nil {
		return 0, Describe(err)
	}
	if sec == nil {
		return 0, fmt.Errorf("no version in the write response")
	}
	return versionOf(sec.Data), nil
}

// KVMetadata returns key's current version and custom_metadata on a KV v2
// mount (0 and nil when the key does not exist).
func (c *Client) KVMetadata(ctx context.Context, mount, key string) (int, map[string]string, error) {
	sec, err := c.api.Logical().ReadWithContext(ctx, mount+"/metadata/"+key)
	if err != nil {
		return 0, nil, Describe(err)
	}
	if sec == nil || sec.Data == nil {
		return 0, nil, nil
	}
	v := asInt(sec.Data["current_version"])
	custom := map[string]string{}
	if m, ok := sec.Data["custom_metadata"].(map[string]any); ok {
		for k, val := range m {
			if s, ok := val.(string); ok {
				custom[k] = s
			}
		}
	}
	return v, custom, nil
}

// KVSetCustomMetadata replaces key's custom_metadata on a KV v2 mount.
func (c *Client) KVSetCustomMetadata(ctx context.Context, mount, key string, custom map[string]string) error {
	_, err := c.api.Logical().WriteWithContext(ctx, mount+"/metadata/"+key, map[string]any{"custom_metadata": custom})
	return Describe(err)
}

func versionOf(v any) int {
	m, _ := v.(map[string]any)
	return asInt(m["version"])
}

func asInt(v any) int {
	switch n := v.(type) {
	case json.Number:
		i, _ := strconv.Atoi(n.String())
		return i
	case float64:
		return int(n)
	case int:
		return n
	}
	return 0
}
