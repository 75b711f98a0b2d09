package sqlite_test

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"testing"

	"chainlog"
	"chainlog/pricing"
	"chainlog/sqlite"
)

// chainlogV2 is a store as chainlog left it at schema version 2, before
// payload digests and the amendment trail; remake it with
// `go run ./sqlite/internal/mkfixtures`.
const chainlogV2 = "testdata/chainlog-v2.db"

// What the fixture holds.
const (
	v2AllRows     = 16
	v2Stamped     = 12
	v2PreChain    = 4
	v2NodeDev     = "dev-laptop.lan" // 7 stamped rows, 3 pre-chain
	v2NodeCI      = "ci-runner-07"   // 5 stamped rows, 1 pre-chain
	v2DevStamped  = 7
	v2CIStamped   = 5
	v2DevPreChain = 3
	v2CIPreChain  = 1
)

// sameStored reports whether a and b agree on everything a store of
// either schema holds: identity, mutable fields, created_at, chain stamp
// and payload digest.
func sameStored(a, b chainlog.StoredEvent) bool {
	ma, mb := a.Mutable(), b.Mutable()
	return reflect.DeepEqual(a.Event, b.Event) && chainlog.PayloadDigest(&ma) == chainlog.PayloadDigest(&mb) &&
		a.CreatedAt == b.CreatedAt && a.Seq == b.Seq && a.PrevHash == b.PrevHash && a.Hash == b.Hash &&
		a.PayloadDigest == b.PayloadDigest
}

// TestFixtureIsChainlogV2 pins what the committed fixture is, so a
// regenerated one cannot silently drift.
func TestFixtureIsChainlogV2(t *testing.T) {
	t.Parallel()
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if fileExists(chainlogV2 + suffix) {
			t.Errorf("%s%s exists; the fixture must be a single file", chainlogV2, suffix)
		}
	}
	b, err := os.ReadFile(chainlogV2)
	if err != nil {
		t.Fatal(err)
	}
	// Bytes 18 and 19 of the header are 2 in WAL mode, as chainlog writes.
	if string(b[:16]) != "SQLite format 3\x00" || b[18] != 2 || b[19] != 2 {
		t.Fatalf("header = %q, read/write versions %d/%d; want a SQLite file in WAL mode", b[:16], b[18], b[19])
	}
	path := copyFixture(t, chainlogV2)
	if v := userVersion(t, path); v != 2 {
		t.Errorf("user_version = %d; want 2", v)
	}
	want := map[string]bool{"id": true, "agent_type": true, "node_id": true, "agent_id": true,
		"session_id": true, "workspace_id": true, "event_type": true, "ts": true, "data": true,
		"cost_usd": true, "token_count": true, "model": true, "created_at": true,
		"chain_prev_hash": true, "chain_hash": true, "chain_seq": true}
	if got := tableColumns(t, path, "events"); !reflect.DeepEqual(got, want) {
		t.Errorf("events columns = %v; want schema version 2's %v", got, want)
	}
	for _, c := range []struct{ q, want string }{
		{`SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name)`, "chain_heads,events"},
		{`SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name)`, "events_node_seq"},
		{`SELECT count(*) FROM events`, fmt.Sprint(v2AllRows)},
		{`SELECT count(*) FROM events WHERE chain_hash IS NOT NULL AND chain_seq IS NOT NULL AND chain_prev_hash IS NOT NULL`, fmt.Sprint(v2Stamped)},
		{`SELECT count(*) FROM events WHERE chain_hash IS NULL AND chain_seq IS NULL AND chain_prev_hash IS NULL`, fmt.Sprint(v2PreChain)},
		{`SELECT count(*) FROM events WHERE node_id = '` + v2NodeDev + `' AND chain_seq IS NOT NULL`, fmt.Sprint(v2DevStamped)},
		{`SELECT count(*) FROM events WHERE node_id = '` + v2NodeCI + `' AND chain_seq IS NOT NULL`, fmt.Sprint(v2CIStamped)},
		{`SELECT count(*) FROM events WHERE event_type = 'llm_usage' AND cost_usd IS NULL`, "4"},
		{`SELECT count(*) FROM chain_heads`, "2"},
	} {
		if got := rawValue(t, path, c.q); got != c.want {
			t.Errorf("%s = %s; want %s", c.q, got, c.want)
		}
	}
	// Every chain recomputes from genesis, and the heads are the last rows.
	heads := headsPath(t, path)
	for node, n := range map[string]int{v2NodeDev: v2DevStamped, v2NodeCI: v2CIStamped} {
		chain := chainOf(t, path, node)
		prev := chainlog.GenesisHash
		for i, r := range chain {
			if r.Seq != int64(i+1) || r.PrevHash != prev || r.Hash != chainlog.ChainHash(prev, &r.Event) {
				t.Errorf("%s seq %d (%s): prev %s hash %s; want seq %d linked to %s with its recomputed hash", node, r.Seq, r.ID, r.PrevHash, r.Hash, i+1, prev)
			}
			prev = r.Hash
		}
		if h := heads[node]; len(chain) != n || h.Seq != int64(n) || h.Hash != prev {
			t.Errorf("%s: %d rows, head (seq %d, %s); want %d rows, head (seq %d, %s)", node, len(chain), h.Seq, h.Hash, n, n, prev)
		}
	}
}

