package chainlog

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Retention: pruning the oldest events of a node without making the store
// look tampered with (see docs/retention.md).
//
// A prune keeps each pruned row as a husk: its id, node_id, chain_seq,
// chain columns, payload digest and leaf index stay; its other identity
// fields become empty and its mutable fields NULL. The Merkle tree, every
// signed checkpoint and the proofs of the remaining events stay valid,
// since a leaf commits only to what the husk keeps. The prune appends one
// record per node to the amendment trail (Kind KindPrune, with a
// PruneRange), in the transaction that makes the husks, and the trail's
// anchor event commits its head to the tree, as for amendments.
//
// A prune record may claim only what the surviving chain attests: a prefix
// of the node's chain, right after the previous prune of the node (or from
// seq 1), whose last husk's chain hash, the anchor, is the chain_prev_hash
// of the first surviving event (or the node's head, when every event was
// pruned). The verifier checks the husks' links from genesis to the anchor
// and starts the chain's hash checks after it; a husk beyond the records'
// ranges, a range without husks, or an anchor that does not link is a
// break. Anyone who can write the store but not rewrite the tree cannot
// relabel a deletion in the middle of a chain as a prune.

// KindPrune is the kind of a prune record in the amendment trail.
const KindPrune = "prune"

// PruneRange is what a prune record says of one node: its events seq
// FirstSeq through LastSeq were pruned, the last of them had chain hash
// Anchor, and they were chosen as older than Before.
type PruneRange struct {
	NodeID   string `json:"node_id"`
	FirstSeq int64  `json:"first_seq"`
	LastSeq  int64  `json:"last_seq"`
	Count    int64  `json:"count"`
	Anchor   string `json:"anchor"`
	Before   string `json:"before"`
}

// appendCanonical appends the range's canonical text: a JSON object with
// keys in byte order.
func (r *PruneRange) appendCanonical(dst []byte) []byte {
	dst = append(dst, `{"anchor":`...)
	dst = appendPyString(dst, r.Anchor)
	dst = append(dst, `,"before":`...)
	dst = appendPyString(dst, r.Before)
	dst = append(dst, `,"count":`...)
	dst = strconv.AppendInt(dst, r.Count, 10)
	dst = append(dst, `,"first_seq":`...)
	dst = strconv.AppendInt(dst, r.FirstSeq, 10)
	dst = append(dst, `,"last_seq":`...)
	dst = strconv.AppendInt(dst, r.LastSeq, 10)
	dst = append(dst, `,"node_id":`...)
	dst = appendPyString(dst, r.NodeID)
	return append(dst, '}')
}

// Check applies the rules a range holds alone: a node, a first seq of at
// least 1, a last seq not before it, the count of the seqs between, and an
// anchor that is a chain hash.
func (r *PruneRange) Check() error {
	switch {
	case r.NodeID == "":
		return &FieldError{Field: "prune.node_id", Msg: "is empty"}
	case r.FirstSeq < 1:
		return &FieldError{Field: "prune.first_seq", Msg: fmt.Sprintf("is %d, not at least 1", r.FirstSeq)}
	case r.LastSeq < r.FirstSeq:
		return &FieldError{Field: "prune.last_seq", Msg: fmt.Sprintf("%d is before first_seq %d", r.LastSeq, r.FirstSeq)}
	case r.Count != r.LastSeq-r.FirstSeq+1:
		return &FieldError{Field: "prune.count", Msg: fmt.Sprintf("%d is not the %d seqs from %d to %d", r.Count, r.LastSeq-r.FirstSeq+1, r.FirstSeq, r.LastSeq)}
	case !isHex64(r.Anchor):
		return &FieldError{Field: "prune.anchor", Msg: fmt.Sprintf("%q is not a chain hash", r.Anchor)}
	}
	return nil
}

// CheckPruneRange is the prefix rule: r may follow prev, the node's
// previous prune (nil when there is none), only as the next run of seqs,
// and its anchor must be what the surviving chain attests: next, the
// chain_prev_hash of the event at r.LastSeq+1, or the node's head hash
// when r reaches the head.
func CheckPruneRange(r *PruneRange, prev *PruneRange, next string) error {
	if err := r.Check(); err != nil {
		return err
	}
	want := int64(1)
	if prev != nil {
		want = prev.LastSeq + 1
	}
	if r.FirstSeq != want {
		return &FieldError{Field: "prune.first_seq", Msg: fmt.Sprintf("node %q: %d, but only a prefix of a chain can be pruned: the next unpruned seq is %d", r.NodeID, r.FirstSeq, want)}
	}
	if r.Anchor != next {
		return &FieldError{Field: "prune.anchor", Msg: fmt.Sprintf("node %q: %s is not what the surviving chain links to (%s)", r.NodeID, r.Anchor, orNone(next))}
	}
	return nil
}

