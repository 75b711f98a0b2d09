package chainlog

import (
	"context"
	"errors"
	"fmt"
)

// nodeVerifier walks one node's chain in chain_seq order and recomputes
// every hash. It keeps O(1) state: the previous row's seq and hashes.
type nodeVerifier struct {
	report NodeReport
	hasher Hasher
	last   link // the last row accepted
	sealed bool // a stamped row with a payload digest was seen
	cut    pruneCut
}

// newNodeVerifier returns a verifier for nodeID's chain; plan (nil when
// there is none) says which of its rows are husks of a prune.
func newNodeVerifier(nodeID string, plan *prunePlan) *nodeVerifier {
	v := &nodeVerifier{report: NodeReport{NodeID: nodeID}, last: link{hash: GenesisHash}}
	if plan != nil {
		v.cut = plan.cuts[nodeID]
	}
	return v
}

// husk reports whether the stamped row at seq is a husk of a prune.
func (v *nodeVerifier) husk(seq int64) bool {
	return seq >= 1 && seq <= v.cut.last
}

// addHusk checks a husk's link; it reports whether the husk was taken.
func (v *nodeVerifier) addHusk(e *StoredEvent) bool {
	if b := huskLink(v.report.NodeID, v.last, e, v.cut); b != nil {
		return false
	}
	v.report.Pruned++
	v.last = link{seq: e.Seq, hash: e.Hash, prev: e.PrevHash, id: e.ID}
	return true
}

// Add checks the next row of the chain. Rows must come in the order
// chainSource.ScanChains gives. After the first break, rows are counted but
// no longer checked.
func (v *nodeVerifier) Add(e *StoredEvent) {
	if !e.Stamped() {
		v.report.PreChain++
		if v.report.Break == nil {
			v.report.Break = v.checkPayload(e)
		}
		return
	}
	if v.husk(e.Seq) {
		if v.report.Break != nil {
			v.report.Pruned++
			return
		}
		if !v.addHusk(e) {
			v.report.Pruned++
			v.report.Break = huskLink(v.report.NodeID, v.last, e, v.cut)
		}
		return
	}
	v.report.Checked++
	if v.report.Break != nil {
		return
	}
	if b := v.check(e); b != nil {
		v.report.Break = b
		return
	}
	v.last = link{seq: e.Seq, hash: e.Hash, prev: e.PrevHash, id: e.ID}
	v.report.Break = v.checkPayload(e)
}

// checkPayload compares the row's mutable fields with the last digest
// recorded for them: the latest amendment's, else the ingest digest.
func (v *nodeVerifier) checkPayload(e *StoredEvent) *Break {
	want := e.LastDigest
	if want == "" {
		want = e.PayloadDigest
	}
	if want == "" {
		if !e.Stamped() {
			return nil // pre-chain rows are never sealed at ingest
		}
		v.report.PayloadsUnsealed++
		if v.sealed {
			return &Break{NodeID: v.report.NodeID, Seq: e.Seq, EventID: e.ID, Reason: ReasonPayloadUnsealedRow,
				Detail: "earlier stamped rows of this node carry a payload digest"}
		}
		return nil
	}
	if e.Stamped() && e.PayloadDigest != "" {
		// Only an ingest digest seals: an amendment gives a row from
		// before payload digests a digest, not the rows after it.
		v.sealed = true
	}
	v.report.PayloadsChecked++
	m := e.Mutable()
	if got := v.hasher.PayloadSum(&m); got != want {
		return &Break{NodeID: v.report.NodeID, Seq: e.Seq, EventID: e.ID, Reason: ReasonPayloadChanged,
			Expected: want, Found: got}
	}
	return nil
}

func (v *nodeVerifier) check(e *StoredEvent) *Break {
	return nextLink(v.report.NodeID, v.last, e, nil, &v.hasher)
}

// Finish compares the walked chain with the recorded head (nil when the
// store has none for this node) and returns the node's report.
func (v *nodeVerifier) Finish(head *Head) NodeReport {
	r := &v.report
	if head != nil {
		r.HeadSeq, r.HeadHash = head.Seq, head.Hash
	}
	if r.Break == nil {
		r.Break = v.checkHead(head)
	}
	r.Status = statusOf(r.Break, r.Checked+r.Pruned)
	return *r
}

func (v *nodeVerifier) checkHead(head *Head) *Break {
	node := v.report.NodeID
	switch {
	case head == nil && v.last.seq == 0:
		return nil
	case head == nil:
		return &Break{NodeID: node, Seq: v.last.seq, EventID: v.last.id, Reason: ReasonHeadMissing,
			Expected: v.last.hash, Found: ""}
	case v.last.seq == 0:
		return &Break{NodeID: node, Seq: head.Seq, Reason: ReasonHeadOrphan,
			Detail:   fmt.Sprintf("head is at seq %d, the node has no stamped rows", head.Seq),
			Expected: GenesisHash, Found: head.Hash}
	case head.Seq != v.last.seq || head.Hash != v.last.hash:
		return &Break{NodeID: node, Seq: v.last.seq, EventID: v.last.id, Reason: ReasonHeadMismatch,
			Detail:   fmt.Sprintf("last row is seq %d, head says seq %d", v.last.seq, head.Seq),
			Expected: v.last.hash, Found: head.Hash}
	}
	return nil
}

