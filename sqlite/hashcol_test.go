package sqlite_test

import (
	"strings"
	"testing"

	"chainlog"
	"chainlog/sqlite"
)

// hashStore is a store of two nodes' events with every integrity feature
// on, closed.
func hashStore(t *testing.T) string {
	t.Helper()
	return buildStore(t, sqlite.Options{}, mkEvents(t, "node-a", 0, 6), mkEvents(t, "node-b", 0, 4))
}

// TestHashesStoredAsBlobs: chainlog writes the three hashes of a row as
// 32-byte blobs, and reads them back as the hex the chain rule uses.
func TestHashesStoredAsBlobs(t *testing.T) {
	path := hashStore(t)
	for _, col := range []string{"chain_prev_hash", "chain_hash", "payload_digest"} {
		q := `SELECT count(*) FROM events WHERE typeof(` + col + `) != 'blob' OR length(` + col + `) != 32`
		if got := rawValue(t, path, q); got != "0" {
			t.Errorf("%s: %s rows not a 32-byte blob", col, got)
		}
	}
	if rep := verifyStorePath(t, path, "", nil); rep.Status != chainlog.StatusValid {
		t.Fatalf("status %s: %v", rep.Status, rep.BrokenAt)
	}
	for _, r := range chainOf(t, path, "node-a") {
		for name, h := range map[string]string{"prev": r.PrevHash, "hash": r.Hash, "digest": r.PayloadDigest} {
			if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
				t.Errorf("seq %d: %s = %q; want 64 lowercase hex characters", r.Seq, name, h)
			}
		}
	}
}

// TestHashStorageForms: what the verifier makes of each form a hash
// column can be given outside chainlog.
func TestHashStorageForms(t *testing.T) {
	const row = `node_id = 'node-a' AND chain_seq = 3`
	for _, tc := range []struct {
		name   string
		set    string // the assignment made to the row
		valid  bool
		reason string
	}{
		// The same hash, as a store from before version 9 holds it.
		{"chain_hash as its lowercase hex text", `chain_hash = lower(hex(chain_hash))`, true, ""},
		{"payload_digest as its lowercase hex text", `payload_digest = lower(hex(payload_digest))`, true, ""},
		// Upper-case hex is not the text the chain rule hashes: it would be
		// wrong to read it as the same hash.
		{"chain_hash as upper-case hex", `chain_hash = upper(hex(chain_hash))`, false, chainlog.ReasonHashMismatch},
		// A blob of another length matches no hash: the row breaks at
		// its first check (the chain's come before the storage class's).
		{"chain_hash cut to 31 bytes", `chain_hash = substr(chain_hash, 1, 31)`, false, chainlog.ReasonHashMismatch},
		{"chain_prev_hash grown to 33 bytes", `chain_prev_hash = chain_prev_hash || x'00'`, false, chainlog.ReasonPrevMismatch},
		{"payload_digest as an empty blob", `payload_digest = x''`, false, chainlog.ReasonPayloadUnsealedRow},
		{"chain_hash as a number", `chain_hash = 7`, false, chainlog.ReasonHashMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := hashStore(t)
			attack(t, path, rawSQL(`UPDATE events SET `+tc.set+` WHERE `+row))
			rep := verifyStorePath(t, path, "", nil)
			if tc.valid {
				if rep.Status != chainlog.StatusValid {
					t.Fatalf("status %s: %v; want valid", rep.Status, rep.BrokenAt)
				}
				return
			}
			if rep.Status != chainlog.StatusInvalid || rep.BrokenAt == nil {
				t.Fatalf("status %s; want invalid", rep.Status)
			}
			if b := rep.BrokenAt; b.Reason != tc.reason || b.NodeID != "node-a" || b.Seq != 3 {
				t.Errorf("break %s seq %d: %q; want node-a seq 3: %q", b.NodeID, b.Seq, b.Reason, tc.reason)
			}
		})
	}
}