// PruneCut is one node's part of a planned prune: its events seq FirstSeq
// through LastSeq, whose last has chain hash Anchor.
type PruneCut struct {
	NodeID   string `json:"node_id"`
	FirstSeq int64  `json:"first_seq"`
	LastSeq  int64  `json:"last_seq"`
	Anchor   string `json:"anchor"`
}

// PruneRequest asks a store to prune exactly Cuts (from PlanPrune), with
// the reason and actor its records keep. Before is the cut time the cuts
// were planned with.
type PruneRequest struct {
	Cuts   []PruneCut
	Before time.Time
	Reason string
	Actor  string
}

// Check refuses a request without cuts, reason or actor.
func (r *PruneRequest) Check() error {
	switch {
	case len(r.Cuts) == 0:
		return &FieldError{Field: "cuts", Msg: "nothing to prune"}
	case r.Reason == "":
		return &FieldError{Field: "reason", Msg: "a reason is required"}
	case r.Actor == "":
		return &FieldError{Field: "actor", Msg: "an actor is required"}
	case r.Before.IsZero():
		return &FieldError{Field: "before", Msg: "a cut time is required"}
	}
	return nil
}

// FormatPruneTime is how a prune record writes its cut time.
func FormatPruneTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Pruner is a store that can prune. PlanPrune reads, Prune writes.
type Pruner interface {
	// PlanPrune returns, for every node (or only nodeID), the events to
	// prune: the longest run after the node's last prune whose ts are all
	// before the cut, in chain order. A ts that cannot be read as a time
	// ends the run. The store's own nodes are never pruned.
	PlanPrune(ctx context.Context, before time.Time, nodeID string) ([]PruneCut, error)
	// Prune makes husks of the cuts' events and appends their prune
	// records, with the trail's anchor, in one transaction. A cut that is
	// no longer what the store holds (another prune ran, or its anchor
	// changed) fails the whole call, with nothing changed.
	Prune(ctx context.Context, req PruneRequest) ([]Amendment, error)
}

// PruneSource is a Source that can list its prune records alone, so that
// the verifier knows where each pruned chain resumes before it reads the
// rows. A Source without it has no prunes.
type PruneSource interface {
	// Prunes returns the trail's prune records in seq order.
	Prunes(ctx context.Context) ([]Amendment, error)
}

// PruneSummary is one prune record as a report gives it.
type PruneSummary struct {
	PruneRange
	Seq    int64  `json:"seq"` // the record's seq in the trail
	At     string `json:"at"`
	Actor  string `json:"actor"`
	Reason string `json:"reason"`
}

// String is the summary as verify-integrity prints it.
func (s PruneSummary) String() string {
	return fmt.Sprintf("%s events (%s seq %s-%s, before %s) on %s by %s: %s",
		Thousands(s.Count), s.NodeID, Thousands(s.FirstSeq), Thousands(s.LastSeq), s.Before, s.At, s.Actor, s.Reason)
}

