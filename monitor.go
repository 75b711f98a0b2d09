package chainlog

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"sync"
)

// Monitor verifies a store that keeps growing: each Check reads only what
// was committed since the last one, so its cost is proportional to the new
// rows, not to the store. Its state is the walk's state (per node: the last
// seq and hash; the trail's last record; the tree's compact range). Reset
// makes the next Check start again from genesis. A Monitor is safe for
// concurrent use; Checks run one at a time.
type Monitor struct {
	mu     sync.Mutex
	nodes  map[string]*nodeVerifier
	amend  *amendmentVerifier
	anchor anchorVerifier
	tree   TreeBuilder
	treeBk *Break
	last   *Report
}

// NewMonitor returns a Monitor positioned at genesis.
func NewMonitor() *Monitor {
	m := &Monitor{}
	m.reset()
	return m
}

// Reset makes the next Check verify everything from genesis.
func (m *Monitor) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reset()
}

func (m *Monitor) reset() {
	m.nodes = map[string]*nodeVerifier{}
	m.amend = newAmendmentVerifier()
	m.anchor = anchorVerifier{}
	m.tree = TreeBuilder{}
	m.treeBk = nil
}

// Last returns the report of the last Check, or nil.
func (m *Monitor) Last() *Report {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// Check verifies what src committed since the last Check and returns the
// report for the whole store (or for nodeID, when not empty; the state of
// every node is still advanced).
func (m *Monitor) Check(ctx context.Context, src RangeSource) (*Report, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Nodes before heads: a node's first rows and its head are committed
	// together, so every node listed has its head in the later read.
	nodes, err := src.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	heads, err := src.Heads(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("read chain heads: %w", err)
	}
	byNode := map[string]*Head{}
	for i := range heads {
		byNode[heads[i].NodeID] = &heads[i]
	}
	// Search the sorted list only: appending to it while searching would
	// list a node twice.
	listed := len(nodes)
	for _, h := range heads {
		if !sortedContains(nodes[:listed], h.NodeID) {
			nodes = append(nodes, h.NodeID)
		}
	}
	sort.Strings(nodes)
	w := &walker{}
	for _, node := range nodes {
		nr, err := m.checkNode(ctx, src, node, byNode[node])
		if err != nil {
			return nil, err
		}
		w.nodes = append(w.nodes, nr)
	}
	rep := w.report("")
	if rep.Amendments, err = m.checkAmendments(ctx, src); err != nil {
		return nil, err
	}
	if err := m.checkAnchors(ctx, src, &rep.Amendments); err != nil {
		return nil, err
	}
	tree, err := m.checkTree(ctx, src)
	if err != nil {
		return nil, err
	}
	rep.Tree = &tree
	rep.settle()
	m.last = rep
	return rep, nil
}

func sortedContains(s []string, v string) bool {
	i := sort.SearchStrings(s, v)
	return i < len(s) && s[i] == v
}

func (m *Monitor) checkNode(ctx context.Context, src RangeSource, node string, head *Head) (NodeReport, error) {
	// The prune records say which rows are husks; a node walked before
	// may have been pruned since, further than its last walk knew.
	plan, err := readPrunePlan(ctx, src)
	if err != nil {
		return NodeReport{}, err
	}
	v, seen := m.nodes[node]
	// The node's first walk reads its rows without chain_seq too, as Verify
	// does: an amended pre-chain row's payload is checked, and a row with a
	// chain hash but no seq breaks the chain. The node is kept only once
	// that walk is done, so a failed one starts again.
	after := int64(-1)
	if seen {
		after = v.last.seq
		if c := plan.cuts[node]; c.last > v.cut.last {
			v.cut = c
		}
	} else {
		v = newNodeVerifier(node, plan)
	}
	upto := int64(1<<63 - 1) // a node without a head: read everything
	if head != nil {
		upto = head.Seq
	}
	if v.report.Break == nil {
		saved := *v
		husk, err := m.scanNode(ctx, src, node, v, after, upto)
		if err != nil {
			return NodeReport{}, err
		}
		// The records were read before the rows, not in one snapshot: a
		// prune that committed in between made husks the records above do
		// not cover. Read them again, and walk again if they now do.
		if husk {
			if plan, err = readPrunePlan(ctx, src); err != nil {
				return NodeReport{}, err
			}
			if c := plan.cuts[node]; c.last > saved.cut.last {
				*v = saved
				v.cut = c
				if _, err := m.scanNode(ctx, src, node, v, after, upto); err != nil {
					return NodeReport{}, err
				}
			}
		}
	}
	m.nodes[node] = v
	pre, err := src.CountPreChain(ctx, node)
	if err != nil {
		return NodeReport{}, fmt.Errorf("count pre-chain rows of %q: %w", node, err)
	}
	v.report.PreChain = pre
	return v.Finish(head), nil
}

// scanNode walks node's rows after seq after, up to upto, into v. It
// reports whether the walk broke at a husk that v's prune cut does not
// cover.
func (m *Monitor) scanNode(ctx context.Context, src RangeSource, node string, v *nodeVerifier, after, upto int64) (huskBreak bool, err error) {
	err = src.ScanChainRange(ctx, node, after, upto, func(e *StoredEvent) error {
		if node == AnchorNode && e.Stamped() && v.report.Break == nil {
			m.anchor.add(&e.Event, e.Seq)
		}
		broken := v.report.Break != nil
		v.Add(e)
		if !broken && v.report.Break != nil && e.Husk() && !v.husk(e.Seq) {
			huskBreak = true
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("scan node %q: %w", node, err)
	}
	return huskBreak, nil
}

func (m *Monitor) checkAmendments(ctx context.Context, src RangeSource) (AmendmentReport, error) {
	head, err := src.AmendmentHead(ctx)
	if err != nil {
		return AmendmentReport{}, fmt.Errorf("read amendment head: %w", err)
	}
	upto := int64(1<<63 - 1)
	switch {
	case head != nil:
		upto = head.Seq
	case m.amend.report.Break == nil:
		// No head, yet records may follow: records committed after the
		// head was read (the trail's first), or records whose head was
		// deleted. The head read again, once a record is seen, tells them
		// apart; with no record, what commits from now on waits for the
		// next round.
		found, again, err := m.headAfterFirstRecord(ctx, src)
		if err != nil {
			return AmendmentReport{}, err
		}
		switch {
		case !found:
			upto = m.amend.lastSeq
		case again != nil:
			head, upto = again, again.Seq
		}
	}
	if m.amend.report.Break == nil {
		err = src.ScanAmendmentRange(ctx, m.amend.lastSeq, upto, func(a *AmendmentScan) error {
			m.amend.Add(a)
			return nil
		})
		if err != nil {
			return AmendmentReport{}, fmt.Errorf("scan amendments: %w", err)
		}
	}
	return m.amend.Finish(head), nil
}

// headAfterFirstRecord looks for a record after the last one checked; when
// there is one, it returns the trail's head read again (nil when there is
// still none: a trail without its head).
func (m *Monitor) headAfterFirstRecord(ctx context.Context, src RangeSource) (found bool, head *Head, err error) {
	err = src.ScanAmendmentRange(ctx, m.amend.lastSeq, 1<<63-1, func(*AmendmentScan) error {
		found = true
		return errStopScan
	})
	if err != nil && err != errStopScan {
		return false, nil, fmt.Errorf("scan amendments: %w", err)
	}
	if !found {
		return false, nil, nil
	}
	if head, err = src.AmendmentHead(ctx); err != nil {
		return true, nil, fmt.Errorf("read amendment head: %w", err)
	}
	return true, head, nil
}

// checkAnchors compares the anchors read this round with the trail. The
// anchor node was read before the trail's head, so a trail that runs past
// the last anchor may hold amendments committed meanwhile: the anchor node
// is read again, up to a head read after the trail's, before that counts
// as records appended outside the amendment path.
func (m *Monitor) checkAnchors(ctx context.Context, src RangeSource, r *AmendmentReport) error {
	if r.Break == nil && m.anchor.last.seq != 0 && r.HeadSeq > m.anchor.last.seq {
		heads, err := src.Heads(ctx, AnchorNode)
		if err != nil {
			return fmt.Errorf("read chain heads: %w", err)
		}
		var head *Head
		if len(heads) == 1 {
			head = &heads[0]
		}
		if _, err := m.checkNode(ctx, src, AnchorNode, head); err != nil {
			return err
		}
	}
	return verifyAnchors(ctx, src, &m.anchor, r)
}

func (m *Monitor) checkTree(ctx context.Context, src RangeSource) (TreeReport, error) {
	size, root, err := src.StoredTree(ctx)
	if err != nil {
		return TreeReport{}, fmt.Errorf("read stored tree: %w", err)
	}
	if m.treeBk == nil {
		err = src.ScanLeafRange(ctx, m.tree.Size()-1, size, func(index int64, l *Leaf) error {
			if index != m.tree.Size() {
				m.treeBk = leafGap(m.tree.Size(), index, l.NodeID, l.Seq)
				return errStopScan
			}
			m.tree.Add(LeafHash(l))
			return nil
		})
		if err != nil && err != errStopScan {
			return TreeReport{}, fmt.Errorf("scan leaves: %w", err)
		}
	}
	got := m.tree.Root()
	rep := TreeReport{Leaves: m.tree.Size(), Root: base64.StdEncoding.EncodeToString(got[:]),
		Checkpoints: []CheckpointReport{}, Break: m.treeBk}
	if rep.Break == nil {
		rep.Break = treeHeadBreak(&m.tree, size, root)
		m.treeBk = rep.Break
	}
	rep.finish()
	return rep, nil
}
