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

// SetKeySetAfter sets how many ids a writer looks up before it loads the
// id index's keys into memory, for the rest of the test: 0 loads them at
// the first ingest, a large n never. Same caveat as SetTailMergeAt.
func SetKeySetAfter(t testing.TB, n int) {
	t.Helper()
	old := keySetAfter
	keySetAfter = n
	t.Cleanup(func() { keySetAfter = old })
}

func TestUnkeyedEventsTable(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{ // ClawMetry's table, as migration 1 writes it
			"CREATE TABLE events (\n    id           TEXT PRIMARY KEY,\n    agent_type   TEXT NOT NULL DEFAULT 'openclaw',\n    ts TEXT NOT NULL\n)",
			"CREATE TABLE events_rebuilt (\n    id           TEXT NOT NULL,\n    agent_type   TEXT NOT NULL DEFAULT 'openclaw',\n    ts TEXT NOT NULL\n)",
		},
		{
			`create table if not exists "events" ("id" text primary key desc on conflict ignore, tag TEXT UNIQUE, w REAL CHECK (w >= 0))`,
			`CREATE TABLE events_rebuilt ("id" text NOT NULL, tag TEXT UNIQUE, w REAL CHECK (w >= 0))`,
		},
		{"CREATE TABLE [events]([id] TEXT PRIMARY KEY, node_id TEXT COLLATE NOCASE)", "CREATE TABLE events_rebuilt ([id] TEXT NOT NULL, node_id TEXT COLLATE NOCASE)"},
		// Shapes that are left to the rebuild from pragma_table_info.
		{"CREATE TABLE events (id TEXT, ts TEXT, PRIMARY KEY (id))", ""},
		{"CREATE TABLE events (id INTEGER PRIMARY KEY, ts TEXT)", ""},
		{"CREATE TABLE events (agent_id TEXT PRIMARY KEY, id TEXT)", ""},
		{"CREATE TABLE other (id TEXT PRIMARY KEY)", ""},
	} {
		got, ok := unkeyedEventsTable(c.in)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("unkeyedEventsTable(%q)\n = %q, %v\nwant %q", c.in, got, ok, c.want)
		}
	}
}
