package chainlog

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Verification statuses.
const (
	StatusValid   = "valid"
	StatusInvalid = "invalid"
	StatusEmpty   = "empty"
)

// Reasons a chain breaks. Each is a short, stable phrase; a Break's Detail
// adds the particulars.
const (
	ReasonHashMismatch = "chain_hash does not match the recomputed hash: an identity field was altered or the row was forged"
	ReasonPrevMismatch = "chain_prev_hash does not link to the previous row: a row was removed, reordered or forged"
	ReasonSeqGap       = "chain_seq skips: rows were deleted"
	ReasonFork         = "fork: two rows claim the same predecessor"
	ReasonHiddenRow    = "chain_hash is NULL on a stamped row: a row was hidden as pre-chain"
	ReasonNoSeq        = "chain_seq is NULL on a stamped row"
	ReasonHeadMismatch = "chain head disagrees with the node's last row: rows were deleted from the end or the head was rewritten"
	ReasonHeadMissing  = "chain head is missing for a node with stamped rows"
	ReasonHeadOrphan   = "chain head points at rows that do not exist"
)

// Break is the evidence of the first broken link in a node's chain, or in
// the amendment trail (Trail "amendments", Seq the record's seq).
type Break struct {
	Trail    string `json:"trail,omitempty"`
	NodeID   string `json:"node_id"`
	Seq      int64  `json:"seq"`
	EventID  string `json:"event_id"`
	Reason   string `json:"reason"`
	Detail   string `json:"detail,omitempty"`
	Expected string `json:"expected"`
	Found    string `json:"found"`
}

func (b *Break) Error() string {
	s := fmt.Sprintf("node %q seq %d event %q: %s", b.NodeID, b.Seq, b.EventID, b.Reason)
	if b.Trail != "" {
		s = fmt.Sprintf("%s seq %d event %q: %s", b.Trail, b.Seq, b.EventID, b.Reason)
	}
	if b.Detail != "" {
		s += " (" + b.Detail + ")"
	}
	return s + fmt.Sprintf(": expected %s, found %s", orNone(b.Expected), orNone(b.Found))
}

// clone returns a copy of b whose strings share no memory with b's, for a
// break built from a row whose buffer is reused.
func (b *Break) clone() *Break {
	c := *b
	c.Trail, c.NodeID, c.EventID = strings.Clone(b.Trail), strings.Clone(b.NodeID), strings.Clone(b.EventID)
	c.Reason, c.Detail = strings.Clone(b.Reason), strings.Clone(b.Detail)
	c.Expected, c.Found = strings.Clone(b.Expected), strings.Clone(b.Found)
	return &c
}

func orNone(s string) string {
	if s == "" {
		return "NULL"
	}
	return s
}

// NodeReport is the verification result of one node's chain.
type NodeReport struct {
	NodeID   string `json:"node_id"`
	Status   string `json:"status"`
	Checked  int64  `json:"checked"`
	PreChain int64  `json:"pre_chain"`
	// PayloadsChecked counts rows whose mutable fields were checked against
	// their last recorded digest; PayloadsUnsealed counts stamped rows that
	// have no digest (written before payload digests existed).
	PayloadsChecked  int64  `json:"payloads_checked"`
	PayloadsUnsealed int64  `json:"payloads_unsealed"`
	HeadSeq          int64  `json:"head_seq"`
	HeadHash         string `json:"head_hash,omitempty"`
	Break            *Break `json:"broken_at"`
}

// Report is the result of verifying a store, or one node of it. The
// amendment trail is global: it is verified whatever the scope.
type Report struct {
	Status           string          `json:"status"`
	NodeID           string          `json:"node_id"` // the scope: a node id or "all"
	Checked          int64           `json:"checked"`
	PreChain         int64           `json:"pre_chain"`
	PayloadsChecked  int64           `json:"payloads_checked"`
	PayloadsUnsealed int64           `json:"payloads_unsealed"`
	BrokenAt         *Break          `json:"broken_at"`
	Error            *string         `json:"error"`
	Amendments       AmendmentReport `json:"amendments"`
	Tree             *TreeReport     `json:"tree,omitempty"`
	// Store is the first fault found in the store as a whole rather than
	// in one chain, trail or the tree (Break.Trail is TrailStore): a
	// schema object missing or unknown, an id stored twice, a stamped row
	// that is not a leaf, a column of the wrong storage class. Nil when
	// there is none.
	Store *Break       `json:"store,omitempty"`
	Nodes []NodeReport `json:"nodes"`
}

