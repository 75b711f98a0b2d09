package chainlog

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// CommitRow is one row of the events table as ScanCommitOrder fills it
// in: the columns ScanChains reads, and the leaf index, decoded as
// ScanChains and ScanLeaves decode them (a NULL text column is "", a NULL
// integer 0), with Has saying which nullable columns are not NULL.
//
// A source may keep a row's text in the row's Buf, which it reuses: the
// strings and Data of a row it filled are then valid only until the row is
// filled again, and whatever must outlive the row is copied.
type CommitRow struct {
	ID, AgentType, NodeID, AgentID string
	SessionID, WorkspaceID         string // when HasSessionID, HasWorkspaceID
	EventType, TS                  string
	Seq                            int64 // chain_seq
	PrevHash, Hash                 string
	Data                           []byte // when HasData; the source reuses its buffer
	CostUSD                        float64
	TokenCount                     int64
	Model                          string // when HasModel
	PayloadDigest, LastDigest      string
	LeafIndex                      int64 // when HasLeaf
	Has                            RowHas
	// Irregular is set when a column the node-ordered walk sorts by holds a
	// value of another storage class than the schema's: node_id not text,
	// or chain_seq neither an integer nor NULL. Commit order then says
	// nothing about that walk's order, and the one-pass verifier leaves the
	// chains to it.
	Irregular bool
	// Buf is the source's buffer for the row's text, reused from fill to
	// fill; nil for a source that does not use it.
	Buf []byte
}

// RowHas flags a CommitRow's nullable columns that are not NULL.
type RowHas uint8

// The nullable columns of a CommitRow.
const (
	HasSessionID RowHas = 1 << iota
	HasWorkspaceID
	HasData
	HasCostUSD
	HasTokenCount
	HasModel
	HasLeaf // leaf_index: the row is a leaf of the Merkle tree
)

// stored sets e to the row as ScanChains would give it; e's pointers point
// into r.
func (r *CommitRow) stored(e *StoredEvent) {
	*e = StoredEvent{Event: Event{ID: r.ID, AgentType: r.AgentType, NodeID: r.NodeID, AgentID: r.AgentID,
		EventType: r.EventType, TS: r.TS},
		Seq: r.Seq, PrevHash: r.PrevHash, Hash: r.Hash, PayloadDigest: r.PayloadDigest, LastDigest: r.LastDigest}
	if r.Has&HasSessionID != 0 {
		e.SessionID = &r.SessionID
	}
	if r.Has&HasWorkspaceID != 0 {
		e.WorkspaceID = &r.WorkspaceID
	}
	if r.Has&HasData != 0 {
		e.Data = r.Data
		if e.Data == nil {
			e.Data = emptyData // the empty text, not NULL
		}
	}
	if r.Has&HasCostUSD != 0 {
		e.CostUSD = &r.CostUSD
	}
	if r.Has&HasTokenCount != 0 {
		e.TokenCount = &r.TokenCount
	}
	if r.Has&HasModel != 0 {
		e.Model = &r.Model
	}
}

var emptyData = []byte{}

// stamped is StoredEvent.Stamped.
func (r *CommitRow) stamped() bool {
	return r.Seq != 0 || r.PrevHash != "" || r.Hash != ""
}

// lastDigest is the digest the row's payload must have: the latest
// amendment's, else the ingest digest; "" when there is none.
func (r *CommitRow) lastDigest() string {
	if r.LastDigest != "" {
		return r.LastDigest
	}
	return r.PayloadDigest
}

// CommitOrderSource is what VerifyStore reads: a ChainSource and a
// TreeSource that can also stream the whole events table in commit order.
type CommitOrderSource interface {
	ChainSource
	TreeSource
	// ScanCommitOrder reads every row of the events table, all nodes, in
	// commit (rowid) order, batch after batch: it fills rows from the
	// start of buf (at most len(buf) of them) and passes the filled rows
	// to fn, which returns the batch to fill next. A batch belongs to fn
	// from the call until fn returns it, for this or a later fill; the
	// source overwrites every field of a row it fills, reusing the row's
	// Data and Buf, so that the strings of a row fn gave back may change.
	// fn is called from one goroutine, in order. An error
	// returned by fn stops the scan and is returned. ErrNoCommitOrder says
	// that the store cannot be read this way; VerifyStore then walks it as
	// Verify and VerifyTree do.
	ScanCommitOrder(ctx context.Context, buf []CommitRow, fn func(filled []CommitRow) (next []CommitRow, err error)) error
}

