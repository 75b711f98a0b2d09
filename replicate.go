package chainlog

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Replication: a node forwards its stamped events, with their chain
// columns, to a collector, which checks each node's continuity on arrival
// and stamps the events on its own copy of the node's chain. Because a
// chain hash depends only on the event's identity and its predecessor's
// hash, a collector whose head for a node is the node's own head stamps
// the arriving events with the very hashes the node gave them: the
// collector's chain for a node is the node's chain, and the collector's
// tree commits to it leaf by leaf.
//
// The rule is written once, here (Replicate): a store supplies the reads
// and writes of one transaction (ReplicaTx).

// Replicator is a store that can act as a collector.
type Replicator interface {
	// Replicate commits one node's stamped events (in seq order, each
	// linked to the one before) after the collector's head for that node,
	// in one transaction. Events the collector already holds with the same
	// hashes are duplicates. A node quarantined by an unresolved fork is
	// refused with a *QuarantineError; an event that contradicts what the
	// collector holds is fork evidence: it is recorded, the node is
	// quarantined, and the result is a *ForkError. A batch that starts
	// after the collector's head is a *GapError; one whose own chain does
	// not hold is a *ChainError. Nothing is ever overwritten.
	Replicate(ctx context.Context, events []StoredEvent) (ReplicateResult, error)

	// Forks returns the fork evidence recorded for nodeID (every node's
	// when empty), oldest first.
	Forks(ctx context.Context, nodeID string) ([]Fork, error)

	// ResolveForks marks nodeID's unresolved forks resolved, recording
	// who did it, when and why, and lifts the node's quarantine. It
	// returns how many forks it resolved.
	ResolveForks(ctx context.Context, nodeID, actor, reason string) (int, error)
}

// ReplicateResult counts what one Replicate call did, and gives the
// collector's head for the node after it.
type ReplicateResult struct {
	NodeID     string `json:"node_id"`
	Inserted   int    `json:"inserted"`
	Duplicates int    `json:"duplicates"`
	Head       Head   `json:"-"`
	// Fork is the fork evidence recorded by this call; nil when none.
	Fork *Fork `json:"-"`
}

// Fork is the evidence that a node presented two histories: at seq, the
// collector holds one chain hash (Expected, on the stored row StoredID)
// and the node sent another (Found, on the arriving row EventID). Both
// rows are kept, as export writes them. A fork on the link (Detail says
// so) is an arriving row at the collector's head + 1 whose prev hash is
// not the head's hash.
type Fork struct {
	ID         int64  `json:"id"`
	NodeID     string `json:"node_id"`
	Seq        int64  `json:"seq"`
	StoredID   string `json:"stored_id"`
	EventID    string `json:"event_id"`
	Expected   string `json:"expected"`
	Found      string `json:"found"`
	Detail     string `json:"detail"`
	StoredRow  string `json:"stored_row"`
	ArrivedRow string `json:"arrived_row"`
	DetectedAt string `json:"detected_at"`
	ResolvedAt string `json:"resolved_at,omitempty"`
	ResolvedBy string `json:"resolved_by,omitempty"`
	Resolution string `json:"resolution,omitempty"`
}

// Resolved reports whether an operator resolved the fork.
func (f *Fork) Resolved() bool { return f.ResolvedAt != "" }

// Break returns the fork as a verification break of its node's chain.
func (f *Fork) Break() *Break {
	return &Break{NodeID: f.NodeID, Seq: f.Seq, EventID: f.EventID, Reason: ReasonNodeFork,
		Detail: strings.TrimSpace(fmt.Sprintf("fork %d, unresolved: %s", f.ID, f.Detail)), Expected: f.Expected, Found: f.Found}
}

// The errors of a refused batch; each matches its sentinel with errors.Is.
var (
	ErrForked      = errors.New("fork evidence: the node sent a second history")
	ErrQuarantined = errors.New("node is quarantined by an unresolved fork")
	ErrChainGap    = errors.New("batch does not follow the collector's head")
	ErrBadChain    = errors.New("batch's chain does not hold")
)

