package chainlog

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash/maphash"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

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
	// Fault, when not empty, names a column whose storage class the schema
	// does not allow ("token_count holds a real"): the row was written
	// outside chainlog, and the store is invalid.
	Fault string
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

// VerifyOptions say what VerifyStore covers.
type VerifyOptions struct {
	NodeID      string              // only this node's chain; "" for every node
	Origin      string              // the store's origin: a checkpoint of another log fails
	Checkpoints []SourcedCheckpoint // each compared with the tree at its size

	// Walk skips the commit-order pass: the chains are walked node by
	// node and the tree leaf by leaf, as for a store that cannot be read
	// in commit order. The chains, the trail and the tree get the same
	// report either way; the faults of the store that only the pass sees
	// (a column's storage class, a stamped row that is not a leaf, a row
	// without a chain after the chains began) are not looked for.
	Walk bool

	// Progress, if set, is called on the calling goroutine as the
	// commit-order pass goes, with the number of rows read so far.
	Progress func(rows int64)
}

// VerifyStore verifies every chain (or only opts.NodeID's), every
// payload, the amendment trail, and the Merkle tree recomputed from the
// events and compared with the stored head, the stored hashes and the
// checkpoints; and the store as a whole (Report.Store): its own check
// (Source.CheckStore), every column's storage class, identity fields that
// are valid UTF-8, every stamped row a leaf (Source.KeepsTree), no row
// without a chain after the chains began, and unique ids
// (Source.DuplicateID). Run it in one read transaction.
//
// It reads the events once, in commit order, which is also each node's
// chain order in a store nobody tampered with: the rows are read on one
// goroutine and hashed on others, while the chains are followed and the
// tree is built in order on the calling goroutine. Memory is bounded by a
// few batches of rows in flight and a run of id keys. When anything in a
// chain is out of place (a break, a row out of chain order, an unexpected
// storage class), the chains are walked again node by node, so that a
// tampered store gets the walk's report, except that a row the pass
// found broken in itself is never reported valid; the tree from the one
// pass is kept, since the leaf walk computes the same. When the pass itself
// fails, both exact walks run, with their own result or error.
func VerifyStore(ctx context.Context, src Source, opts VerifyOptions) (*Report, error) {
	storeBreak, err := src.CheckStore(ctx)
	if err != nil {
		return nil, fmt.Errorf("check store: %w", err)
	}
	rep, repeated, err := verifyStore(ctx, src, opts)
	if err != nil {
		if storeBreak == nil || ctx.Err() != nil {
			return nil, err
		}
		// The schema fault found first (a table or column missing) is
		// why the store cannot be read: the store is INVALID, and the
		// report says what is wrong with it.
		rep = &Report{NodeID: opts.NodeID, Nodes: []NodeReport{}}
		if rep.NodeID == "" {
			rep.NodeID = ScopeAll
		}
		if storeBreak.Detail == "" {
			storeBreak.Detail = "the store cannot be verified: " + err.Error()
		}
	}
	if storeBreak != nil {
		// The schema's fault comes before any the rows show.
		rep.Store = nil
		rep.AddStoreBreak(storeBreak)
	}
	if repeated {
		if err := checkIDs(ctx, src, rep); err != nil {
			return nil, err
		}
	}
	if err := checkForks(ctx, src, opts.NodeID, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// checkForks counts the fork evidence of a collector's store (a Source
// that lists forks) in rep, and makes the first unresolved fork a break:
// the node is quarantined until an operator resolves it.
func checkForks(ctx context.Context, src Source, nodeID string, rep *Report) error {
	fl, ok := src.(interface {
		Forks(ctx context.Context, nodeID string) ([]Fork, error)
	})
	if !ok {
		return nil
	}
	forks, err := fl.Forks(ctx, nodeID)
	if err != nil {
		return fmt.Errorf("read fork evidence: %w", err)
	}
	rep.Forks = len(forks)
	for i := range forks {
		if !forks[i].Resolved() {
			rep.AddStoreBreak(forks[i].Break())
			break
		}
	}
	return nil
}

// verifyStore also reports whether two rows' ids may be the same (their
// keys in the pass repeat), which checkIDs then settles; when the pass
// could not run, it is true.
func verifyStore(ctx context.Context, src Source, opts VerifyOptions) (*Report, bool, error) {
	plan, err := readPrunePlan(ctx, src)
	if err != nil {
		return nil, true, err
	}
	rep, repeated, err := verifyPlanned(ctx, src, opts, plan)
	if rep != nil {
		rep.Prunes = plan.summaries()
		if opts.NodeID != "" {
			rep.Prunes = slices.DeleteFunc(rep.Prunes, func(s PruneSummary) bool { return s.NodeID != opts.NodeID })
		}
	}
	return rep, repeated, err
}

func verifyPlanned(ctx context.Context, src Source, opts VerifyOptions, plan *prunePlan) (*Report, bool, error) {
	if opts.Walk {
		rep, err := verifyExact(ctx, src, opts.NodeID, opts.Origin, opts.Checkpoints, plan)
		return rep, true, err
	}
	nodeID, origin, cps := opts.NodeID, opts.Origin, opts.Checkpoints
	rep, tree, repeated, err := verifyOnePass(ctx, src, nodeID, origin, cps, plan, opts.Progress)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, err
		}
		rep, err := verifyExact(ctx, src, nodeID, origin, cps, plan)
		return rep, true, err
	}
	rep.AddTree(tree)
	return rep, repeated, nil
}