func TestMigrateChainlogV2(t *testing.T) {
	t.Parallel()
	path := copyFixture(t, chainlogV2)

	// 1. Read-only: chains verify, every stamped row is unsealed, nothing
	// is written.
	sum := fileSHA(t, path)
	st := openRO(t, path)
	rep := mustVerify(t, st, "")
	oldRows := exportStore(t, st, "")
	closeStore(t, st)
	wantValid(t, rep, v2Stamped, v2PreChain)
	if rep.PayloadsUnsealed != v2Stamped || rep.PayloadsChecked != 0 {
		t.Errorf("read-only: payloads unsealed, checked = %d, %d; want %d, 0", rep.PayloadsUnsealed, rep.PayloadsChecked, v2Stamped)
	}
	if rep.Amendments.Status != chainlog.StatusEmpty || rep.Amendments.Checked != 0 {
		t.Errorf("read-only: amendments report = %+v; want empty", rep.Amendments)
	}
	for _, w := range []struct {
		node              string
		checked, preChain int64
	}{{v2NodeDev, v2DevStamped, v2DevPreChain}, {v2NodeCI, v2CIStamped, v2CIPreChain}} {
		if n := nodeReport(t, rep, w.node); n.Status != chainlog.StatusValid || n.Checked != w.checked || n.PreChain != w.preChain || n.PayloadsUnsealed != w.checked {
			t.Errorf("node %q: status, checked, pre_chain, unsealed = %q, %d, %d, %d; want valid, %d, %d, %d",
				w.node, n.Status, n.Checked, n.PreChain, n.PayloadsUnsealed, w.checked, w.preChain, w.checked)
		}
	}
	if len(oldRows) != v2AllRows {
		t.Fatalf("read-only export: %d rows; want %d", len(oldRows), v2AllRows)
	}
	old := map[string]chainlog.StoredEvent{}
	for _, r := range oldRows {
		if r.PayloadDigest != "" {
			t.Errorf("%s: payload digest %q in a store without the column", r.ID, r.PayloadDigest)
		}
		old[r.ID] = r
	}
	if fileSHA(t, path) != sum {
		t.Fatal("OpenReadOnly changed the fixture's bytes")
	}

	// 2. Open upgrades in place; old rows stay unsealed, chains stay valid.
	closeStore(t, openStore(t, path, sqlite.Options{}))
	if v := userVersion(t, path); v != sqlite.SchemaVersion {
		t.Errorf("user_version = %d; want SchemaVersion %d", v, sqlite.SchemaVersion)
	}
	if !tableColumns(t, path, "events")["payload_digest"] {
		t.Error("events has no payload_digest column after the upgrade")
	}
	for _, table := range []string{"amendments", "amendment_head"} {
		if len(tableColumns(t, path, table)) == 0 {
			t.Errorf("no %s table after the upgrade", table)
		}
	}
	if got := rawValue(t, path, `SELECT count(*) FROM events WHERE payload_digest IS NOT NULL`); got != "0" {
		t.Errorf("the upgrade sealed %s old rows; want 0", got)
	}
	upgraded := exportPath(t, path, "")
	if len(upgraded) != len(oldRows) {
		t.Fatalf("%d rows after the upgrade; want %d", len(upgraded), len(oldRows))
	}
	for i := range upgraded {
		if !sameStored(upgraded[i], oldRows[i]) {
			t.Errorf("row %d changed by the upgrade:\n got  %+v\n want %+v", i, upgraded[i], oldRows[i])
		}
	}
	rep = verifyPath(t, path, "")
	wantValid(t, rep, v2Stamped, v2PreChain)
	if rep.PayloadsUnsealed != v2Stamped || rep.PayloadsChecked != 0 || rep.Amendments.Status != chainlog.StatusEmpty {
		t.Errorf("after upgrade: payloads unsealed, checked = %d, %d, amendments %q; want %d, 0, empty",
			rep.PayloadsUnsealed, rep.PayloadsChecked, rep.Amendments.Status, v2Stamped)
	}

	// 3. New events are sealed and continue the old chains.
	heads := headsPath(t, path)
	st = openStore(t, path, sqlite.Options{})
	newEvents := append(mkEvents(t, v2NodeDev, 0, 2), mkEvents(t, v2NodeCI, 0, 2)...)
	newEvents = append(newEvents, mkEvents(t, "node-new", 0, 1)...)
	ingest(t, st, newEvents...)
	closeStore(t, st)
	for _, e := range newEvents {
		r := exportOne(t, path, e.ID)
		m := r.Mutable()
		if r.PayloadDigest == "" || r.PayloadDigest != chainlog.PayloadDigest(&m) {
			t.Errorf("%s: payload_digest %q; want %s", r.ID, r.PayloadDigest, chainlog.PayloadDigest(&m))
		}
	}
	for node, h := range heads {
		if next := chainOf(t, path, node)[h.Seq]; next.Seq != h.Seq+1 || next.PrevHash != h.Hash {
			t.Errorf("%s: first new row (seq %d, prev %s); want (seq %d, prev %s)", node, next.Seq, next.PrevHash, h.Seq+1, h.Hash)
		}
	}
	rep = verifyPath(t, path, "")
	wantValid(t, rep, v2Stamped+5, v2PreChain)
	if rep.PayloadsUnsealed != v2Stamped || rep.PayloadsChecked != 5 {
		t.Errorf("after new ingests: payloads unsealed, checked = %d, %d; want %d, 5", rep.PayloadsUnsealed, rep.PayloadsChecked, v2Stamped)
	}

	// 4. Amending old rows in the middle of a chain seals them through the
	// trail; the unsealed rows around them stay unsealed, not broken.
	const corrected, redacted = "7a1e0c52-0005", "7a1e0c52-0007" // dev-laptop.lan seq 3 and 5
	st = openStore(t, path, sqlite.Options{})
	recs := mustAmend(t, st,
		amendReq(corrected, "byte count corrected", chainlog.Patch{Set: []string{chainlog.FieldData},
			Values: chainlog.Mutable{Data: json.RawMessage(`{"tool":"read_file","ok":true,"bytes":2290}`)}}),
		sqlite.AmendRequest{EventID: redacted, Kind: chainlog.KindRedact, Reason: "client names in a path", Actor: "dpo",
			Patch: chainlog.Patch{Set: []string{chainlog.FieldData}, Values: chainlog.Mutable{Data: json.RawMessage(`{"redacted":true}`)}}})
	closeStore(t, st)
	for _, rec := range recs {
		r := old[rec.EventID]
		m := r.Mutable()
		if rec.DigestBefore != chainlog.PayloadDigest(&m) {
			t.Errorf("%s: digest_before %s; want the digest of its unsealed fields %s", rec.EventID, rec.DigestBefore, chainlog.PayloadDigest(&m))
		}
	}
	rep = verifyPath(t, path, "")
	wantValidAnchored(t, rep, v2Stamped+5, v2PreChain, 1)
	if rep.PayloadsUnsealed != v2Stamped-2 || rep.PayloadsChecked != 7+1 {
		t.Errorf("after amending: payloads unsealed, checked = %d, %d; want %d, 7+1 (the anchor)", rep.PayloadsUnsealed, rep.PayloadsChecked, v2Stamped-2)
	}
	if a := rep.Amendments; a.Status != chainlog.StatusValid || a.Checked != 2 || a.HeadSeq != 2 {
		t.Errorf("amendments report = %+v; want valid, 2 records", a)
	}

	// 5. A raw UPDATE of a row that is still unsealed goes unseen; of a row
	// sealed through the trail, it is caught.
	attack(t, path, rawSQL(`UPDATE events SET data = '{"tool":"bash","args":{"cmd":"true"}}' WHERE id = 'b3f09d11-0002'`))
	wantValidAnchored(t, verifyPath(t, path, ""), v2Stamped+5, v2PreChain, 1)
	attack(t, path, rawSQL(`UPDATE events SET data = '{"tool":"read_file","ok":false}' WHERE id = ?`, corrected))
	m := chainlog.Mutable{Data: json.RawMessage(`{"tool":"read_file","ok":false}`)}
	wantBreak(t, verifyPath(t, path, ""), chainlog.Break{NodeID: v2NodeDev, Seq: old[corrected].Seq, EventID: corrected,
		Reason: chainlog.ReasonPayloadChanged, Expected: recs[0].DigestAfter, Found: chainlog.PayloadDigest(&m)})
}

