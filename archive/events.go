package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"chainlog"
)

// readAmendments reads amendments.jsonl: each record as the store's
// history writes it, its hash recomputed, in increasing seq order, none a
// prune record.
func (v *verifier) readAmendments(context.Context) error {
	v.amends = map[string][]*amendLine{}
	var last int64
	return v.lines(AmendmentsFile, func(n int64, line []byte) error {
		a, err := decodeAmendment(line)
		if err != nil {
			return &Error{File: AmendmentsFile, Line: n, Reason: err.Error()}
		}
		bad := func(reason, expected, found string) error {
			return &Error{File: AmendmentsFile, Line: n, Reason: fmt.Sprintf("amendment %d of event %q: %s", a.Seq, a.EventID, reason),
				Expected: expected, Found: found}
		}
		switch got := chainlog.AmendmentHash(a.PrevHash, &a); {
		case got != a.Hash:
			return bad(chainlog.ReasonAmendHash, got, a.Hash)
		case a.Seq <= last:
			return bad("out of seq order", fmt.Sprintf("a seq after %d", last), fmt.Sprint(a.Seq))
		case a.Kind == chainlog.KindPrune || a.EventID == "":
			return bad("a prune record is not an event's amendment", "", "")
		}
		last = a.Seq
		v.amends[a.EventID] = append(v.amends[a.EventID], &amendLine{Amendment: a, line: n})
		v.nAmend++
		return nil
	})
}

// decodeAmendment reads one line of amendments.jsonl, exactly as
// encodeAmendment writes it.
func decodeAmendment(line []byte) (chainlog.Amendment, error) {
	var a chainlog.Amendment
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return a, fmt.Errorf("not an amendment record: %v", err)
	}
	again, err := encodeAmendment(&a)
	if err != nil || !bytes.Equal(again[:len(again)-1], line) {
		return a, fmt.Errorf("not an amendment record as the store's history writes it")
	}
	return a, nil
}

// eventWalk is the state of the pass over events.jsonl: the last leaf,
// and the tree built from the events' leaves and tree.jsonl's pieces.
type eventWalk struct {
	v       *verifier
	tree    chainlog.TreeBuilder
	pieces  *pieceReader
	hs      chainlog.Hasher
	last    int64 // the last event's leaf, -1 before the first
	pending *Error
}

// checkEvents reads events.jsonl once, in step with tree.jsonl, then
// checks that every cut was complete, every amendment record used, and
// that the tree has the checkpoint's root.
func (v *verifier) checkEvents(ctx context.Context) error {
	pr, err := v.openPieces()
	if err != nil {
		return err
	}
	defer pr.close()
	w := &eventWalk{v: v, pieces: pr, last: -1}
	err = v.lines(EventsFile, func(n int64, line []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return w.event(n, line)
	})
	if err != nil {
		return err
	}
	if err := v.checkCuts(); err != nil {
		return err
	}
	if err := v.checkUsed(); err != nil {
		return err
	}
	return w.finish()
}

func (w *eventWalk) event(n int64, line []byte) error {
	e, err := chainlog.DecodeStoredEvent(line)
	if err != nil {
		return &Error{File: EventsFile, Line: n, Reason: err.Error()}
	}
	bad := func(reason, expected, found string) error {
		return &Error{File: EventsFile, Line: n, EventID: e.ID, NodeID: e.NodeID, Seq: e.Seq, Reason: reason, Expected: expected, Found: found}
	}
	nc := w.v.nodes[e.NodeID]
	switch {
	case nc == nil:
		return bad("its node has no cut in the manifest", "", "")
	case e.Seq < nc.cut.FirstSeq || e.Seq > nc.cut.LastSeq:
		return bad(fmt.Sprintf("outside its node's cut, seq %d-%d", nc.cut.FirstSeq, nc.cut.LastSeq), "", "")
	}
	if b := nc.chain.Next(&e); b != nil {
		reason := b.Reason
		if b.Detail != "" {
			reason += ": " + b.Detail
		}
		return bad(reason, b.Expected, b.Found)
	}
	nc.count++
	if err := w.v.checkPayload(&e, &w.hs); err != nil {
		err.File, err.Line = EventsFile, n
		return err
	}
	switch {
	case e.LeafIndex == nil:
		return bad("it has no leaf_index", "a leaf", "null")
	case *e.LeafIndex <= w.last:
		return bad("out of commit order: its leaf is not after the event before's", fmt.Sprintf("a leaf after %d", w.last), fmt.Sprint(*e.LeafIndex))
	case *e.LeafIndex >= w.v.cp.Size:
		return bad("its leaf is not in the checkpoint's tree", fmt.Sprintf("a leaf below %d", w.v.cp.Size), fmt.Sprint(*e.LeafIndex))
	}
	w.last = *e.LeafIndex
	if w.pending != nil {
		return nil // the tree is broken already
	}
	if err := w.pieces.fill(&w.tree, *e.LeafIndex); err != nil {
		// An event dropped or moved leaves a hole the tree hashes do not
		// fill; the chain of its node names it better, further on.
		err.EventID, err.NodeID, err.Seq = e.ID, e.NodeID, e.Seq
		err.Reason += ": an event before this one was dropped or moved, or a tree hash is missing"
		w.pending = err
		return nil
	}
	w.tree.Add(chainlog.LeafHash(&chainlog.Leaf{NodeID: e.NodeID, Seq: e.Seq, ChainHash: e.Hash, PayloadDigest: e.PayloadDigest}))
	return nil
}