// verifyExact is the node-ordered walk and the separate leaf walk.
func verifyExact(ctx context.Context, src Source, nodeID, origin string, cps []SourcedCheckpoint, plan *prunePlan) (*Report, error) {
	rep, err := verifyChains(ctx, src, nodeID, plan)
	if err != nil {
		return nil, err
	}
	tree, err := verifyTree(ctx, src, origin, cps)
	rep.AddTree(tree)
	return rep, err
}

// verifyOnePass makes the commit-order pass and returns the chains' report
// with the store's faults, and the tree's report. When a chain was out of
// place, the chains are walked again node by node with Verify, whose
// report is the one given; but a break the pass found is never undone by
// that walk: if the walk finds none (it reads in an order the store's
// indexes may have been shaped to give), or cannot read the rows at all,
// the pass's own report, with its breaks, is given instead.
func verifyOnePass(ctx context.Context, src Source, nodeID, origin string, cps []SourcedCheckpoint, plan *prunePlan, progress func(int64)) (*Report, TreeReport, bool, error) {
	rep, tree, p, err := onePass(ctx, src, nodeID, origin, cps, plan, progress)
	if p != nil {
		defer p.ids.close()
	}
	if err != nil {
		return nil, TreeReport{}, false, err
	}
	repeated, err := p.ids.repeated()
	if err != nil {
		return nil, TreeReport{}, false, fmt.Errorf("check ids: %w", err)
	}
	return rep, tree, repeated, nil
}

func onePass(ctx context.Context, src Source, nodeID, origin string, cps []SourcedCheckpoint, plan *prunePlan, progress func(int64)) (*Report, TreeReport, *pass, error) {
	heads, err := src.Heads(ctx, nodeID)
	if err != nil {
		return nil, TreeReport{}, nil, err
	}
	p := newPass(nodeID, origin, cps, src.KeepsTree(), plan)
	p.progress = progress
	if err := p.run(ctx, src); err != nil {
		return nil, TreeReport{}, p, err
	}
	tree, err := p.tree.finish(ctx, src)
	if err != nil {
		return nil, TreeReport{}, p, err
	}
	rep := p.chainReport(heads)
	if rep.Amendments, err = verifyAmendments(ctx, src, plan); err != nil {
		return nil, TreeReport{}, p, err
	}
	if err := verifyAnchors(ctx, src, &p.anchors, &rep.Amendments); err != nil {
		return nil, TreeReport{}, p, err
	}
	rep.settle()
	if p.outOfPlace(rep) {
		exact, err := verifyChains(ctx, src, nodeID, plan)
		switch {
		case err != nil && rep.BrokenAt == nil && p.store == nil:
			return nil, TreeReport{}, p, err
		case err == nil:
			rep = exact
			rep.keepBreaks(p.rowBreaks())
		}
	}
	rep.AddStoreBreak(p.store)
	return rep, tree, p, nil
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
	badText   string    // an identity field that is not valid UTF-8, or ""
	idKey     uint64    // the id's key in the pass's check of unique ids
}

