// What a verification reports: the statuses, a Break with its evidence, each
// node's report, and the report of a store.

package chainlog

import (
	"fmt"
	"slices"
	"strings"
)

// Verification statuses.
const (
	StatusValid   = "valid"
	StatusInvalid = "invalid"
	StatusEmpty   = "empty"
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
	// Pruned counts the husks of pruned rows whose links were checked up
	// to the prune records' anchor.
	Pruned int64  `json:"pruned,omitempty"`
	Break  *Break `json:"broken_at"`
}

// Report is the result of verifying a store, or one node of it. The
// amendment trail is global: it is verified whatever the scope.
type Report struct {
	Status           string `json:"status"`
	NodeID           string `json:"node_id"` // the scope: a node id or "all"
	Checked          int64  `json:"checked"`
	PreChain         int64  `json:"pre_chain"`
	PayloadsChecked  int64  `json:"payloads_checked"`
	PayloadsUnsealed int64  `json:"payloads_unsealed"`
	// Pruned counts the pruned rows checked (NodeReport.Pruned), and
	// Prunes are the prune records the chains resume after.
	Pruned     int64           `json:"pruned,omitempty"`
	Prunes     []PruneSummary  `json:"prunes,omitempty"`
	BrokenAt   *Break          `json:"broken_at"`
	Error      *string         `json:"error"`
	Amendments AmendmentReport `json:"amendments"`
	Tree       *TreeReport     `json:"tree,omitempty"`
	// Store is the first fault found in the store as a whole rather than
	// in one chain, trail or the tree (Break.Trail is TrailStore): a
	// schema object missing or unknown, an id stored twice, a stamped row
	// that is not a leaf, a column of the wrong storage class. Nil when
	// there is none.
	Store *Break `json:"store,omitempty"`
	// Forks counts the fork evidence a collector recorded (its nodes
	// that sent it a second history), resolved or not; an unresolved one
	// is a break of the store (ReasonNodeFork).
	Forks int          `json:"forks,omitempty"`
	Nodes []NodeReport `json:"nodes"`
}

// AddTree adds the Merkle tree's verification to the report: its first
// break counts when no chain or the trail broke first.
func (r *Report) AddTree(t TreeReport) {
	r.Tree = &t
	r.settle()
}

// The names a report gives: ScopeAll is the Report.NodeID of a
// whole-store verification; Break.Trail names what broke when it is not a
// node's chain: the amendment trail, the Merkle tree, or the store as a
// whole (its schema, its ids, and what must agree across chains and the
// tree).
const (
	ScopeAll        = "all"
	TrailAmendments = "amendments"
	TrailTree       = "tree"
	TrailStore      = "store"
)

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
	case r.Checked == 0 && r.Pruned == 0 && r.PayloadsChecked == 0 && (r.NodeID != ScopeAll || r.Amendments.Checked == 0):
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
	for _, p := range r.Prunes {
		if p.NodeID == nodeID {
			out.Prunes = append(out.Prunes, p)
		}
	}
	for _, n := range r.Nodes {
		if n.NodeID != nodeID {
			continue
		}
		out.Nodes = append(out.Nodes, n)
		out.Checked, out.PreChain = n.Checked, n.PreChain
		out.PayloadsChecked, out.PayloadsUnsealed = n.PayloadsChecked, n.PayloadsUnsealed
		out.Pruned = n.Pruned
		out.BrokenAt = n.Break
	}
	out.settle()
	return out
}

// keepBreaks makes sure that each break in bs stands in the report: a node
// the walk found intact, but on which the commit-order pass found a row
// broken in itself, is invalid with that row as its break. The walk reads
// rows in node order, which the store's indexes decide; the pass reads the
// table itself. A break one of them found never ends as VALID.
func (r *Report) keepBreaks(bs []*Break) {
	for _, b := range bs {
		i := slices.IndexFunc(r.Nodes, func(n NodeReport) bool { return n.NodeID == b.NodeID })
		if i < 0 {
			r.Nodes = append(r.Nodes, NodeReport{NodeID: b.NodeID})
			i = len(r.Nodes) - 1
		}
		n := &r.Nodes[i]
		if n.Break != nil {
			continue
		}
		n.Break, n.Status = b, StatusInvalid
		if r.BrokenAt == nil || r.BrokenAt.Trail != "" {
			r.BrokenAt = b
		}
	}
	r.settle()
}