// checkPayload checks e's mutable fields against its ingest digest through
// its amendment records: each starts from the digest the one before left,
// and the last leaves the fields e has.
func (v *verifier) checkPayload(e *chainlog.StoredEvent, hs *chainlog.Hasher) *Error {
	want := e.PayloadDigest
	recs := v.amends[e.ID]
	if want == "" && len(recs) == 0 {
		return nil // stored before payload digests
	}
	for _, a := range recs {
		if a.DigestBefore != want {
			return &Error{EventID: e.ID, NodeID: e.NodeID, Seq: e.Seq,
				Reason:   fmt.Sprintf("amendment %d does not start from the event's payload digest before it: %s", a.Seq, chainlog.ReasonAmendBefore),
				Expected: want, Found: a.DigestBefore}
		}
		want = a.DigestAfter
		a.used = true
	}
	m := e.Mutable()
	got := hs.PayloadSum(&m)
	if text, ok := chainlog.DataAsText(m.Data); ok && got != want {
		// Export writes text that is not JSON as a JSON string.
		m.Data = text
		if alt := hs.PayloadSum(&m); alt == want {
			got = alt
		}
	}
	if got != want {
		return &Error{EventID: e.ID, NodeID: e.NodeID, Seq: e.Seq,
			Reason: "its data, cost_usd, token_count and model are not what its payload digest and amendments say", Expected: want, Found: got}
	}
	return nil
}

// checkCuts checks that each node's events ran through its whole cut to
// its anchor.
func (v *verifier) checkCuts() error {
	for i := range v.m.Nodes {
		n := &v.m.Nodes[i]
		nc := v.nodes[n.NodeID]
		seq, hash, id := nc.chain.Last()
		switch {
		case seq != n.LastSeq:
			return &Error{File: EventsFile, EventID: id, NodeID: n.NodeID, Seq: seq,
				Reason:   fmt.Sprintf("the node's events end at seq %d, before the cut's last seq: events are missing", seq),
				Expected: fmt.Sprint(n.LastSeq), Found: fmt.Sprint(seq)}
		case hash != n.Anchor:
			return &Error{File: EventsFile, EventID: id, NodeID: n.NodeID, Seq: seq,
				Reason: "the last event's chain hash is not the cut's anchor", Expected: n.Anchor, Found: hash}
		case nc.count != n.Count:
			return &Error{File: EventsFile, NodeID: n.NodeID, Reason: "the node's events are not the cut's count", Expected: fmt.Sprint(n.Count), Found: fmt.Sprint(nc.count)}
		}
	}
	return nil
}

// checkUsed refuses an amendment record of no event of the archive.
func (v *verifier) checkUsed() error {
	if v.nAmend != v.m.Amendments {
		return &Error{File: ManifestFile, Reason: "\"amendments\" is not the records of amendments.jsonl", Expected: fmt.Sprint(v.nAmend), Found: fmt.Sprint(v.m.Amendments)}
	}
	for id, recs := range v.amends {
		for _, a := range recs {
			if !a.used {
				return &Error{File: AmendmentsFile, Line: a.line, Reason: fmt.Sprintf("amendment %d is of event %q, which the archive does not hold", a.Seq, id)}
			}
		}
	}
	return nil
}

// finish adds the pieces after the last event and compares the root.
func (w *eventWalk) finish() error {
	if w.pending != nil {
		return w.pending
	}
	if err := w.pieces.fill(&w.tree, w.v.cp.Size); err != nil {
		return err
	}
	if err := w.pieces.end(); err != nil {
		return err
	}
	if w.pieces.count != w.v.m.TreeHashes {
		return &Error{File: ManifestFile, Reason: "\"tree_hashes\" is not the lines of tree.jsonl", Expected: fmt.Sprint(w.pieces.count), Found: fmt.Sprint(w.v.m.TreeHashes)}
	}
	if root := w.tree.Root(); root != w.v.cp.Root {
		return &Error{File: TreeFile, Reason: "the events' leaves and the tree hashes do not make the checkpoint's root: " +
			"an event or a tree hash is not the log's (a chain rewritten to its anchor, or a forged tree hash)",
			Expected: root64(w.v.cp.Root), Found: root64(root)}
	}
	return nil
}