// pass is the state of one commit-order pass.
type pass struct {
	scope     string // the node whose chain is verified; "" for all
	tree      *treeVerifier
	treeStop  bool // the tree broke: later leaves are not added
	nodes     map[string]*passNode
	irregular bool        // some row's storage classes rule the pass out
	touched   []*passNode // the nodes the batch being followed moved on
	// keepsTree says that every stamped row must be a leaf (TreeKeeper).
	keepsTree bool
	// store is the first fault found in the store as a whole.
	store *Break
	// chained is set from the first stamped row on, in commit order.
	chained bool
	// idSeed and ids check that ids are unique: a keyed 64-bit hash of
	// every row's id, sorted in runs and merged at the end. Two equal keys
	// send the check to the source (IDChecker), which compares the ids.
	idSeed maphash.Seed
	ids    idKeys
	// anchors are the anchor events met, whatever the scope.
	anchors anchorVerifier
	// plan says which rows are husks of a prune; read-only once the
	// pass runs, so that the hashing workers read it too.
	plan *prunePlan
	// progress, if set, is told the rows read so far after each batch.
	progress func(rows int64)
	rows     int64
}

func newPass(scope, origin string, cps []SourcedCheckpoint, keepsTree bool, plan *prunePlan) *pass {
	return &pass{scope: scope, tree: newTreeVerifier(origin, cps), nodes: map[string]*passNode{}, keepsTree: keepsTree,
		idSeed: maphash.MakeSeed(), plan: plan}
}

// checkIDs adds a duplicate id, if src can look for one and finds it, to
// the report as a fault of the store.
func checkIDs(ctx context.Context, src Source, rep *Report) error {
	id, n, err := src.DuplicateID(ctx)
	if err != nil {
		return fmt.Errorf("check ids: %w", err)
	}
	if id != "" {
		rep.AddStoreBreak(&Break{EventID: id, Reason: ReasonDuplicateID,
			Detail: fmt.Sprintf("%d rows hold id %q", n, id), Expected: "1 row", Found: fmt.Sprintf("%d rows", n)})
	}
	return nil
}

// storeFault records the first fault in the store as a whole, at row r.
func (p *pass) storeFault(r *CommitRow, reason, detail, expected, found string) {
	if p.store != nil {
		return
	}
	p.store = &Break{Trail: TrailStore, NodeID: strings.Clone(r.NodeID), Seq: r.Seq, EventID: strings.Clone(r.ID),
		Reason: reason, Detail: detail, Expected: expected, Found: found}
}

// checkRow applies the rules that hold for every row, whatever its chain:
// storage classes, valid text, and that a row is a leaf exactly when it is
// stamped, in a store that keeps the tree.
func (p *pass) checkRow(r *CommitRow, s *rowSums) {
	leaf := r.Has&HasLeaf != 0
	switch {
	case r.Fault != "":
		p.storeFault(r, ReasonStorageClass, r.Fault, "", "")
	case s.badText != "":
		p.storeFault(r, ReasonInvalidText, s.badText+" is not valid UTF-8", "", "")
	case p.keepsTree && r.stamped() && !leaf:
		p.storeFault(r, ReasonNotLeaf, "leaf_index is NULL", "a leaf index", "")
	case leaf && !r.stamped():
		p.storeFault(r, ReasonUnstampedLeaf, fmt.Sprintf("leaf %d", r.LeafIndex), "chain columns", "")
	case p.chained && !r.stamped():
		p.storeFault(r, ReasonUnchainedRow, "", "chain columns", "")
	}
	if r.stamped() {
		p.chained = true
	}
}