// TrailStore names the store as a whole in a Break: its schema, its ids,
// and what must agree across chains and the tree.
const TrailStore = "store"

// AddStoreBreak records a fault in the store as a whole; the first one
// recorded is kept.
func (r *Report) AddStoreBreak(b *Break) {
	if b == nil || r.Store != nil {
		return
	}
	b.Trail = TrailStore
	r.Store = b
	r.settle()
}

// StoreChecker is implemented by a source that can check the store's
// structure beyond what its rows show: that its file is sound, and that
// its schema holds every object its version requires and nothing that
// could change what is read or written. VerifyStore calls it within the
// same read transaction. An error says the store cannot be read (a corrupt
// file); a fault found is returned as a Break.
type StoreChecker interface {
	CheckStore(ctx context.Context) (*Break, error)
}

// AddTree adds the Merkle tree's verification to the report: its first
// break counts when no chain or the trail broke first.
func (r *Report) AddTree(t TreeReport) {
	r.Tree = &t
	r.settle()
}

// ScopeAll is the Report.NodeID of a whole-store verification.
const ScopeAll = "all"

// NodeVerifier walks one node's chain in chain_seq order and recomputes
// every hash. It keeps O(1) state: the previous row's seq and hashes.
type NodeVerifier struct {
	report NodeReport
	hasher Hasher
	last   link // the last row accepted
	sealed bool // a stamped row with a payload digest was seen
}

// NewNodeVerifier returns a verifier for nodeID's chain.
func NewNodeVerifier(nodeID string) *NodeVerifier {
	return &NodeVerifier{report: NodeReport{NodeID: nodeID}, last: link{hash: GenesisHash}}
}

