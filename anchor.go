package chainlog

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The amendment trail is anchored in the Merkle tree: in the transaction
// that appends trail records, the store also stamps one anchor event whose
// identity commits to the trail's new head. The anchor is chained on its
// node and is a leaf like any event, so the chain, the tree, proofs,
// consistency and witnesses' cosignatures all cover the trail's head (see
// docs/audit-trail.md).
const (
	// ReservedNodePrefix starts every node_id the store writes itself.
	// Events from users may not use it (CheckUserNodeID).
	ReservedNodePrefix = "chainlog:"
	// AnchorNode is the node of the amendment trail's anchor events.
	AnchorNode = ReservedNodePrefix + "amendments"
	// AnchorEventType is an anchor event's event_type.
	AnchorEventType = "amendment_anchor"
	// AnchorAgentType is an anchor event's agent_type and agent_id.
	AnchorAgentType = "chainlog"
	// anchorIDPrefix starts an anchor event's id: amendments:<seq>:<hash>.
	anchorIDPrefix = "amendments:"
)

// AnchorID returns the id of the anchor event of trail head (seq, hash):
// amendments:<seq>:<hash>. `chainlog prove --id` takes it.
func AnchorID(seq int64, hash string) string {
	return anchorIDPrefix + strconv.FormatInt(seq, 10) + ":" + hash
}

// AnchorEvent returns the event that anchors the amendment trail's head
// (seq, hash), committed at ts (the amendment time). Its identity (id)
// holds seq and hash, so its chain hash, and so its leaf, commits to them;
// data repeats them for readers.
func AnchorEvent(seq int64, hash, ts string) Event {
	data := fmt.Sprintf(`{"seq":%d,"hash":%q}`, seq, hash)
	return Event{ID: AnchorID(seq, hash), AgentType: AnchorAgentType, NodeID: AnchorNode, AgentID: AnchorAgentType,
		EventType: AnchorEventType, TS: ts, Data: json.RawMessage(data)}
}

// ParseAnchor returns the trail head an anchor event commits to. ok is
// false when e is not on AnchorNode, or its identity is not an anchor's
// (a row on the anchor node that is not one is reported by the verifier).
// Only the identity is read: it is what the chain and the tree cover.
func ParseAnchor(e *Event) (seq int64, hash string, ok bool) {
	if e.NodeID != AnchorNode || e.EventType != AnchorEventType || e.AgentType != AnchorAgentType {
		return 0, "", false
	}
	rest, found := strings.CutPrefix(e.ID, anchorIDPrefix)
	if !found {
		return 0, "", false
	}
	s, hash, found := strings.Cut(rest, ":")
	if !found || !isHex64(hash) {
		return 0, "", false
	}
	seq, err := strconv.ParseInt(s, 10, 64)
	if err != nil || seq < 1 || strconv.FormatInt(seq, 10) != s {
		return 0, "", false
	}
	return seq, hash, true
}

// CheckUserNodeID refuses a node_id that only the store may write: one
// that starts with ReservedNodePrefix. DecodeEvent applies it, and so do
// the stores' Ingest, so that no one but the amendment path writes an
// anchor.
func CheckUserNodeID(node string) error {
	if strings.HasPrefix(node, ReservedNodePrefix) {
		return &FieldError{Field: "node_id", Msg: fmt.Sprintf("%q is reserved: node ids starting with %q are written by chainlog itself (%q anchors the amendment trail)",
			node, ReservedNodePrefix, AnchorNode)}
	}
	return nil
}

// anchorVerifier checks the anchor events against the amendment trail:
// each anchor's (seq, hash) must be the trail's record at seq, and once
// the store has an anchor, the trail may not run past the last one
// (records after it were appended outside the path that anchors them). It
// keeps the anchors not yet compared: one per amendment batch.
type anchorVerifier struct {
	pending []anchorRef
	count   int64
	last    anchorRef // the last anchor seen, in chain order
	brk     *Break
}

type anchorRef struct {
	seq       int64
	hash, id  string
	chainSeq  int64
	malformed bool
}

// add takes the next stamped row of AnchorNode, in chain order. Its
// strings are copied.
func (v *anchorVerifier) add(e *Event, chainSeq int64) {
	v.count++
	seq, hash, ok := ParseAnchor(e)
	a := anchorRef{seq: seq, hash: strings.Clone(hash), id: strings.Clone(e.ID), chainSeq: chainSeq, malformed: !ok}
	if v.brk == nil {
		switch {
		case !ok:
			v.brk = a.brk(ReasonAnchorMalformed, "amendments:<seq>:<hash>", a.id)
		case seq <= v.last.seq:
			v.brk = a.brk(ReasonAnchorOrder, fmt.Sprintf("a seq after %d", v.last.seq), fmt.Sprint(seq))
		}
	}
	if ok {
		v.pending = append(v.pending, a)
		v.last = a
	}
}

func (a *anchorRef) brk(reason, expected, found string) *Break {
	return &Break{Trail: TrailAmendments, NodeID: AnchorNode, Seq: a.seq, EventID: a.id, Reason: reason,
		Detail: fmt.Sprintf("anchor event at chain seq %d", a.chainSeq), Expected: expected, Found: found}
}

// amendmentHashes is the lookup anchors are compared with
// (Source.AmendmentHashAt).
type amendmentHashes interface {
	AmendmentHashAt(ctx context.Context, seq int64) (hash string, found bool, err error)
}

// compare looks up the trail record of every pending anchor.
func (v *anchorVerifier) compare(ctx context.Context, src amendmentHashes) error {
	for _, a := range v.pending {
		if v.brk != nil {
			break
		}
		got, found, err := src.AmendmentHashAt(ctx, a.seq)
		if err != nil {
			return fmt.Errorf("read amendment %d: %w", a.seq, err)
		}
		switch {
		case !found:
			v.brk = a.brk(ReasonAnchorNoRecord, a.hash, "")
		case got != a.hash:
			v.brk = a.brk(ReasonAnchorMismatch, a.hash, got)
		}
	}
	v.pending = v.pending[:0]
	return nil
}

// finish adds the anchors' result to r, the trail's report: the count,
// the last anchored seq, and the first break, unless the trail already
// broke. headSeq is the trail's last record.
func (v *anchorVerifier) finish(r *AmendmentReport, headSeq int64) {
	r.Anchors, r.AnchoredSeq = v.count, v.last.seq
	if r.Break != nil {
		return
	}
	b := v.brk
	if b == nil && v.last.seq != 0 && headSeq != v.last.seq {
		a := v.last
		b = a.brk(ReasonUnanchored, fmt.Sprintf("trail head at seq %d", a.seq), fmt.Sprintf("trail head at seq %d", headSeq))
		b.Seq = headSeq
	}
	if b != nil {
		r.Break = b
		r.Status = statusOf(b, r.Checked)
	}
}

// verifyAnchors compares the anchors v collected with src's trail and
// adds the result to r.
func verifyAnchors(ctx context.Context, src amendmentHashes, v *anchorVerifier, r *AmendmentReport) error {
	if err := v.compare(ctx, src); err != nil {
		return err
	}
	v.finish(r, r.HeadSeq)
	return nil
}