// run reads the rows on one goroutine, hashes them on workers, and follows
// chains and tree in commit order on the calling goroutine. Batches go
// round: free, filled by the reader, hashed, followed, free again.
func (p *pass) run(ctx context.Context, src Source) error {
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
				h.hashBatch(p.scope, p.idSeed, p.plan, b)
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
		if p.rows += int64(b.n); p.progress != nil {
			p.progress(p.rows)
		}
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
		if p.store == nil {
			p.checkRow(r, s)
		}
		p.ids.add(s.idKey)
		if r.Has&HasLeaf != 0 && !p.treeStop {
			p.treeStop = !p.tree.add(r.LeafIndex, s.leaf, r.NodeID, r.Seq)
		}
		if r.NodeID == AnchorNode && r.stamped() {
			var e StoredEvent
			r.stored(&e)
			p.anchors.add(&e.Event, r.Seq)
		}
		if p.scope != "" && r.NodeID != p.scope {
			continue
		}
		n := p.nodes[r.NodeID]
		if n == nil {
			id := strings.Clone(r.NodeID) // r's strings are the batch's
			n = &passNode{v: newNodeVerifier(id, p.plan)}
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
		v.last.hash, v.last.prev, v.last.id = strings.Clone(v.last.hash), strings.Clone(v.last.prev), strings.Clone(v.last.id)
	}
	p.touched = p.touched[:0]
}

// chainReport returns the chains' report as the pass found them: each
// node's counts, state and first break, and the heads compared.
func (p *pass) chainReport(heads []Head) *Report {
	ids := make([]string, 0, len(p.nodes))
	for id := range p.nodes {
		ids = append(ids, id)
	}
	slices.Sort(ids) // byte order, as SQLite's BINARY collation sorts text
	w := &walker{heads: heads, plan: p.plan}
	for _, id := range ids {
		w.finish(p.nodes[id].v)
	}
	w.orphans("", true)
	return w.report(p.scope)
}

// outOfPlace reports whether the chains must be walked node by node for
// the report Verify gives: a row was out of chain order or of an
// unexpected storage class, or some chain or head broke (Verify's walk
// names the break as the node-ordered walk defines it).
func (p *pass) outOfPlace(rep *Report) bool {
	if p.irregular {
		return true
	}
	for _, n := range rep.Nodes {
		if n.Break != nil {
			return true
		}
	}
	return false
}

// rowBreaks returns, for each node, the first row the pass found broken
// in itself: a row whose chain hash is not the hash of its own identity and
// predecessor, or whose payload is not its last digest. Unlike a row out
// of order, such a row is broken wherever it stands in the chain.
func (p *pass) rowBreaks() []*Break {
	var out []*Break
	for _, n := range p.nodes {
		if n.rowBreak != nil {
			out = append(out, n.rowBreak)
		}
	}
	slices.SortFunc(out, func(a, b *Break) int { return strings.Compare(a.NodeID, b.NodeID) })
	return out
}

// passNode follows one node's chain in commit order. Its nodeVerifier is
// given the state a node-ordered walk reaches, as long as every row is
// the next link of the chain. The first row that is not is given to the
// nodeVerifier itself, which records the break with its evidence, and so
// are the rows after it, which it only counts.
type passNode struct {
	v        *nodeVerifier
	bad      bool
	touched  bool   // by the batch being followed
	rowBreak *Break // the first row broken in itself (see rowBreaks)
}

// add is nodeVerifier.Add with the hashes already checked: it takes a row
// only when Add would find nothing wrong with it, so that a node that
// stays good has exactly the counts and state of a node-ordered walk.
// Any other row goes to Add, which names what is wrong.
func (n *passNode) add(r *CommitRow, s *rowSums) {
	if n.bad || !n.fast(r, s) {
		n.bad = true
		var e StoredEvent
		r.stored(&e)
		if n.rowBreak == nil && !(r.stamped() && n.v.husk(r.Seq)) {
			if b := brokenRow(n.v.report.NodeID, &e); b != nil {
				n.rowBreak = b.clone()
			}
		}
		n.v.Add(&e)
		if b := n.v.report.Break; b != nil {
			n.v.report.Break = b.clone() // its strings are the batch's
		}
	}
}