// ForkError is a batch that contradicted the collector: the evidence is
// recorded and the node quarantined.
type ForkError struct {
	Fork Fork
	Head Head // the collector's head for the node
}

func (e *ForkError) Error() string {
	return fmt.Sprintf("node %q seq %d: %v: the collector holds %s, the node sent %s (%s); the node is quarantined",
		e.Fork.NodeID, e.Fork.Seq, ErrForked, e.Fork.Expected, e.Fork.Found, e.Fork.Detail)
}
func (e *ForkError) Unwrap() error { return ErrForked }

// QuarantineError refuses a quarantined node's batch.
type QuarantineError struct {
	NodeID string
	Forks  int // unresolved
	Head   Head
}

func (e *QuarantineError) Error() string {
	return fmt.Sprintf("node %q: %v (%d unresolved); an operator resolves it with chainlog forks resolve", e.NodeID, ErrQuarantined, e.Forks)
}
func (e *QuarantineError) Unwrap() error { return ErrQuarantined }

// GapError refuses a batch whose first event is past the collector's head
// + 1 (or repeats a seq the collector does not hold): the sender resumes
// from Head.
type GapError struct {
	NodeID string
	First  int64 // the batch's first seq
	Head   Head
}

func (e *GapError) Error() string {
	return fmt.Sprintf("node %q: %v: the batch starts at seq %d, the collector's head is seq %d", e.NodeID, ErrChainGap, e.First, e.Head.Seq)
}
func (e *GapError) Unwrap() error { return ErrChainGap }

// ChainError refuses a batch whose own rows break the chain rule: Line is
// the row's index in the batch (0-based), and Break the evidence.
type ChainError struct {
	Line  int
	Break *Break
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("row %d: %v: %s", e.Line+1, ErrBadChain, e.Break)
}
func (e *ChainError) Unwrap() error { return ErrBadChain }

// ReplicaTx is one store transaction as Replicate drives it. The store
// begins it, and commits it when Replicate returns a nil error or a
// *ForkError (whose evidence must be kept); it rolls it back otherwise.
type ReplicaTx interface {
	// LockHead returns node's head (the zero head with NodeID set when the
	// chain has not begun), locked until the transaction ends.
	LockHead(ctx context.Context, node string) (Head, error)
	// UnresolvedForks counts node's unresolved forks.
	UnresolvedForks(ctx context.Context, node string) (int, error)
	// StoredRows returns node's stored rows with from <= chain_seq <= to,
	// keyed by seq, with every column.
	StoredRows(ctx context.Context, node string, from, to int64) (map[int64]*StoredEvent, error)
	// Append stamps events after the locked head and commits them as the
	// next leaves, as Ingest does, and returns the node's new head and the
	// counts.
	Append(ctx context.Context, events []Event) (IngestResult, Head, error)
	// AddFork records fork evidence; the store sets ID and DetectedAt.
	AddFork(ctx context.Context, f *Fork) error
}

