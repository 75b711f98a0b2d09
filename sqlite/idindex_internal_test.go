package sqlite

import "testing"

// SetTailMergeAt sets the tail length at which a writer merges the id
// index's tail into event_ids to n, for the rest of the test, so that tests
// can make merges happen every few rows. A test that calls it must not run
// in parallel with tests that ingest (do not call t.Parallel in it).
func SetTailMergeAt(t testing.TB, n int) {
	t.Helper()
	if n < 1 {
		t.Fatalf("SetTailMergeAt(%d): want at least 1", n)
	}
	old := tailMergeAt
	tailMergeAt = n
	t.Cleanup(func() { tailMergeAt = old })
}