// verifyChains walks every chain in src (or only nodeID's when it is not empty)
// and reports the first break of each node. It streams: memory grows with
// the number of nodes, not of events. An error is returned only when src
// cannot be read; tampering is reported in the Report.
func verifyChains(ctx context.Context, src chainSource, nodeID string, plan *prunePlan) (*Report, error) {
	heads, err := src.Heads(ctx, nodeID)
	if err != nil {
		return nil, fmt.Errorf("read chain heads: %w", err)
	}
	w := &walker{heads: heads, plan: plan}
	var cur *nodeVerifier
	var anchors anchorVerifier
	err = src.ScanChains(ctx, nodeID, func(e *StoredEvent) error {
		if e.NodeID == AnchorNode && e.Stamped() {
			anchors.add(&e.Event, e.Seq)
		}
		if cur == nil || cur.report.NodeID != e.NodeID {
			if cur != nil && e.NodeID < cur.report.NodeID {
				return errors.New("rows out of node order")
			}
			if cur != nil {
				w.finish(cur)
			}
			cur = newNodeVerifier(e.NodeID, plan)
		}
		cur.Add(e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan events: %w", err)
	}
	if cur != nil {
		w.finish(cur)
	}
	w.orphans("", true) // heads left without rows
	rep := w.report(nodeID)
	if rep.Amendments, err = verifyAmendments(ctx, src, plan); err != nil {
		return nil, err
	}
	if nodeID != "" && nodeID != AnchorNode {
		// The trail is verified whatever the scope, and so are its anchors.
		err := src.ScanChains(ctx, AnchorNode, func(e *StoredEvent) error {
			if e.Stamped() {
				anchors.add(&e.Event, e.Seq)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("scan anchors: %w", err)
		}
	}
	if err := verifyAnchors(ctx, src, &anchors, &rep.Amendments); err != nil {
		return nil, err
	}
	rep.settle()
	return rep, nil
}

// verifyAmendments walks the amendment trail in seq order and checks every
// record's hash, link and digest_before, and the trail's head, and that
// its prune records are the ones plan read first.
func verifyAmendments(ctx context.Context, src chainSource, plan *prunePlan) (AmendmentReport, error) {
	head, err := src.AmendmentHead(ctx)
	if err != nil {
		return AmendmentReport{}, fmt.Errorf("read amendment head: %w", err)
	}
	v := newAmendmentVerifier()
	err = src.ScanAmendments(ctx, func(a *AmendmentScan) error {
		v.Add(a)
		return nil
	})
	if err != nil {
		return AmendmentReport{}, fmt.Errorf("scan amendments: %w", err)
	}
	r := v.Finish(head)
	plan.compareTrail(v, &r)
	return r, nil
}

// walker merges the node-ordered row stream with the node-ordered heads.
type walker struct {
	heads []Head
	nodes []NodeReport
	plan  *prunePlan
}

// orphans reports every remaining head that sorts before node (all of them
// when all is set): those nodes have no rows at all. An empty node is not
// "all": a tampered row may carry node_id "".
func (w *walker) orphans(node string, all bool) {
	for len(w.heads) > 0 && (all || w.heads[0].NodeID < node) {
		orphan := newNodeVerifier(w.heads[0].NodeID, w.plan)
		w.nodes = append(w.nodes, orphan.Finish(&w.heads[0]))
		w.heads = w.heads[1:]
	}
}

// finish closes v's node with its head, if any.
func (w *walker) finish(v *nodeVerifier) {
	w.orphans(v.report.NodeID, false)
	var head *Head
	if len(w.heads) > 0 && w.heads[0].NodeID == v.report.NodeID {
		head = &w.heads[0]
		w.heads = w.heads[1:]
	}
	w.nodes = append(w.nodes, v.Finish(head))
}

func (w *walker) report(nodeID string) *Report {
	r := &Report{NodeID: nodeID, Nodes: w.nodes}
	if r.NodeID == "" {
		r.NodeID = ScopeAll
	}
	if r.Nodes == nil {
		r.Nodes = []NodeReport{}
	}
	for _, n := range w.nodes {
		r.Checked += n.Checked
		r.PreChain += n.PreChain
		r.PayloadsChecked += n.PayloadsChecked
		r.PayloadsUnsealed += n.PayloadsUnsealed
		r.Pruned += n.Pruned
		if n.Break != nil && r.BrokenAt == nil {
			r.BrokenAt = n.Break
		}
	}
	return r
}