// Add checks the next row of the chain. Rows must come in the order
// ChainSource.ScanChains gives. After the first break, rows are counted but
// no longer checked.
func (v *NodeVerifier) Add(e *StoredEvent) {
	if !e.Stamped() {
		v.report.PreChain++
		if v.report.Break == nil {
			v.report.Break = v.checkPayload(e)
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
func (v *NodeVerifier) checkPayload(e *StoredEvent) *Break {
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

func (v *NodeVerifier) check(e *StoredEvent) *Break {
	return nextLink(v.report.NodeID, v.last, e, nil, &v.hasher)
}

// Finish compares the walked chain with the recorded head (nil when the
// store has none for this node) and returns the node's report.
func (v *NodeVerifier) Finish(head *Head) NodeReport {
	r := &v.report
	if head != nil {
		r.HeadSeq, r.HeadHash = head.Seq, head.Hash
	}
	if r.Break == nil {
		r.Break = v.checkHead(head)
	}
	r.Status = statusOf(r.Break, r.Checked)
	return *r
}

// statusOf is a walk's status: invalid when it broke, empty when it checked
// nothing, valid otherwise.
func statusOf(b *Break, checked int64) string {
	switch {
	case b != nil:
		return StatusInvalid
	case checked == 0:
		return StatusEmpty
	}
	return StatusValid
}

func (v *NodeVerifier) checkHead(head *Head) *Break {
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

// Verify walks every chain in src (or only nodeID's when it is not empty)
// and reports the first break of each node. It streams: memory grows with
// the number of nodes, not of events. An error is returned only when src
// cannot be read; tampering is reported in the Report.
func Verify(ctx context.Context, src ChainSource, nodeID string) (*Report, error) {
	heads, err := src.Heads(ctx, nodeID)
	if err != nil {
		return nil, fmt.Errorf("read chain heads: %w", err)
	}
	w := &walker{heads: heads}
	var cur *NodeVerifier
	err = src.ScanChains(ctx, nodeID, func(e *StoredEvent) error {
		if cur == nil || cur.report.NodeID != e.NodeID {
			if cur != nil && e.NodeID < cur.report.NodeID {
				return errors.New("rows out of node order")
			}
			if cur != nil {
				w.finish(cur)
			}
			cur = NewNodeVerifier(e.NodeID)
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
	if rep.Amendments, err = VerifyAmendments(ctx, src); err != nil {
		return nil, err
	}
	rep.settle()
	return rep, nil
}

// VerifyAmendments walks the amendment trail in seq order and checks every
// record's hash, link and digest_before, and the trail's head.
func VerifyAmendments(ctx context.Context, src ChainSource) (AmendmentReport, error) {
	head, err := src.AmendmentHead(ctx)
	if err != nil {
		return AmendmentReport{}, fmt.Errorf("read amendment head: %w", err)
	}
	v := NewAmendmentVerifier()
	err = src.ScanAmendments(ctx, func(a *AmendmentScan) error {
		v.Add(a)
		return nil
	})
	if err != nil {
		return AmendmentReport{}, fmt.Errorf("scan amendments: %w", err)
	}
	return v.Finish(head), nil
}

// walker merges the node-ordered row stream with the node-ordered heads.
type walker struct {
	heads []Head
	nodes []NodeReport
}

// orphans reports every remaining head that sorts before node (all of them
// when all is set): those nodes have no rows at all. An empty node is not
// "all": a tampered row may carry node_id "".
func (w *walker) orphans(node string, all bool) {
	for len(w.heads) > 0 && (all || w.heads[0].NodeID < node) {
		orphan := NewNodeVerifier(w.heads[0].NodeID)
		w.nodes = append(w.nodes, orphan.Finish(&w.heads[0]))
		w.heads = w.heads[1:]
	}
}

// finish closes v's node with its head, if any.
func (w *walker) finish(v *NodeVerifier) {
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
		if n.Break != nil && r.BrokenAt == nil {
			r.BrokenAt = n.Break
		}
	}
	return r
}

// settle sets the overall status: invalid when any node or the amendment
// trail broke (broken_at is the first node break, else the trail's), empty
// when no chained event was checked.
func (r *Report) settle() {
	if r.BrokenAt == nil || r.BrokenAt.Trail != "" {
		// A node's break comes first; then the trail's, the tree's and the
		// store's, in that order, whichever was added first.
		r.BrokenAt = r.Amendments.Break
		if r.BrokenAt == nil && r.Tree != nil {
			r.BrokenAt = r.Tree.Break
		}
		if r.BrokenAt == nil {
			r.BrokenAt = r.Store
		}
	}
	switch {
	case r.BrokenAt != nil:
		r.Status = StatusInvalid
		msg := r.BrokenAt.Error()
		r.Error = &msg
	case r.Checked == 0 && r.PayloadsChecked == 0 && (r.NodeID != ScopeAll || r.Amendments.Checked == 0):
		// A node scope is empty when the node has nothing to check, whatever
		// the store-wide trail holds.
		r.Status = StatusEmpty
	default:
		r.Status = StatusValid
	}
}

// Scope returns the report narrowed to one node: its chain, with the
// store-wide amendment trail and tree as they are.
func (r *Report) Scope(nodeID string) *Report {
	out := &Report{NodeID: nodeID, Amendments: r.Amendments, Tree: r.Tree, Store: r.Store, Nodes: []NodeReport{}}
	for _, n := range r.Nodes {
		if n.NodeID != nodeID {
			continue
		}
		out.Nodes = append(out.Nodes, n)
		out.Checked, out.PreChain = n.Checked, n.PreChain
		out.PayloadsChecked, out.PayloadsUnsealed = n.PayloadsChecked, n.PayloadsUnsealed
		out.BrokenAt = n.Break
	}
	out.settle()
	return out
}