// ErrNoCommitOrder is returned by ScanCommitOrder when the store's schema
// does not allow one commit-order pass.
var ErrNoCommitOrder = errors.New("the store cannot be read in one commit-order pass")

// VerifyStore verifies the store as Verify and VerifyTree together do, and
// returns the same report, with the tree added: every chain (or only
// nodeID's), every payload, the amendment trail, and the Merkle tree
// recomputed from the events and compared with the stored head and with
// cps. Run it in one read transaction, as those two would be.
//
// It reads the events once, in commit order, which is also each node's
// chain order in a store nobody tampered with: the rows are read on one
// goroutine and hashed on others, while the chains are followed and the
// tree is built in order on the calling goroutine. Memory is bounded by a
// few batches of rows in flight. When anything in a chain is out of place
// (a break, a row out of chain order, an unexpected storage class), the
// chains are walked again node by node with Verify, so that a tampered
// store gets exactly Verify's report; the tree from the one pass is kept,
// since VerifyTree computes the same. When the pass itself fails, both
// exact walks run, with their own result or error.
func VerifyStore(ctx context.Context, src CommitOrderSource, nodeID, origin string, cps []SourcedCheckpoint) (*Report, error) {
	var storeBreak *Break
	if c, ok := src.(StoreChecker); ok {
		var err error
		if storeBreak, err = c.CheckStore(ctx); err != nil {
			return nil, fmt.Errorf("check store: %w", err)
		}
	}
	rep, err := verifyStore(ctx, src, nodeID, origin, cps)
	if err != nil {
		if storeBreak == nil || ctx.Err() != nil {
			return nil, err
		}
		// The schema fault found first (a table or column missing) is
		// why the store cannot be read: the store is INVALID, and the
		// report says what is wrong with it.
		rep = &Report{NodeID: nodeID, Nodes: []NodeReport{}}
		if rep.NodeID == "" {
			rep.NodeID = ScopeAll
		}
		if storeBreak.Detail == "" {
			storeBreak.Detail = "the store cannot be verified: " + err.Error()
		}
	}
	rep.AddStoreBreak(storeBreak)
	return rep, nil
}

func verifyStore(ctx context.Context, src CommitOrderSource, nodeID, origin string, cps []SourcedCheckpoint) (*Report, error) {
	rep, tree, err := verifyOnePass(ctx, src, nodeID, origin, cps)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return verifyExact(ctx, src, nodeID, origin, cps)
	}
	if rep == nil {
		if rep, err = Verify(ctx, src, nodeID); err != nil {
			return nil, err
		}
	}
	rep.AddTree(tree)
	return rep, nil
}

// verifyExact is the node-ordered walk and the separate leaf walk.
func verifyExact(ctx context.Context, src CommitOrderSource, nodeID, origin string, cps []SourcedCheckpoint) (*Report, error) {
	rep, err := Verify(ctx, src, nodeID)
	if err != nil {
		return nil, err
	}
	tree, err := VerifyTree(ctx, src, origin, cps)
	rep.AddTree(tree)
	return rep, err
}

// verifyOnePass makes the commit-order pass. It returns the tree's report,
// and the chains' report when every chain checked out (nil otherwise: the
// caller walks the chains node by node).
func verifyOnePass(ctx context.Context, src CommitOrderSource, nodeID, origin string, cps []SourcedCheckpoint) (*Report, TreeReport, error) {
	heads, err := src.Heads(ctx, nodeID)
	if err != nil {
		return nil, TreeReport{}, err
	}
	p := newPass(nodeID, origin, cps)
	if err := p.run(ctx, src); err != nil {
		return nil, TreeReport{}, err
	}
	tree, err := p.tree.finish(ctx, src)
	if err != nil {
		return nil, TreeReport{}, err
	}
	rep := p.chainReport(heads)
	if rep == nil {
		return nil, tree, nil
	}
	if rep.Amendments, err = VerifyAmendments(ctx, src); err != nil {
		return nil, TreeReport{}, err
	}
	rep.settle()
	return rep, tree, nil
}

// Batches of the pass: passBatchRows rows each, at most passBatches of
// them in flight (being filled, hashed, or waiting to be followed).
const (
	passBatchRows = 512
	passBatches   = 8
)

