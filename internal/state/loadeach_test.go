package state

import (
	"context"
	"errors"
	"reflect"
	"testing"
)

// TestLoadEachIsLoadForEveryName: LoadEach hands each name, in the order
// given, exactly what Load returns for it (record, or the same error), and
// stops at the first error its callback returns.
func TestLoadEachIsLoadForEveryName(t *testing.T) {
	s := openTemp(t, Options{})
	ctx := context.Background()
	for _, name := range []string{"b", "a"} {
		if err := s.Save(ctx, fullRecord(name)); err != nil {
			t.Fatal(err)
		}
	}
	names := []string{"a", "missing", "b"}
	var got []string
	err := s.LoadEach(ctx, names, func(name string, rec Record, err error) error {
		got = append(got, name)
		want, wantErr := s.Load(ctx, name) // another read transaction beside LoadEach's: both only read
		if !reflect.DeepEqual(rec, want) || (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Errorf("%s: LoadEach gave %+v, %v; Load gives %+v, %v", name, rec, err, want, wantErr)
		}
		if name == "missing" && !errors.Is(err, ErrNotFound) {
			t.Errorf("missing: %v does not wrap ErrNotFound", err)
		}
		return nil
	})
	if err != nil || !reflect.DeepEqual(got, names) {
		t.Fatalf("LoadEach: %v, names %v", err, got)
	}

	stop := errors.New("stop here")
	got = nil
	err = s.LoadEach(ctx, names, func(name string, _ Record, _ error) error { got = append(got, name); return stop })
	if err != stop || len(got) != 1 {
		t.Fatalf("a callback error: LoadEach returned %v after %v", err, got)
	}

	_ = s.Close()
	if err := s.LoadEach(ctx, names, func(string, Record, error) error { return nil }); err == nil {
		t.Fatal("LoadEach on a closed store succeeded")
	}
}
