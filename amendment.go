package chainlog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Amendment kinds.
const (
	KindAmend  = "amend"  // an enrichment or correction of mutable fields
	KindRedact = "redact" // removal of personal data from data
	// KindPrune is declared in prune.go.
)

// Amendment is one record of the amendment trail: a sanctioned change to an
// event's mutable fields. It keeps the digests of the fields before and
// after, never the values, so a redaction proves that something was removed,
// when and why, without keeping the removed text.
//
// Amendments form one hash chain of their own, in Seq order from 1, whose
// head is kept like a node's head.
type Amendment struct {
	Seq          int64    `json:"seq"`
	EventID      string   `json:"event_id"`
	Kind         string   `json:"kind"`
	Fields       []string `json:"fields"`
	DigestBefore string   `json:"digest_before"`
	DigestAfter  string   `json:"digest_after"`
	Reason       string   `json:"reason"`
	Actor        string   `json:"actor"`
	At           string   `json:"at"`
	// Prune is the pruned range of a KindPrune record (whose EventID,
	// Fields and digests are empty); nil for every other kind.
	Prune    *PruneRange `json:"prune,omitempty"`
	PrevHash string      `json:"prev_hash"`
	Hash     string      `json:"hash"`
}

// AppendAmendmentCanonical appends the canonical text of a's recorded fields
// (everything but PrevHash and Hash): a JSON object with keys in byte order,
// no whitespace, strings escaped as in the identity canonical form. The
// "prune" key is there only when Prune is set, so that the records written
// before prune records existed keep their hashes.
func AppendAmendmentCanonical(dst []byte, a *Amendment) []byte {
	dst = append(dst, `{"actor":`...)
	dst = appendPyString(dst, a.Actor)
	dst = append(dst, `,"at":`...)
	dst = appendPyString(dst, a.At)
	dst = append(dst, `,"digest_after":`...)
	dst = appendPyString(dst, a.DigestAfter)
	dst = append(dst, `,"digest_before":`...)
	dst = appendPyString(dst, a.DigestBefore)
	dst = append(dst, `,"event_id":`...)
	dst = appendPyString(dst, a.EventID)
	dst = append(dst, `,"fields":[`...)
	for i, f := range a.Fields {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendPyString(dst, f)
	}
	dst = append(dst, `],"kind":`...)
	dst = appendPyString(dst, a.Kind)
	if a.Prune != nil {
		dst = append(dst, `,"prune":`...)
		dst = a.Prune.appendCanonical(dst)
	}
	dst = append(dst, `,"reason":`...)
	dst = appendPyString(dst, a.Reason)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendInt(dst, a.Seq, 10)
	return append(dst, '}')
}

// AmendmentHash returns hex(SHA-256(prevHash + "|" + canonical(a))).
func AmendmentHash(prevHash string, a *Amendment) string {
	buf := append([]byte(prevHash), '|')
	sum := sha256.Sum256(AppendAmendmentCanonical(buf, a))
	return hex.EncodeToString(sum[:])
}

// AmendmentScan is one record as the verifier reads it, with what the store
// says the event's payload digest was just before it: the previous
// amendment's DigestAfter for the same event, else the event's ingest digest
// ("" when the event is missing or has none).
type AmendmentScan struct {
	Amendment
	ExpectedBefore string
	EventExists    bool
}

// AmendmentReport is the verification result of the amendment trail.
type AmendmentReport struct {
	Status   string `json:"status"`
	Checked  int64  `json:"checked"`
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash,omitempty"`
	// Anchors counts the anchor events (on AnchorNode) compared with the
	// trail; AnchoredSeq is the trail seq the last one anchors.
	Anchors     int64  `json:"anchors,omitempty"`
	AnchoredSeq int64  `json:"anchored_seq,omitempty"`
	Break       *Break `json:"broken_at"`
}

// amendmentVerifier walks the amendment trail in seq order.
type amendmentVerifier struct {
	report   AmendmentReport
	lastSeq  int64
	lastHash string
	// prunes are the prune records met, as seq and hash, to compare
	// with the ones the verifier read first (prunePlan).
	prunes []anchorRef
}

// NewAmendmentVerifier returns a verifier positioned at genesis.
func newAmendmentVerifier() *amendmentVerifier {
	return &amendmentVerifier{lastHash: GenesisHash}
}