// passBatch is a batch of rows on its way through the pass, with what the
// hashing workers computed for each row.
type passBatch struct {
	rows []CommitRow // all passBatchRows of them; the filled ones are rows[:n]
	n    int
	sums []rowSums
	done chan struct{} // closed when sums is filled in
}

// rowSums is what a worker computes for one row.
type rowSums struct {
	chainOK   bool      // chain_hash is the hash of the row linked to its chain_prev_hash
	payloadOK bool      // the payload matches the row's last digest
	leaf      tlog.Hash // the leaf hash, when the row is a leaf
}

// pass is the state of one commit-order pass.
type pass struct {
	scope     string // the node whose chain is verified; "" for all
	tree      *treeVerifier
	treeStop  bool // the tree broke: later leaves are not added
	nodes     map[string]*passNode
	irregular bool        // some row's storage classes rule the pass out
	touched   []*passNode // the nodes the batch being followed moved on
}

func newPass(scope, origin string, cps []SourcedCheckpoint) *pass {
	return &pass{scope: scope, tree: newTreeVerifier(origin, cps), nodes: map[string]*passNode{}}
}

// run reads the rows on one goroutine, hashes them on workers, and follows
// chains and tree in commit order on the calling goroutine. Batches go
// round: free, filled by the reader, hashed, followed, free again.
func (p *pass) run(ctx context.Context, src CommitOrderSource) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	free := make(chan *passBatch, passBatches)
	for range passBatches {
		free <- &passBatch{rows: make([]CommitRow, passBatchRows), sums: make([]rowSums, passBatchRows)}
	}
	ordered := make(chan *passBatch, passBatches) // in commit order, to follow
	work := make(chan *passBatch, passBatches)    // to hash, any order
	var wg sync.WaitGroup
	for range passWorkers() {
		wg.Go(func() {
			var h passHasher
			for b := range work {
				h.hashBatch(p.scope, b)
				close(b.done)
			}
		})
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(ordered)
		defer close(work)
		cur := <-free
		readErr <- src.ScanCommitOrder(ctx, cur.rows, func(filled []CommitRow) ([]CommitRow, error) {
			cur.n, cur.done = len(filled), make(chan struct{})
			for _, ch := range []chan *passBatch{ordered, work} {
				select {
				case ch <- cur:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			select {
			case cur = <-free:
				return cur.rows, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		})
	}()
	var followErr error
	for b := range ordered {
		select {
		case <-b.done:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			followErr = ctx.Err()
			cancel()
			continue // drain, so that the reader can finish
		}
		p.follow(b)
		free <- b
	}
	// The reader has closed work; the workers end with it.
	wg.Wait()
	if err := <-readErr; err != nil {
		return err
	}
	return followErr
}

// passWorkers is how many goroutines hash: one less than the processors,
// since the reader keeps one busy, and at least one.
func passWorkers() int {
	return max(1, runtime.GOMAXPROCS(0)-1)
}

// follow applies one hashed batch, in commit order.
func (p *pass) follow(b *passBatch) {
	for i := range b.n {
		r, s := &b.rows[i], &b.sums[i]
		if r.Irregular {
			p.irregular = true
		}
		if r.Has&HasLeaf != 0 && !p.treeStop {
			p.treeStop = !p.tree.add(r.LeafIndex, s.leaf, r.NodeID, r.Seq)
		}
		if p.irregular || (p.scope != "" && r.NodeID != p.scope) {
			continue
		}
		n := p.nodes[r.NodeID]
		if n == nil {
			id := strings.Clone(r.NodeID) // r's strings are the batch's
			n = &passNode{v: NewNodeVerifier(id)}
			p.nodes[id] = n
		}
		if !n.touched {
			n.touched = true
			p.touched = append(p.touched, n)
		}
		n.add(r, s)
	}
	// The batch goes back to be filled again: what a node keeps of its
	// last row is copied, once per node and batch.
	for _, n := range p.touched {
		n.touched = false
		v := n.v
		v.lastHash, v.lastPrev, v.lastID = strings.Clone(v.lastHash), strings.Clone(v.lastPrev), strings.Clone(v.lastID)
	}
	p.touched = p.touched[:0]
}

// chainReport returns the chains' report as Verify gives it, or nil when
// any chain was out of place and must be walked node by node.
func (p *pass) chainReport(heads []Head) *Report {
	if p.irregular {
		return nil
	}
	ids := make([]string, 0, len(p.nodes))
	for id, n := range p.nodes {
		if n.bad {
			return nil
		}
		ids = append(ids, id)
	}
	slices.Sort(ids) // byte order, as SQLite's BINARY collation sorts text
	w := &walker{heads: heads}
	for _, id := range ids {
		w.finish(p.nodes[id].v)
	}
	w.orphans("", true)
	rep := w.report(p.scope)
	if rep.BrokenAt != nil {
		return nil // a head disagrees: Verify names it
	}
	return rep
}

// passNode follows one node's chain in commit order. Its NodeVerifier is
// given the state a node-ordered walk reaches, as long as every row is
// the next link of the chain; the first row that is not marks the node
// bad, and its report is left to Verify.
type passNode struct {
	v       *NodeVerifier
	bad     bool
	touched bool // by the batch being followed
}

// add is NodeVerifier.Add with the hashes already checked: it takes a row
// only when Add would find nothing wrong with it, so that a node that
// stays good has exactly the counts and state of a node-ordered walk.
func (n *passNode) add(r *CommitRow, s *rowSums) {
	if n.bad {
		return
	}
	v := n.v
	rep := &v.report
	want := r.lastDigest()
	if !r.stamped() {
		rep.PreChain++
		if want != "" {
			rep.PayloadsChecked++
			n.bad = !s.payloadOK
		}
		return
	}
	rep.Checked++
	if r.Seq != v.lastSeq+1 || r.Hash == "" || r.PrevHash != v.lastHash || !s.chainOK {
		n.bad = true
		return
	}
	v.lastSeq, v.lastPrev, v.lastHash, v.lastID = r.Seq, r.PrevHash, r.Hash, r.ID
	if want == "" {
		rep.PayloadsUnsealed++
		n.bad = v.sealed
		return
	}
	if r.PayloadDigest != "" {
		v.sealed = true
	}
	rep.PayloadsChecked++
	n.bad = !s.payloadOK
}

// passHasher computes a batch's hashes with one reused buffer.
type passHasher struct {
	buf []byte
}

func (h *passHasher) hashBatch(scope string, b *passBatch) {
	var e StoredEvent
	for i := range b.n {
		r, s := &b.rows[i], &b.sums[i]
		*s = rowSums{}
		if r.Has&HasLeaf != 0 {
			s.leaf = h.leafHash(r)
		}
		if r.Irregular || (scope != "" && r.NodeID != scope) {
			continue
		}
		r.stored(&e)
		if r.Hash != "" {
			h.buf = append(h.buf[:0], r.PrevHash...)
			h.buf = append(h.buf, '|')
			h.buf = appendCanonical(h.buf, &e.Event, false)
			s.chainOK = hexEqual(sha256.Sum256(h.buf), r.Hash)
		}
		if want := r.lastDigest(); want != "" {
			m := e.Mutable()
			h.buf = AppendPayload(h.buf[:0], &m)
			s.payloadOK = hexEqual(sha256.Sum256(h.buf), want)
		}
	}
}

// leafHash is LeafHash of the row's leaf, without allocating.
func (h *passHasher) leafHash(r *CommitRow) tlog.Hash {
	b := append(h.buf[:0], 0) // RFC 6962 leaf prefix
	b = append(b, LeafPrefix...)
	b = appendNetString(b, r.NodeID)
	var n [20]byte
	b = appendNetField(b, strconv.AppendInt(n[:0], r.Seq, 10))
	b = appendNetString(b, r.Hash)
	if r.PayloadDigest == "" {
		b = append(b, "N;"...)
	} else {
		b = appendNetString(b, r.PayloadDigest)
	}
	h.buf = b
	return sha256.Sum256(b)
}

// appendNetString is appendNetField for a string.
func appendNetString(dst []byte, s string) []byte {
	dst = strconv.AppendInt(dst, int64(len(s)), 10)
	dst = append(dst, ':')
	dst = append(dst, s...)
	return append(dst, ';')
}

// hexEqual reports whether s is the lowercase hex of sum, as
// hex.EncodeToString(sum[:]) == s would, without encoding.
func hexEqual(sum [sha256.Size]byte, s string) bool {
	if len(s) != 2*len(sum) {
		return false
	}
	for i, c := range sum {
		if s[2*i] != lowerHex[c>>4] || s[2*i+1] != lowerHex[c&0xf] {
			return false
		}
	}
	return true
}
