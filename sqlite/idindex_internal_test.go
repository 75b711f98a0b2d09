package sqlite

import (
	"testing"
	"time"
)

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

func TestIDIndexOptionDefaults(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want Options }{
		{Options{}, Options{IDTailMergeAt: 1 << 17, IDKeySetAfter: 4096, IDRecheckEvery: time.Second}},
		{Options{IDTailMergeAt: -3, IDKeySetAfter: -1, IDRecheckEvery: -1}, Options{IDTailMergeAt: 1 << 17, IDKeySetAfter: 0, IDRecheckEvery: 0}},
		{Options{IDTailMergeAt: 5, IDKeySetAfter: 7, IDRecheckEvery: time.Minute}, Options{IDTailMergeAt: 5, IDKeySetAfter: 7, IDRecheckEvery: time.Minute}},
	} {
		got := c.in
		got.setIDIndexDefaults()
		if got.IDTailMergeAt != c.want.IDTailMergeAt || got.IDKeySetAfter != c.want.IDKeySetAfter || got.IDRecheckEvery != c.want.IDRecheckEvery {
			t.Errorf("%+v: defaults give %d, %d, %v; want %d, %d, %v", c.in,
				got.IDTailMergeAt, got.IDKeySetAfter, got.IDRecheckEvery, c.want.IDTailMergeAt, c.want.IDKeySetAfter, c.want.IDRecheckEvery)
		}
	}
}