// brokenRow checks what can be checked of a row alone, wherever it stands
// in its chain: a stamped row's hash against its own predecessor and
// identity, and the payload against its last digest. It returns the break,
// or nil.
func brokenRow(node string, e *StoredEvent) *Break {
	var h Hasher
	brk := func(reason, expected, found string) *Break {
		return &Break{NodeID: node, Seq: e.Seq, EventID: e.ID, Reason: reason, Expected: expected, Found: found}
	}
	if e.Stamped() {
		switch got := h.SumStored(e.PrevHash, &e.Event); {
		case e.Hash == "":
			return brk(ReasonHiddenRow, got, "")
		case e.Seq == 0:
			return brk(ReasonNoSeq, "a seq", "")
		case got != e.Hash:
			return brk(ReasonHashMismatch, got, e.Hash)
		}
	}
	want := e.LastDigest
	if want == "" {
		want = e.PayloadDigest
	}
	if want == "" {
		return nil
	}
	m := e.Mutable()
	if got := h.PayloadSum(&m); got != want {
		return brk(ReasonPayloadChanged, want, got)
	}
	return nil
}

// fast takes the row when it is the chain's next link and its payload
// matches, and reports whether it did.
func (n *passNode) fast(r *CommitRow, s *rowSums) bool {
	v := n.v
	rep := &v.report
	want := r.lastDigest()
	if !r.stamped() {
		if want != "" && !s.payloadOK {
			return false
		}
		rep.PreChain++
		if want != "" {
			rep.PayloadsChecked++
		}
		return true
	}
	var e StoredEvent
	r.stored(&e)
	if v.husk(r.Seq) {
		return v.addHusk(&e)
	}
	if !s.chainOK || nextLink(v.report.NodeID, v.last, &e, &s.chainOK, &v.hasher) != nil {
		return false
	}
	if want == "" && v.sealed {
		return false
	}
	if want != "" && !s.payloadOK {
		return false
	}
	rep.Checked++
	v.last = link{seq: r.Seq, hash: r.Hash, prev: r.PrevHash, id: r.ID}
	if want == "" {
		rep.PayloadsUnsealed++
		return true
	}
	if r.PayloadDigest != "" {
		v.sealed = true
	}
	rep.PayloadsChecked++
	return true
}

// passHasher computes a batch's hashes with one reused buffer.
type passHasher struct {
	buf []byte
}

func (h *passHasher) hashBatch(scope string, seed maphash.Seed, plan *prunePlan, b *passBatch) {
	var e StoredEvent
	for i := range b.n {
		r, s := &b.rows[i], &b.sums[i]
		*s = rowSums{idKey: maphash.String(seed, r.ID)}
		if r.Has&HasLeaf != 0 {
			s.leaf = h.leafHash(r)
		}
		r.stored(&e)
		s.badText = invalidText(&e.Event)
		if r.Irregular || (scope != "" && r.NodeID != scope) || (r.stamped() && plan.husk(r.NodeID, r.Seq)) {
			continue // a husk's identity and payload are gone
		}
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

// invalidText names the first identity field of e that is not valid UTF-8,
// or is "". The canonical form writes each invalid byte as U+FFFD, so two
// rows whose stored bytes differ there would share one chain hash.
func invalidText(e *Event) string {
	for _, f := range [...]struct {
		name string
		v    string
	}{{"id", e.ID}, {"agent_type", e.AgentType}, {"node_id", e.NodeID}, {"agent_id", e.AgentID},
		{"event_type", e.EventType}, {"ts", e.TS}} {
		if !utf8.ValidString(f.v) {
			return f.name
		}
	}
	for _, f := range [...]struct {
		name string
		v    *string
	}{{"session_id", e.SessionID}, {"workspace_id", e.WorkspaceID}} {
		if f.v != nil && !utf8.ValidString(*f.v) {
			return f.name
		}
	}
	return ""
}