// Add checks the next record.
func (v *amendmentVerifier) Add(a *AmendmentScan) {
	v.report.Checked++
	if v.report.Break != nil {
		return
	}
	if b := v.check(a); b != nil {
		v.report.Break = b
		return
	}
	v.lastSeq, v.lastHash = a.Seq, a.Hash
	if a.Kind == KindPrune {
		v.prunes = append(v.prunes, anchorRef{seq: a.Seq, hash: a.Hash})
	}
}

func (v *amendmentVerifier) check(a *AmendmentScan) *Break {
	brk := func(reason, expected, found string) *Break {
		return &Break{Trail: TrailAmendments, Seq: a.Seq, EventID: a.EventID, Reason: reason, Expected: expected, Found: found}
	}
	switch {
	case a.Seq != v.lastSeq+1:
		return brk(ReasonAmendSeq, fmt.Sprint(v.lastSeq+1), fmt.Sprint(a.Seq))
	case a.PrevHash != v.lastHash:
		return brk(ReasonAmendPrev, v.lastHash, a.PrevHash)
	}
	if got := AmendmentHash(a.PrevHash, &a.Amendment); got != a.Hash {
		return brk(ReasonAmendHash, got, a.Hash)
	}
	if a.Kind == KindPrune || a.Prune != nil {
		// A prune record names a node's range, not an event.
		if a.Kind != KindPrune || a.Prune == nil || a.EventID != "" {
			return brk(ReasonPruneRecord, "a prune record with its range and no event", fmt.Sprintf("kind %q, event %q", a.Kind, a.EventID))
		}
		return nil
	}
	switch {
	case !a.EventExists:
		return brk(ReasonAmendNoEvent, "", a.EventID)
	case a.ExpectedBefore != "" && a.DigestBefore != a.ExpectedBefore:
		return brk(ReasonAmendBefore, a.ExpectedBefore, a.DigestBefore)
	}
	return nil
}

// Finish compares the trail with its recorded head (nil when none).
func (v *amendmentVerifier) Finish(head *Head) AmendmentReport {
	r := &v.report
	if head != nil {
		r.HeadSeq, r.HeadHash = head.Seq, head.Hash
	}
	if r.Break == nil {
		switch {
		case head == nil && v.lastSeq > 0:
			r.Break = &Break{Trail: TrailAmendments, Seq: v.lastSeq, Reason: ReasonAmendHeadMissing, Expected: v.lastHash}
		case head != nil && v.lastSeq == 0:
			r.Break = &Break{Trail: TrailAmendments, Seq: head.Seq, Reason: ReasonAmendHeadOrphan, Expected: GenesisHash, Found: head.Hash}
		case head != nil && (head.Seq != v.lastSeq || head.Hash != v.lastHash):
			r.Break = &Break{Trail: TrailAmendments, Seq: v.lastSeq, Reason: ReasonAmendHeadMismatch,
				Detail:   fmt.Sprintf("last record is seq %d, head says seq %d", v.lastSeq, head.Seq),
				Expected: v.lastHash, Found: head.Hash}
		}
	}
	r.Status = statusOf(r.Break, r.Checked)
	return *r
}

// AmendRequest is one sanctioned change to a stored event's mutable fields,
// as every store's Amend takes it.
type AmendRequest struct {
	EventID string
	Patch   Patch
	Kind    string // KindAmend or KindRedact
	Reason  string
	Actor   string
}

// Check refuses a request without an event id, reason or actor, or of a
// kind other than KindAmend and KindRedact.
func (r *AmendRequest) Check() error {
	switch {
	case r.EventID == "":
		return errors.New("amend: event id is empty")
	case strings.TrimSpace(r.Reason) == "":
		return fmt.Errorf("amend %q: a reason is required", r.EventID)
	case strings.TrimSpace(r.Actor) == "":
		return fmt.Errorf("amend %q: an actor is required", r.EventID)
	case r.Kind != KindAmend && r.Kind != KindRedact:
		return fmt.Errorf("amend %q: kind %q is neither %q nor %q", r.EventID, r.Kind, KindAmend, KindRedact)
	}
	return nil
}

// Amender is a store that amends: Amend applies one request in one
// transaction (the event's row, the trail's record and its anchor), or
// nothing. An unknown event is ErrNotFound, a pruned one ErrPruned, and a
// store opened read-only fails with ErrReadOnly.
type Amender interface {
	Amend(ctx context.Context, req AmendRequest) (Amendment, error)
}
