package sqlite_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"chainlog"
	"chainlog/sqlite"
)

// TestIngestRefusesReplacedFiles deletes or replaces the store's files
// under an open writer: its connection would go on committing to the files
// it opened, which no longer are the store. Ingest must fail instead, and
// keep failing.
func TestIngestRefusesReplacedFiles(t *testing.T) {
	tests := []struct {
		name string
		do   func(t *testing.T, path string)
		want string // the file named in the error
	}{
		{"-wal and -shm deleted", func(t *testing.T, path string) {
			for _, f := range []string{path + "-wal", path + "-shm"} {
				if err := os.Remove(f); err != nil {
					t.Fatal(err)
				}
			}
		}, "-wal was deleted"},
		{"-shm deleted", func(t *testing.T, path string) {
			if err := os.Remove(path + "-shm"); err != nil {
				t.Fatal(err)
			}
		}, "-shm was deleted"},
		{"database file replaced", func(t *testing.T, path string) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path+".new", data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(path+".new", path); err != nil {
				t.Fatal(err)
			}
		}, "chainlog.db is another file"},
		{"database file deleted", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, "chainlog.db was deleted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := newStorePath(t)
			st := openStore(t, path, sqlite.Options{})
			ingest(t, st, mkEvents(t, "n1", 0, 3)...)
			if err := st.CheckFiles(); err != nil {
				t.Fatalf("CheckFiles before: %v", err)
			}
			tc.do(t, path)
			for i := range 2 {
				res, err := st.Ingest(t.Context(), mkEvents(t, "n1", 3+i, 4+i))
				if !errors.Is(err, chainlog.ErrFilesReplaced) {
					t.Fatalf("Ingest #%d after the files changed = %+v, %v; want ErrFilesReplaced", i+1, res, err)
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %q does not say %q", err, tc.want)
				}
			}
			if err := st.CheckFiles(); !errors.Is(err, chainlog.ErrFilesReplaced) {
				t.Errorf("CheckFiles after: %v; want ErrFilesReplaced", err)
			}
		})
	}
}

// TestIngestOtherProcessesOpenAndClose checks that readers and writers on
// the same file, opening and closing, are not taken for a replacement.
func TestIngestOtherProcessesOpenAndClose(t *testing.T) {
	path := newStorePath(t)
	st := openStore(t, path, sqlite.Options{})
	ingest(t, st, mkEvents(t, "n1", 0, 3)...)
	wantValid(t, verifyPath(t, path, ""), 3, 0)
	other := openStore(t, path, sqlite.Options{})
	ingest(t, other, mkEvents(t, "n2", 0, 2)...)
	closeStore(t, other)
	ingest(t, st, mkEvents(t, "n1", 3, 5)...)
	if err := st.CheckFiles(); err != nil {
		t.Errorf("CheckFiles: %v", err)
	}
	closeStore(t, st)
	wantValid(t, verifyPath(t, path, ""), 7, 0)
}

// TestCheckpointWAL checks that CheckpointWAL moves committed events from
// the -wal file into the database file, so that the database file alone
// holds them, and that it fails once the -wal file was deleted.
func TestCheckpointWAL(t *testing.T) {
	path := newStorePath(t)
	st := openFresh(t, path, sqlite.Options{})
	ingest(t, st, mkEvents(t, "n1", 0, 5)...)
	// dbOnly copies the database file without its -wal and runs q there.
	dbOnly := func(q string) string {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		copyPath := newStorePath(t)
		if err := os.WriteFile(copyPath, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return rawValue(t, copyPath, q)
	}
	// A new store lives in its -wal file, schema included.
	if n := dbOnly(`SELECT count(*) FROM sqlite_master WHERE name = 'events'`); n != "0" {
		t.Fatalf("the database file alone has the events table before the checkpoint; the test proves nothing")
	}
	if err := st.CheckpointWAL(t.Context()); err != nil {
		t.Fatalf("CheckpointWAL: %v", err)
	}
	if n := dbOnly(`SELECT count(*) FROM events`); n != "5" {
		t.Errorf("the database file alone holds %s events after the checkpoint, want 5", n)
	}
	if err := os.Remove(path + "-wal"); err != nil {
		t.Fatal(err)
	}
	if err := st.CheckpointWAL(t.Context()); !errors.Is(err, chainlog.ErrFilesReplaced) {
		t.Errorf("CheckpointWAL after the -wal was deleted: %v; want ErrFilesReplaced", err)
	}
}