// TestMigrateHexHashes: a store from before version 9, whose hashes are
// hex text, is converted in place by the next writer. Its export, chain
// hashes included, is unchanged, and a value that is not a hash's
// lowercase hex stays as it was, still reported.
func TestMigrateHexHashes(t *testing.T) {
	for _, tampered := range []bool{false, true} {
		name := map[bool]string{false: "clean", true: "with an upper-case hash"}[tampered]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := hashStore(t)
			before := exportPath(t, path, "")
			stmts := []rawStmt{
				rawSQL(`UPDATE events SET chain_prev_hash = lower(hex(chain_prev_hash)),
					chain_hash = lower(hex(chain_hash)), payload_digest = lower(hex(payload_digest))`),
				rawSQL(`PRAGMA user_version = 8`),
			}
			if tampered {
				stmts = append(stmts, rawSQL(`UPDATE events SET chain_hash = upper(chain_hash) WHERE node_id = 'node-b' AND chain_seq = 2`))
			}
			attack(t, path, stmts...)
			if got := rawValue(t, path, `SELECT count(*) FROM events WHERE typeof(chain_hash) = 'text'`); got != "10" {
				t.Fatalf("%s rows hold text before the upgrade; want 10", got)
			}
			check := func(when string) {
				rep := verifyStorePath(t, path, "", nil)
				if !tampered {
					if rep.Status != chainlog.StatusValid {
						t.Fatalf("%s: status %s: %v", when, rep.Status, rep.BrokenAt)
					}
					return
				}
				if b := rep.BrokenAt; rep.Status != chainlog.StatusInvalid || b == nil || b.NodeID != "node-b" || b.Seq != 2 || b.Reason != chainlog.ReasonHashMismatch {
					t.Fatalf("%s: status %s, break %+v; want node-b seq 2: %s", when, rep.Status, rep.BrokenAt, chainlog.ReasonHashMismatch)
				}
			}
			check("before the upgrade")

			st, err := sqlite.Open(t.Context(), path, sqlite.Options{Now: testClock()})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			closeStore(t, st)
			if v := userVersion(t, path); v != sqlite.SchemaVersion {
				t.Fatalf("user_version = %d; want %d", v, sqlite.SchemaVersion)
			}
			wantText := "0"
			if tampered {
				wantText = "1"
			}
			if got := rawValue(t, path, `SELECT count(*) FROM events WHERE typeof(chain_hash) = 'text'`); got != wantText {
				t.Errorf("%s rows hold text after the upgrade; want %s", got, wantText)
			}
			if got := rawValue(t, path, `SELECT count(*) FROM events WHERE typeof(payload_digest) != 'blob' OR typeof(chain_prev_hash) != 'blob'`); got != "0" {
				t.Errorf("%s rows hold a digest or prev hash that is not a blob after the upgrade", got)
			}
			check("after the upgrade")
			after := exportPath(t, path, "")
			if len(after) != len(before) {
				t.Fatalf("export: %d rows after, %d before", len(after), len(before))
			}
			for i := range before {
				b, a := before[i], after[i]
				if tampered && a.NodeID == "node-b" && a.Seq == 2 {
					continue
				}
				if a.ID != b.ID || a.Hash != b.Hash || a.PrevHash != b.PrevHash || a.PayloadDigest != b.PayloadDigest {
					t.Errorf("row %d: %s %s %s %s after; %s %s %s %s before", i, a.ID, a.PrevHash, a.Hash, a.PayloadDigest, b.ID, b.PrevHash, b.Hash, b.PayloadDigest)
				}
			}
		})
	}
}

// TestHeadHeldAsBlob: a chain head is kept as hex text, but one set to
// its hash's blob (as an UPDATE copying events.chain_hash writes it) is
// the same hash, as it is in the events table: verify-integrity reads it
// so, and the next writer moves the head from it instead of taking it for
// another writer's move and giving up.
func TestHeadHeldAsBlob(t *testing.T) {
	path := hashStore(t)
	attack(t, path, rawSQL(`UPDATE chain_heads SET chain_hash =
		(SELECT chain_hash FROM events WHERE node_id = 'node-a' ORDER BY chain_seq DESC LIMIT 1)
		WHERE node_id = 'node-a'`))
	if got := rawValue(t, path, `SELECT typeof(chain_hash) FROM chain_heads WHERE node_id = 'node-a'`); got != "blob" {
		t.Fatalf("the head holds %s; want the blob the attack wrote", got)
	}
	if rep := verifyStorePath(t, path, "", nil); rep.Status != chainlog.StatusValid {
		t.Fatalf("status %s: %v; want valid", rep.Status, rep.BrokenAt)
	}
	st := openStore(t, path, sqlite.Options{Now: testClock()})
	res, err := st.Ingest(t.Context(), mkEvents(t, "node-a", 6, 8))
	closeStore(t, st)
	if err != nil {
		t.Fatalf("Ingest after the head was set to a blob: %v", err)
	}
	if res.Inserted != 2 {
		t.Fatalf("inserted %d; want 2", res.Inserted)
	}
	if got := rawValue(t, path, `SELECT typeof(chain_hash) FROM chain_heads WHERE node_id = 'node-a'`); got != "text" {
		t.Errorf("the moved head holds %s; want text", got)
	}
	if rep := verifyStorePath(t, path, "", nil); rep.Status != chainlog.StatusValid || rep.Nodes[0].Checked != 8 {
		t.Fatalf("status %s, %+v: %v; want valid with node-a's 8 rows", rep.Status, rep.Nodes, rep.BrokenAt)
	}
}
