package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// nobody is the user the read-only checks run as when the tests run as
// root, for whom file permissions do not apply.
const nobody = 65534

// TestReadOnlyStore: verify-integrity (and export) read a store whose file
// and directory have no write permission, and leave it byte for byte as it
// was. The CLI runs as a separate process so that, under root,
// it can run as an unprivileged user.
func TestReadOnlyStore(t *testing.T) {
	t.Parallel()
	bin := sharedBinary(t)

	t.Run("closed WAL store", func(t *testing.T) {
		dir := sharedTempDir(t)
		store := filepath.Join(dir, "s.db")
		ingest(t, store, vectorsFile)
		// A second write after the first store was closed.
		ingest(t, store, writeFile(t, t.TempDir(), "more.ndjson", `{"id":"more-1","node_id":"node-a","event_type":"x","ts":"t"}`+"\n"))
		requireWALMode(t, store)
		requireNoFile(t, store+"-wal")
		makeReadOnly(t, dir, store)
		before := fileSums(t, dir)

		r := runBinary(t, bin, "verify-integrity", "--store", store)
		if r.code != exitOK || !strings.Contains(r.stdout, "Checked:   41 events\n") || !strings.Contains(r.stdout, "Result:    VALID\n") {
			t.Fatalf("verify-integrity on a read-only store: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		r = runBinary(t, bin, "verify-integrity", "--json", "--node-id", "node-a", "--store", store)
		if r.code != exitOK || !strings.Contains(r.stdout, `"status": "valid"`) || !strings.Contains(r.stdout, `"checked": 9,`) {
			t.Fatalf("verify-integrity --json --node-id on a read-only store: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		r = runBinary(t, bin, "export", "--store", store)
		if r.code != exitOK || strings.Count(r.stdout, "\n") != 41 {
			t.Fatalf("export of a read-only store: exit %d, %d lines\nstderr:\n%s", r.code, strings.Count(r.stdout, "\n"), r.stderr)
		}
		// The writing commands fail cleanly.
		r = runBinary(t, bin, "backfill-costs", "--store", store)
		if r.code != exitError || !strings.HasPrefix(r.stderr, "chainlog backfill-costs: ") {
			t.Errorf("backfill-costs on a read-only store: exit %d, want 2\nstderr:\n%s", r.code, r.stderr)
		}
		if after := fileSums(t, dir); !equalSums(before, after) {
			t.Errorf("the store directory changed:\nbefore %v\nafter  %v", before, after)
		}
	})

	t.Run("tampered read-only store", func(t *testing.T) {
		dir := sharedTempDir(t)
		store := filepath.Join(dir, "s.db")
		ingest(t, store, vectorsFile)
		execSQL(t, store, `UPDATE events SET agent_id = 'mallory' WHERE id = 'ev-1-0010'`)
		makeReadOnly(t, dir, store)
		before := fileSums(t, dir)
		r := runBinary(t, bin, "verify-integrity", "--store", store)
		if r.code != exitInvalid || !strings.Contains(r.stdout, "Result:    INVALID\n") || !strings.Contains(r.stdout, "  Event:    ev-1-0010\n") {
			t.Fatalf("verify-integrity on a tampered read-only store: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		if after := fileSums(t, dir); !equalSums(before, after) {
			t.Errorf("the store directory changed:\nbefore %v\nafter  %v", before, after)
		}
	})

	// A writer that did not close (killed, or another connection still
	// open) leaves its last commits in the -wal file. Without write access
	// to the directory SQLite cannot create the -shm file it needs to read
	// them, and chainlog refuses (exit 2) rather than verify the database
	// file alone and miss those commits.
	t.Run("pending -wal in a read-only directory", func(t *testing.T) {
		src := t.TempDir()
		srcStore := filepath.Join(src, "s.db")
		ingest(t, srcStore, vectorsFile)
		dir := sharedTempDir(t)
		store := filepath.Join(dir, "s.db")
		func() {
			// This connection keeps the WAL from being checkpointed and
			// removed when the ingest below closes the store.
			hold, err := sqlite.OpenConn(srcStore, sqlite.OpenReadWrite)
			if err != nil {
				t.Fatal(err)
			}
			defer hold.Close()
			if err := sqlitex.ExecuteTransient(hold, "SELECT count(*) FROM events", nil); err != nil {
				t.Fatal(err)
			}
			ingest(t, srcStore, writeFile(t, src, "more.ndjson", `{"id":"more-1","node_id":"node-a","event_type":"x","ts":"t"}`+"\n"))
			copyFile(t, srcStore, store)
			copyFile(t, srcStore+"-wal", store+"-wal")
		}()
		if fi, err := os.Stat(store + "-wal"); err != nil || fi.Size() == 0 {
			t.Fatalf("want a non-empty -wal file: %v", err)
		}
		requireNoFile(t, store+"-shm")
		chmod(t, store+"-wal", 0o444)
		makeReadOnly(t, dir, store)
		before := fileSums(t, dir)

		r := runBinary(t, bin, "verify-integrity", "--store", store)
		if r.code != exitError {
			t.Fatalf("verify-integrity: exit %d, want 2\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		const msg = "a -wal file exists but its -shm file cannot be created: give read access to both, or open once with write access"
		if !strings.HasPrefix(r.stderr, "chainlog verify-integrity: open store "+store+": ") || !strings.Contains(r.stderr, msg) {
			t.Errorf("verify-integrity: stderr does not explain the -wal file:\n%s", r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("verify-integrity: unexpected stdout:\n%s", r.stdout)
		}
		r = runBinary(t, bin, "export", "--store", store)
		if r.code != exitError || !strings.Contains(r.stderr, msg) {
			t.Errorf("export: exit %d, want 2 and the -wal message\nstderr:\n%s", r.code, r.stderr)
		}
		if after := fileSums(t, dir); !equalSums(before, after) {
			t.Errorf("the store directory changed:\nbefore %v\nafter  %v", before, after)
		}

		// With write access to the directory the pending commit is read
		// (41 events, not the 40 of the database file alone), and the
		// database file is still not written.
		chmod(t, dir, 0o777) // writable by the unprivileged user too
		r = runBinary(t, bin, "verify-integrity", "--store", store)
		if r.code != exitOK || !strings.Contains(r.stdout, "Checked:   41 events\n") || !strings.Contains(r.stdout, "Result:    VALID\n") {
			t.Fatalf("verify-integrity with a writable directory: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		after := fileSums(t, dir)
		for _, name := range []string{"s.db", "s.db-wal"} {
			if before[name] != after[name] {
				t.Errorf("%s changed", name)
			}
		}
	})

	// A reader in a writable directory leaves an empty -wal and the -shm
	// behind (a read-only connection cannot remove them). Once they are
	// there and readable, the store verifies in a read-only directory.
	t.Run("empty -wal and -shm left by a reader", func(t *testing.T) {
		dir := sharedTempDir(t)
		store := filepath.Join(dir, "s.db")
		ingest(t, store, vectorsFile)
		if r := runCLI(t, nil, "", "verify-integrity", "--store", store); r.code != exitOK {
			t.Fatalf("verify-integrity: exit %d\n%s", r.code, r.stderr)
		}
		if _, err := os.Stat(store + "-shm"); err != nil {
			t.Skipf("verify-integrity left no -shm file: nothing to test (%v)", err)
		}
		if fi, err := os.Stat(store + "-wal"); err != nil || fi.Size() != 0 {
			t.Fatalf("want an empty -wal file beside the -shm file: %v", err)
		}
		chmod(t, store+"-wal", 0o444)
		chmod(t, store+"-shm", 0o444)
		makeReadOnly(t, dir, store)
		before := fileSums(t, dir)
		r := runBinary(t, bin, "verify-integrity", "--store", store)
		if r.code != exitOK || !strings.Contains(r.stdout, "Result:    VALID\n") {
			t.Fatalf("verify-integrity: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		if after := fileSums(t, dir); !equalSums(before, after) {
			t.Errorf("the store directory changed:\nbefore %v\nafter  %v", before, after)
		}
	})

	// An empty -wal without its -shm file (the -shm was deleted, or only
	// the .db and -wal files were copied) holds nothing pending: the store
	// is read as immutable and verifies.
	t.Run("empty -wal without -shm in a read-only directory", func(t *testing.T) {
		dir := sharedTempDir(t)
		store := filepath.Join(dir, "s.db")
		ingest(t, store, vectorsFile)
		writeFile(t, dir, "s.db-wal", "")
		chmod(t, store+"-wal", 0o444)
		makeReadOnly(t, dir, store)
		before := fileSums(t, dir)
		r := runBinary(t, bin, "verify-integrity", "--json", "--store", store)
		if r.code != exitOK || !strings.Contains(r.stdout, `"checked": 40,`) {
			t.Fatalf("verify-integrity: exit %d, want 0 and 40 checked\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		if after := fileSums(t, dir); !equalSums(before, after) {
			t.Errorf("the store directory changed:\nbefore %v\nafter  %v", before, after)
		}
	})
}

// sharedBinary copies the chainlog command TestMain installs into a
// directory the unprivileged user can read, and returns the copy's path.
func sharedBinary(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(chainlogBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(sharedTempDir(t), "chainlog")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// sharedTempDir returns a new temporary directory that the unprivileged
// user can traverse and read when the tests run as root.
func sharedTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		return dir
	}
	// t.TempDir makes its directory, and the per-test one above it, 0700.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		chmod(t, d, 0o755)
	}
	for d := filepath.Dir(filepath.Dir(dir)); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			t.Skipf("%s is not traversable by other users: cannot run the read-only checks as uid %d", d, nobody)
		}
		if d == filepath.Dir(d) {
			return dir
		}
	}
}

func chmod(t *testing.T, name string, mode fs.FileMode) {
	t.Helper()
	if err := os.Chmod(name, mode); err != nil {
		t.Fatal(err)
	}
}

// makeReadOnly takes write permission away from the store file and its
// directory (restored at cleanup so that the directory can be removed).
func makeReadOnly(t *testing.T, dir, store string) {
	t.Helper()
	chmod(t, store, 0o444)
	chmod(t, dir, 0o555)
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	if os.Geteuid() != 0 {
		// Permissions bind this user: check that they do.
		if f, err := os.OpenFile(store, os.O_WRONLY, 0); err == nil {
			f.Close()
			t.Fatalf("%s is still writable", store)
		}
	}
}

type binaryResult struct {
	code           int
	stdout, stderr string
}

// runBinary runs the built chainlog binary, as uid/gid 65534 when the test
// runs as root.
func runBinary(t *testing.T, bin string, args ...string) binaryResult {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = "/"
	// GORACE: a -race binary would otherwise sleep 1s at exit.
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", "GORACE=atexit_sleep_ms=10"}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
	err := cmd.Run()
	res := binaryResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v", bin, err)
	}
	if strings.Contains(res.stderr, "panic: ") {
		t.Fatalf("chainlog %q panicked:\n%s", args, res.stderr)
	}
	return res
}

// ingest runs chainlog ingest in-process.
func ingest(t *testing.T, store, input string) {
	t.Helper()
	if r := runCLI(t, nil, "", "ingest", "--store", store, input); r.code != exitOK || r.panicked != nil {
		t.Fatalf("ingest %s: exit %d, panic %v\n%s", input, r.code, r.panicked, r.stderr)
	}
}

// requireWALMode checks the database header: file format versions 2 mean
// WAL.
func requireWALMode(t *testing.T, store string) {
	t.Helper()
	b, err := os.ReadFile(store)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 100 || b[18] != 2 || b[19] != 2 {
		t.Fatalf("%s is not a WAL-mode database", store)
	}
}

func requireNoFile(t *testing.T, name string) {
	t.Helper()
	if _, err := os.Lstat(name); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s: want no such file, got %v", name, err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fileSums returns the SHA-256 of every file in dir, by name.
func fileSums(t *testing.T, dir string) map[string][sha256.Size]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string][sha256.Size]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sums[e.Name()] = sha256.Sum256(b)
	}
	return sums
}

func equalSums(a, b map[string][sha256.Size]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
