package main

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"chainlog"
	"chainlog/sqlite"
)

// TestMissingStore checks which errors get the hint to give the store: a
// store that could not be opened because its file is missing, and nothing
// else, whatever its message says.
func TestMissingStore(t *testing.T) {
	missing := &fs.PathError{Op: "stat", Path: "x.db", Err: fs.ErrNotExist}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"store file missing", &chainlog.OpenError{Err: missing}, true},
		{"store file missing, with its path", &chainlog.OpenError{Path: "x.db", Err: missing}, true},
		{"wrapped again", fmt.Errorf("export: %w", &chainlog.OpenError{Err: missing}), true},
		{"not a store", &chainlog.OpenError{Path: "x.db", Err: sqlite.ErrNotStore}, false},
		{"another file missing", fmt.Errorf("read key: %w", missing), false},
		{"a message that only says so", fmt.Errorf("open store: %w", missing), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		if got := missingStore(tt.err); got != tt.want {
			t.Errorf("%s: missingStore(%v) = %v; want %v", tt.name, tt.err, got, tt.want)
		}
	}
	if !errors.Is(&chainlog.OpenError{Err: missing}, fs.ErrNotExist) {
		t.Error("an OpenError does not unwrap to its cause")
	}
}