// Replicate checks one node's batch against the collector's state in tx
// and writes what it holds: the rule every store's Replicate calls.
//
// The batch must be one node's stamped rows, in seq order, each linked to
// the one before, each hash that of its identity (the chain rule,
// ChainCheck). Against the collector's head for the node: rows at or below
// the head must match the stored rows (duplicates); the first row after
// the head must be seq head + 1 linked to the head's hash; the rest are
// appended. A contradiction is recorded as a Fork and returned as a
// *ForkError, with nothing appended.
func Replicate(ctx context.Context, tx ReplicaTx, batch []StoredEvent) (ReplicateResult, error) {
	var res ReplicateResult
	if len(batch) == 0 {
		return res, errors.New("replicate: an empty batch")
	}
	node := batch[0].NodeID
	res.NodeID = node
	if err := CheckUserNodeID(node); err != nil {
		return res, &ChainError{Line: 0, Break: &Break{NodeID: node, Seq: batch[0].Seq, EventID: batch[0].ID, Reason: ReasonBadNodeID, Detail: err.Error()}}
	}
	// The batch's own chain, from its first row's predecessor.
	c := NewChainCheck(node, batch[0].Seq-1, batch[0].PrevHash)
	for i := range batch {
		e := &batch[i]
		if e.NodeID != node {
			return res, &ChainError{Line: i, Break: &Break{NodeID: e.NodeID, Seq: e.Seq, EventID: e.ID, Reason: ReasonBadNodeID,
				Detail: "a batch holds one node's events", Expected: node, Found: e.NodeID}}
		}
		if e.Seq < 1 {
			return res, &ChainError{Line: i, Break: &Break{NodeID: node, EventID: e.ID, Reason: ReasonNoSeq, Detail: "a forwarded event must be stamped"}}
		}
		if i == 0 && e.Seq == 1 && e.PrevHash != GenesisHash {
			return res, &ChainError{Line: i, Break: &Break{NodeID: node, Seq: 1, EventID: e.ID, Reason: ReasonPrevMismatch, Expected: GenesisHash, Found: e.PrevHash}}
		}
		if b := c.Next(e); b != nil {
			return res, &ChainError{Line: i, Break: b}
		}
		if e.Data != nil {
			// What DecodeEvent refuses in data, a node's store never held.
			if err := CheckData(e.Data); err != nil {
				return res, &ChainError{Line: i, Break: &Break{NodeID: node, Seq: e.Seq, EventID: e.ID, Reason: ReasonBadData, Detail: err.Error()}}
			}
		}
	}

	head, err := tx.LockHead(ctx, node)
	if err != nil {
		return res, fmt.Errorf("lock the head of %q: %w", node, err)
	}
	head.NodeID = node
	res.Head = head
	n, err := tx.UnresolvedForks(ctx, node)
	if err != nil {
		return res, fmt.Errorf("read the forks of %q: %w", node, err)
	}
	if n > 0 {
		return res, &QuarantineError{NodeID: node, Forks: n, Head: head}
	}
	first, last := batch[0].Seq, batch[len(batch)-1].Seq
	if first > head.Seq+1 {
		return res, &GapError{NodeID: node, First: first, Head: head}
	}
	// Rows the collector holds already: each must be the same row.
	k := 0
	if first <= head.Seq {
		stored, err := tx.StoredRows(ctx, node, first, min(last, head.Seq))
		if err != nil {
			return res, fmt.Errorf("read the stored rows of %q: %w", node, err)
		}
		for ; k < len(batch) && batch[k].Seq <= head.Seq; k++ {
			e := &batch[k]
			s, ok := stored[e.Seq]
			if !ok {
				// Pruned from the collector, or never held: the batch
				// cannot be compared, and the sender resumes at the head.
				return res, &GapError{NodeID: node, First: e.Seq, Head: head}
			}
			if s.Hash == e.Hash && s.ID == e.ID {
				res.Duplicates++
				continue
			}
			f := &Fork{NodeID: node, Seq: e.Seq, StoredID: s.ID, EventID: e.ID, Expected: s.Hash, Found: e.Hash,
				Detail: "the same seq with another chain hash"}
			if s.Hash == e.Hash {
				f.Detail = "the same chain hash under another event id"
			}
			return recordFork(ctx, tx, res, f, s, e)
		}
	}
	if k == len(batch) {
		return res, nil
	}
	if e := &batch[k]; e.PrevHash != head.Prev() {
		f := &Fork{NodeID: node, Seq: e.Seq, EventID: e.ID, Expected: head.Prev(), Found: e.PrevHash,
			Detail: fmt.Sprintf("seq %d links to another predecessor than the collector's seq %d", e.Seq, head.Seq)}
		var s *StoredEvent
		if head.Seq > 0 {
			rows, err := tx.StoredRows(ctx, node, head.Seq, head.Seq)
			if err != nil {
				return res, fmt.Errorf("read the stored rows of %q: %w", node, err)
			}
			if s = rows[head.Seq]; s != nil {
				f.StoredID = s.ID
			}
		}
		return recordFork(ctx, tx, res, f, s, e)
	}
	fresh := make([]Event, 0, len(batch)-k)
	for i := k; i < len(batch); i++ {
		fresh = append(fresh, batch[i].Event)
	}
	ir, next, err := tx.Append(ctx, fresh)
	if err != nil {
		return res, err
	}
	// The store stamped the events on the head that was checked, so its
	// stamps are the node's; an id stored under another node or seq would
	// leave one out.
	want := &batch[len(batch)-1]
	if ir.Inserted != len(fresh) || next.Seq != want.Seq || next.Hash != want.Hash {
		return res, fmt.Errorf("%w: node %q: %d of %d events appended, ending at seq %d %s where the batch ends at seq %d %s (an event id already stored elsewhere?)",
			ErrBadChain, node, ir.Inserted, len(fresh), next.Seq, next.Hash, want.Seq, want.Hash)
	}
	res.Inserted = ir.Inserted
	res.Head = next
	return res, nil
}

