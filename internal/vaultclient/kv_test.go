package vaultclient_test

import (
	"context"
	"testing"

	"github.com/tokend/tokend/internal/vaulttest"
)

// TestKVGetJSON: the data comes back as the JSON object written, with its
// version; a missing key is nil and version 0; a deleted latest version is
// nil with its version kept, so a check-and-set write can follow it.
func TestKVGetJSON(t *testing.T) {
	srv := vaulttest.Start(t)
	c := srv.TokendClient(srv.RootToken)
	ctx := context.Background()
	if data, v, err := c.KVGetJSON(ctx, "secret", "tokend/j"); data != nil || v != 0 || err != nil {
		t.Fatalf("missing key: %s %d %v", data, v, err)
	}
	v1, err := c.KVPutJSON(ctx, "secret", "tokend/j", []byte(`{"generation":1099511627776,"s":"x"}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	data, v, err := c.KVGetJSON(ctx, "secret", "tokend/j")
	if err != nil || v != v1 || string(data) != `{"generation":1099511627776,"s":"x"}` {
		t.Fatalf("read back: %s %d %v", data, v, err)
	}
	if _, err := srv.Client().Logical().Delete("secret/data/tokend/j"); err != nil {
		t.Fatal(err)
	}
	data, v, err = c.KVGetJSON(ctx, "secret", "tokend/j")
	if data != nil || v != v1 || err != nil {
		t.Fatalf("deleted latest version: %s %d %v", data, v, err)
	}
	if v2, err := c.KVPutJSON(ctx, "secret", "tokend/j", []byte(`{"s":"y"}`), v); err != nil || v2 != v1+1 {
		t.Fatalf("write after the deletion: %d %v", v2, err)
	}
}