// exportOne returns the stored row id through a read-only open.
func exportOne(t *testing.T, path, id string) chainlog.StoredEvent {
	t.Helper()
	st := openRO(t, path)
	defer st.Close()
	e, err := st.Event(t.Context(), id)
	if err != nil {
		t.Fatalf("Event(%q): %v", id, err)
	}
	return *e
}

// TestMigrateChainlogV2Backfill costs the old rows of an upgraded store,
// pre-chain and stamped, in the middle of their chains: each gets one
// amendment whose digest_before is the digest of its old fields, the store
// stays valid, and a later raw UPDATE of any of them is caught.
func TestMigrateChainlogV2Backfill(t *testing.T) {
	t.Parallel()
	path := copyFixture(t, chainlogV2)
	old := map[string]chainlog.StoredEvent{}
	for _, r := range exportPath(t, path, "") {
		old[r.ID] = r
	}

	st := openStore(t, path, sqlite.Options{})
	res, err := st.BackfillCosts(t.Context(), pricing.Default())
	if err != nil {
		t.Fatalf("BackfillCosts: %v", err)
	}
	closeStore(t, st)
	if want := (sqlite.BackfillResult{Costed: 4, TokensFilled: 3, NoUsage: 11}); res != want {
		t.Errorf("backfill result = %+v; want %+v", res, want)
	}
	rep := verifyPath(t, path, "")
	wantValidAnchored(t, rep, v2Stamped, v2PreChain, 1)
	// Sealed through the trail: one pre-chain row and three stamped ones;
	// and the backfill's anchor, sealed at ingest.
	if rep.PayloadsChecked != 4+1 || rep.PayloadsUnsealed != v2Stamped-3 {
		t.Errorf("payloads checked, unsealed = %d, %d; want 4+1, %d", rep.PayloadsChecked, rep.PayloadsUnsealed, v2Stamped-3)
	}
	if a := rep.Amendments; a.Status != chainlog.StatusValid || a.Checked != 4 {
		t.Errorf("amendments report = %+v; want valid, 4 records", a)
	}
	recs := map[string]chainlog.Amendment{}
	for _, id := range []string{"7a1e0c52-0002", "7a1e0c52-0004", "b3f09d11-0003", "b3f09d11-0005"} {
		trail := trailOf(t, path, id)
		if len(trail) != 1 {
			t.Fatalf("%s: %d amendments; want 1", id, len(trail))
		}
		r := old[id]
		m := r.Mutable()
		if a := trail[0]; a.Actor != sqlite.BackfillActor || a.DigestBefore != chainlog.PayloadDigest(&m) {
			t.Errorf("%s: actor %q, digest_before %s; want %q, %s", id, a.Actor, a.DigestBefore, sqlite.BackfillActor, chainlog.PayloadDigest(&m))
		}
		recs[id] = trail[0]
	}

	// A stamped row in the middle of dev-laptop.lan's chain.
	const stamped = "7a1e0c52-0004"
	attack(t, path, rawSQL(`UPDATE events SET cost_usd = 9.99 WHERE id = ?`, stamped))
	m := mutableOf(t, path, stamped)
	wantBreak(t, verifyPath(t, path, ""), chainlog.Break{NodeID: v2NodeDev, Seq: old[stamped].Seq, EventID: stamped,
		Reason: chainlog.ReasonPayloadChanged, Expected: recs[stamped].DigestAfter, Found: chainlog.PayloadDigest(&m)})

	// A pre-chain row comes first in its node's walk: its break, with seq
	// 0, is now the first.
	const preChain = "7a1e0c52-0002"
	attack(t, path, rawSQL(`UPDATE events SET token_count = 1 WHERE id = ?`, preChain))
	m = mutableOf(t, path, preChain)
	wantBreak(t, verifyPath(t, path, ""), chainlog.Break{NodeID: v2NodeDev, Seq: 0, EventID: preChain,
		Reason: chainlog.ReasonPayloadChanged, Expected: recs[preChain].DigestAfter, Found: chainlog.PayloadDigest(&m)})
}
