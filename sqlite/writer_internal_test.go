package sqlite

import (
	"testing"
	"time"
)

// SetWALTruncateWait sets how long a redaction retries truncating the WAL,
// for the rest of the test. Tests that call it do not run in parallel.
func SetWALTruncateWait(t testing.TB, d time.Duration) {
	t.Helper()
	old := walTruncateWait
	walTruncateWait = d
	t.Cleanup(func() { walTruncateWait = old })
}

// SetIDRecheckEvery sets how often, at most, a writer counts the id index
// again after other connections committed, for the rest of the test. Same
// caveat as SetWALTruncateWait.
func SetIDRecheckEvery(t testing.TB, d time.Duration) {
	t.Helper()
	old := idRecheckEvery
	idRecheckEvery = d
	t.Cleanup(func() { idRecheckEvery = old })
}
