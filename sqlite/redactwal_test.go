package sqlite_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"chainlog/sqlite"

	zsqlite "zombiezen.com/go/sqlite"
	zsqlitex "zombiezen.com/go/sqlite/sqlitex"
)

// holdSnapshot opens a read connection on path and starts a read
// transaction on it, as a verify or export in another process does. The
// returned func ends it.
func holdSnapshot(t *testing.T, path string) (release func()) {
	t.Helper()
	conn, err := zsqlite.OpenConn(path, zsqlite.OpenReadOnly)
	if err != nil {
		t.Fatalf("open a reader on %s: %v", path, err)
	}
	if err := zsqlitex.ExecuteTransient(conn, "BEGIN", nil); err != nil {
		t.Fatalf("BEGIN: %v", err)
	}
	if err := zsqlitex.ExecuteTransient(conn, "SELECT count(*) FROM events", nil); err != nil {
		t.Fatalf("read: %v", err)
	}
	done := false
	release = func() {
		if done {
			return
		}
		done = true
		if err := zsqlitex.ExecuteTransient(conn, "COMMIT", nil); err != nil {
			t.Errorf("end the read: %v", err)
		}
		conn.Close()
	}
	t.Cleanup(release)
	return release
}

// TestRedactReportsWALNotTruncated holds a reader's snapshot through a
// redaction's retry window: the redaction is committed, but the text
// stays in the -wal file, and Amend says so instead of succeeding.
func TestRedactReportsWALNotTruncated(t *testing.T) {
	t.Parallel()
	path := newStorePath(t)
	st := openStore(t, path, sqlite.Options{WALTruncateWait: 300 * time.Millisecond})
	ingest(t, st, mkEvents(t, "node-a", 0, 2)...)
	ingest(t, st, piiEvent(t, "pii", 20))
	release := holdSnapshot(t, path)

	rec, err := st.Amend(t.Context(), redactReq("pii"))
	if !errors.Is(err, sqlite.ErrWALNotTruncated) {
		t.Fatalf("redaction under a held snapshot: err = %v; want ErrWALNotTruncated", err)
	}
	for _, want := range []string{"redaction committed (amendment #1)", path + "-wal", "read snapshot"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if rec.Seq != 1 || rec.EventID != "pii" {
		t.Errorf("record = #%d on %q; want #1 on pii (the redaction is committed)", rec.Seq, rec.EventID)
	}
	if trail := trailOf(t, path, "pii"); len(trail) != 1 {
		t.Errorf("trail of pii: %d records, want 1", len(trail))
	}
	if !fileHas(t, path+"-wal", piiText) {
		t.Error("the -wal no longer holds the text, yet the redaction reported it does")
	}
	release()
	closeStore(t, st)
	wantValidAnchored(t, verifyPath(t, path, ""), 3, 0, 1)
}

// TestRedactRetriesWALTruncation releases the reader's snapshot inside the
// retry window: the redaction then succeeds and the -wal file no longer
// holds the text.
func TestRedactRetriesWALTruncation(t *testing.T) {
	t.Parallel()
	path := newStorePath(t)
	st := openStore(t, path, sqlite.Options{WALTruncateWait: 10 * time.Second})
	ingest(t, st, mkEvents(t, "node-a", 0, 2)...)
	ingest(t, st, piiEvent(t, "pii", 20))
	release := holdSnapshot(t, path)
	var releasing atomic.Bool
	released := make(chan struct{})
	go func() {
		defer close(released)
		time.Sleep(300 * time.Millisecond)
		releasing.Store(true)
		release()
	}()
	_, err := st.Amend(t.Context(), redactReq("pii"))
	returnedBeforeRelease := !releasing.Load()
	<-released
	if err != nil {
		t.Fatalf("redaction with the snapshot released within the window: %v", err)
	}
	if returnedBeforeRelease {
		t.Error("the redaction returned before the snapshot was released; the test proves nothing")
	}
	if fileHas(t, path+"-wal", piiText) || fileHas(t, path, piiText) {
		t.Error("redacted text on disk after the redaction succeeded")
	}
}
