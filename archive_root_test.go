package chainlog

import (
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// TestAddSubtree builds every tree of up to 40 leaves with each leaf of
// a run replaced by the stored hashes of the subtrees around it, and
// compares the root with the tree of the leaves alone.
func TestAddSubtree(t *testing.T) {
	leaf := func(i int64) tlog.Hash { return tlog.RecordHash(fmt.Appendf(nil, "leaf %d", i)) }
	for n := int64(1); n <= 40; n++ {
		var all TreeBuilder
		var hashes []tlog.Hash
		for i := range n {
			h, err := tlog.StoredHashes(i, fmt.Appendf(nil, "leaf %d", i), tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
				out := make([]tlog.Hash, len(idx))
				for j, x := range idx {
					out[j] = hashes[x]
				}
				return out, nil
			}))
			if err != nil {
				t.Fatal(err)
			}
			hashes = append(hashes, h...)
			all.Add(leaf(i))
		}
		for keep := range n { // one leaf kept, the others as subtrees
			var b TreeBuilder
			add := func(from, to int64) {
				for from < to {
					level := 0
					for from&(1<<(level+1)-1) == 0 && to-from >= 1<<(level+1) {
						level++
					}
					if err := b.AddSubtree(level, hashes[tlog.StoredHashIndex(level, from>>level)]); err != nil {
						t.Fatal(err)
					}
					from += 1 << level
				}
			}
			add(0, keep)
			b.Add(leaf(keep))
			add(keep+1, n)
			if b.Size() != n || b.Root() != all.Root() {
				t.Fatalf("n %d, leaf %d kept: size %d, root differs", n, keep, b.Size())
			}
		}
	}
	var b TreeBuilder
	b.Add(tlog.Hash{})
	if err := b.AddSubtree(1, tlog.Hash{}); err == nil {
		t.Error("a subtree of 2 leaves at leaf 1: no error")
	}
}

// TestChainCheck: a run of a chain checks from genesis, or from an
// anchor, and a row out of place is a break.
func TestChainCheck(t *testing.T) {
	var h Hasher
	var rows []StoredEvent
	head := Head{}
	for i := range 4 {
		e := Event{ID: fmt.Sprint("e", i), AgentType: "a", NodeID: "n", AgentID: "x", EventType: "t", TS: "1"}
		next := head.Next(&h, &e, "")
		rows = append(rows, StoredEvent{Event: e, Seq: next.Seq, PrevHash: head.Prev(), Hash: next.Hash})
		head = next
	}
	c := NewChainCheck("n", 0, GenesisHash)
	for i := range rows {
		if b := c.Next(&rows[i]); b != nil {
			t.Fatalf("row %d: %+v", i, b)
		}
	}
	if seq, hash, id := c.Last(); seq != 4 || hash != head.Hash || id != "e3" {
		t.Fatalf("last %d %s %s", seq, hash, id)
	}
	c = NewChainCheck("n", 2, rows[1].Hash)
	if b := c.Next(&rows[2]); b != nil {
		t.Fatalf("from the anchor: %+v", b)
	}
	if b := c.Next(&rows[2]); b == nil || b.Reason != ReasonFork {
		t.Fatalf("a row twice: %+v", b)
	}
	edited := rows[3]
	edited.TS = "2"
	if b := c.Next(&edited); b == nil || b.Reason != ReasonHashMismatch || b.EventID != "e3" {
		t.Fatalf("an edited row: %+v", b)
	}
	if b := NewChainCheck("n", 2, GenesisHash).Next(&rows[2]); b == nil || b.Reason != ReasonPrevMismatch {
		t.Fatalf("another anchor: %+v", b)
	}
}

// TestDecodeStoredEvent reads back what MarshalJSON writes, and refuses
// other text for the same row.
func TestDecodeStoredEvent(t *testing.T) {
	sess := "s"
	leaf := int64(7)
	for _, e := range []StoredEvent{
		{Event: Event{ID: "a", AgentType: "t", NodeID: "n", AgentID: "x", SessionID: &sess, EventType: "e", TS: "1", Data: []byte(`{"k":"<&>"}`)},
			Seq: 1, PrevHash: GenesisHash, Hash: GenesisHash, PayloadDigest: GenesisHash, LeafIndex: &leaf, CreatedAt: "c"},
		{Event: Event{ID: "b", Data: []byte(`not json`)}},
		{Event: Event{ID: "c", Data: []byte(`"a json string"`)}},
	} {
		line, err := e.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeStoredEvent(line)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		again, _ := got.MarshalJSON()
		if text, ok := DataAsText(got.Data); ok && string(e.Data) == string(text) {
			got.Data = text // text that is not JSON, exported as a JSON string
		}
		if string(again) != string(line) || string(got.Data) != string(e.Data) {
			t.Fatalf("%s read back as %s (data %q)", line, again, got.Data)
		}
	}
	for _, bad := range []string{
		`{"id":"a"}`,
		`{"id":"a","agent_type":"","node_id":"","agent_id":"","session_id":null,"workspace_id":null,"event_type":"","ts":"","data":null,"cost_usd":null,"token_count":null,"model":null,"created_at":"","chain_seq":null,"chain_prev_hash":null,"chain_hash":null,"payload_digest":null,"leaf_index":null,"id":"b"}`,
		`{"id":"a","agent_type":"","node_id":"","agent_id":"","session_id":null,"workspace_id":null,"event_type":"","ts":"","data":null,"cost_usd":null,"token_count":null,"model":null,"created_at":"","chain_seq":null,"chain_prev_hash":"","chain_hash":null,"payload_digest":null,"leaf_index":null}`,
		`{"id":"a","agent_type":"","node_id":"","agent_id":"","session_id":null,"workspace_id":null,"event_type":"","ts":"","data":null,"cost_usd":null,"token_count":null,"model":null,"created_at":"","chain_seq":null,"chain_prev_hash":null,"chain_hash":null,"payload_digest":null,"leaf_index":null,"extra":1}`,
	} {
		if _, err := DecodeStoredEvent([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