// Thousands writes n with commas between groups of three digits.
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3+1)
	if neg {
		out = append(out, '-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// pruneCut is where a pruned node's chain resumes.
type pruneCut struct {
	last   int64  // the last pruned seq
	anchor string // its chain hash
}

// prunePlan is the prune records read before the rows: each pruned node's
// resumption point, and the records themselves, which the trail's walk
// compares with the records it meets.
type prunePlan struct {
	cuts    map[string]pruneCut
	records []Amendment
	brk     *Break // the first record that breaks the prefix rule
}

// readPrunePlan reads src's prune records, when it has any, and checks
// that each node's ranges follow one another from seq 1.
func readPrunePlan(ctx context.Context, src any) (*prunePlan, error) {
	p := &prunePlan{cuts: map[string]pruneCut{}}
	ps, ok := src.(PruneSource)
	if !ok {
		return p, nil
	}
	recs, err := ps.Prunes(ctx)
	if err != nil {
		return nil, fmt.Errorf("read prune records: %w", err)
	}
	p.records = recs
	prev := map[string]*PruneRange{}
	for i := range recs {
		a := &recs[i]
		if p.brk != nil {
			break
		}
		if a.Prune == nil {
			p.brk = &Break{Trail: TrailAmendments, Seq: a.Seq, Reason: ReasonPruneRecord, Detail: "a prune record without its range"}
			break
		}
		r := a.Prune
		want := int64(1)
		if pr := prev[r.NodeID]; pr != nil {
			want = pr.LastSeq + 1
		}
		if err := r.Check(); err != nil || r.FirstSeq != want {
			detail := fmt.Sprintf("node %q: seq %d-%d, but the next unpruned seq is %d", r.NodeID, r.FirstSeq, r.LastSeq, want)
			if err != nil {
				detail = err.Error()
			}
			p.brk = &Break{Trail: TrailAmendments, NodeID: r.NodeID, Seq: a.Seq, Reason: ReasonPruneRecord, Detail: detail,
				Expected: fmt.Sprintf("first_seq %d", want), Found: fmt.Sprintf("first_seq %d", r.FirstSeq)}
			break
		}
		prev[r.NodeID] = r
		p.cuts[r.NodeID] = pruneCut{last: r.LastSeq, anchor: r.Anchor}
	}
	return p, nil
}

// summaries returns the records as a report gives them.
func (p *prunePlan) summaries() []PruneSummary {
	var out []PruneSummary
	for _, a := range p.records {
		if a.Prune != nil {
			out = append(out, PruneSummary{PruneRange: *a.Prune, Seq: a.Seq, At: a.At, Actor: a.Actor, Reason: a.Reason})
		}
	}
	return out
}

// husk reports whether the row at node's seq is a husk by the records.
func (p *prunePlan) husk(node string, seq int64) bool {
	if p == nil || len(p.cuts) == 0 {
		return false
	}
	c, ok := p.cuts[node]
	return ok && seq >= 1 && seq <= c.last
}

// compareTrail adds to r, the trail's report, the first record that broke
// the prefix rule, or a difference between the prune records read first
// and those the trail's walk met.
func (p *prunePlan) compareTrail(v *amendmentVerifier, r *AmendmentReport) {
	if p == nil || r.Break != nil {
		return
	}
	b := p.brk
	if b == nil {
		n := min(len(p.records), len(v.prunes))
		i := 0
		for i < n && p.records[i].Seq == v.prunes[i].seq && p.records[i].Hash == v.prunes[i].hash {
			i++
		}
		if i < len(p.records) || i < len(v.prunes) {
			b = &Break{Trail: TrailAmendments, Reason: ReasonPruneRecords,
				Expected: fmt.Sprintf("%d prune records", len(v.prunes)), Found: fmt.Sprintf("%d prune records, differing from record %d", len(p.records), i+1)}
			if i < len(v.prunes) {
				b.Seq = v.prunes[i].seq
			}
		}
	}
	if b != nil {
		r.Break = b
		r.Status = statusOf(b, r.Checked)
	}
}

// tsLayouts are the forms of ts that ParseTS reads: RFC 3339, and the ISO
// 8601 forms without a zone that Python's isoformat writes (read as UTC).
var tsLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999", "2006-01-02"}

// ParseTS reads an event's ts as a time, for retention: the chain hashes
// ts as text, and agents write it in more than one form.
func ParseTS(ts string) (time.Time, error) {
	for _, l := range tsLayouts {
		if t, err := time.Parse(l, ts); err == nil {
			return t, nil
		}
	}
	return time.Time{}, &FieldError{Field: "ts", Msg: fmt.Sprintf("%q is not an RFC 3339 or ISO 8601 time", ts)}
}

// Husk reports whether e is the husk of a pruned event: stamped, with an
// empty event_type, which no event can have (DecodeEvent requires one).
func (e *StoredEvent) Husk() bool {
	return e.EventType == "" && e.Seq > 0
}

// bareHusk reports whether e holds nothing that MakeHusk empties: a row a
// prune record covers that holds any of it had its data written back.
func (e *StoredEvent) bareHusk() bool {
	m := e.Mutable()
	return e.AgentType == "" && e.AgentID == "" && e.EventType == "" && e.TS == "" &&
		e.SessionID == nil && e.WorkspaceID == nil &&
		m.Data == nil && m.CostUSD == nil && m.TokenCount == nil && m.Model == nil
}

// MakeHusk empties what a prune removes from e: every identity field but
// id and node_id, and the mutable fields. The chain stamp, the payload
// digest, the leaf index and created_at stay.
func (e *StoredEvent) MakeHusk() {
	e.AgentType, e.AgentID, e.EventType, e.TS = "", "", "", ""
	e.SessionID, e.WorkspaceID = nil, nil
	e.SetMutable(Mutable{})
}