// recordFork records f, with both rows as export writes them.
func recordFork(ctx context.Context, tx ReplicaTx, res ReplicateResult, f *Fork, stored, arrived *StoredEvent) (ReplicateResult, error) {
	if stored != nil {
		b, err := stored.MarshalJSON()
		if err != nil {
			return res, err
		}
		f.StoredRow = string(b)
	}
	b, err := arrived.MarshalJSON()
	if err != nil {
		return res, err
	}
	f.ArrivedRow = string(b)
	if err := tx.AddFork(ctx, f); err != nil {
		return res, fmt.Errorf("record fork evidence: %w", err)
	}
	res.Fork = f
	return res, &ForkError{Fork: *f, Head: res.Head}
}

// ReplicaAck is a collector's answer on the wire: to a forwarded batch
// (POST /v1/replicate), and to a node asking where to resume (GET). Seq
// and Hash are the collector's head for the node; the sender resumes
// after it. A refused batch says why: Quarantined, Gap, Fork (the
// evidence just recorded), or Line and Break (a row whose chain does not
// hold, 1-based).
type ReplicaAck struct {
	NodeID      string `json:"node_id"`
	Seq         int64  `json:"seq"`
	Hash        string `json:"hash"`
	Inserted    int    `json:"inserted"`
	Duplicates  int    `json:"duplicates"`
	Quarantined bool   `json:"quarantined,omitempty"`
	Gap         bool   `json:"gap,omitempty"`
	Fork        *Fork  `json:"fork,omitempty"`
	Line        int    `json:"line,omitempty"`
	Break       *Break `json:"break,omitempty"`
	Error       string `json:"error,omitempty"`
}

// Ack returns the answer to a Replicate call that returned res and err
// (nil, or one of its refusals; another error gives ok false).
func Ack(res ReplicateResult, err error) (ack ReplicaAck, ok bool) {
	ack = ReplicaAck{NodeID: res.NodeID, Seq: res.Head.Seq, Hash: res.Head.Hash, Inserted: res.Inserted, Duplicates: res.Duplicates}
	if err == nil {
		return ack, true
	}
	ack.Error = err.Error()
	var (
		fe *ForkError
		qe *QuarantineError
		ge *GapError
		ce *ChainError
	)
	switch {
	case errors.As(err, &fe):
		ack.Fork, ack.Quarantined = &fe.Fork, true
		ack.Seq, ack.Hash = fe.Head.Seq, fe.Head.Hash
	case errors.As(err, &qe):
		ack.Quarantined = true
		ack.Seq, ack.Hash = qe.Head.Seq, qe.Head.Hash
	case errors.As(err, &ge):
		ack.Gap = true
		ack.Seq, ack.Hash = ge.Head.Seq, ge.Head.Hash
	case errors.As(err, &ce):
		ack.Line, ack.Break = ce.Line+1, ce.Break
	default:
		return ack, false
	}
	return ack, true
}
