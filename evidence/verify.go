package evidence

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"

	"chainlog"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// ErrInvalid is returned, wrapped in an *Error, when a pack does not prove
// what it claims.
var ErrInvalid = errors.New("evidence pack does not verify")

// Error is the first check of a pack that failed: Subject names the event,
// amendment, range or checkpoint, Reason what failed.
type Error struct {
	Subject, Reason string
}

func (e *Error) Error() string { return e.Subject + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *Error) Unwrap() error { return ErrInvalid }

func fail(subject, format string, args ...any) error {
	return &Error{Subject: subject, Reason: fmt.Sprintf(format, args...)}
}

func eventSubject(e *Event) string {
	return fmt.Sprintf("event %q (node %s, seq %d)", e.ID, e.NodeID, e.ChainSeq)
}

// Options are the keys Verify checks the checkpoint with.
type Options struct {
	// Verifiers are the log's keys; the checkpoint must verify with one.
	Verifiers []note.Verifier
	// Cosigned, when set, checks the witnesses' cosignatures on the signed
	// checkpoint.
	Cosigned func(signed []byte) error
}

// Result is what a valid pack proved.
type Result struct {
	Origin     string  `json:"origin"`
	TreeSize   int64   `json:"tree_size"`
	Events     int     `json:"events"`
	Context    int     `json:"context"`
	Anchors    int     `json:"anchors"`
	Amendments int     `json:"amendments"`
	Ranges     []Range `json:"ranges"`
	Unproven   int64   `json:"unproven"`
}

// Verify checks a pack with no store: the checkpoint's signature (and
// cosignatures), every event's chain hash from its identity and its leaf
// in the checkpoint's tree, the selected events' payload digests through
// their amendment history, the trail's hash chain up to anchors in the
// tree, and each range's seqs and links up to its bounds. It returns the
// first failure as an *Error.
func Verify(p *Pack, opts Options) (*Result, error) {
	cp, err := openCheckpoint(p, opts)
	if err != nil {
		return nil, err
	}
	v := &verifier{p: p, cp: cp}
	steps := []func() error{v.readHashes, v.checkEvents, v.checkAmendments, v.checkPayloads, v.checkRanges}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return &Result{Origin: cp.Origin, TreeSize: cp.Size, Events: len(p.Events), Context: len(p.Context),
		Anchors: len(p.Anchors), Amendments: len(p.Amendments), Ranges: p.Ranges, Unproven: p.Unproven}, nil
}

func openCheckpoint(p *Pack, opts Options) (chainlog.Checkpoint, error) {
	var cp chainlog.Checkpoint
	err := errors.New("no verifier key given")
	for _, vk := range opts.Verifiers {
		if cp, err = chainlog.OpenCheckpoint([]byte(p.Checkpoint), vk); err == nil {
			break
		}
	}
	switch {
	case err != nil:
		return cp, fail("checkpoint", "%v", err)
	case cp.Origin != p.Origin:
		return cp, fail("checkpoint", "its origin %q is not the pack's origin %q", cp.Origin, p.Origin)
	case opts.Cosigned != nil:
		if err := opts.Cosigned([]byte(p.Checkpoint)); err != nil {
			return cp, fail("checkpoint", "%v", err)
		}
	}
	return cp, nil
}

type verifier struct {
	p      *Pack
	cp     chainlog.Checkpoint
	hashes hashMap
	h      chainlog.Hasher
	// bySeq finds the events and context of a node by seq.
	bySeq    map[nodeSeq]*Event
	selected map[string]bool
	// amended holds each selected event's records, in seq order.
	amended map[string][]*chainlog.Amendment
}

type nodeSeq struct {
	node string
	seq  int64
}

type hashMap map[int64]tlog.Hash

func (m hashMap) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := m[x]
		if !ok {
			return nil, fmt.Errorf("the pack has no tree hash %d", x)
		}
		out[i] = h
	}
	return out, nil
}

func encodeHash(h tlog.Hash) string { return base64.StdEncoding.EncodeToString(h[:]) }

func (v *verifier) readHashes() error {
	v.hashes = make(hashMap, len(v.p.Hashes))
	for i, s := range v.p.Hashes {
		b, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil || len(b) != tlog.HashSize || i < 0 {
			return fail(fmt.Sprintf("tree hash %d", i), "not a base64 %d-byte hash at a stored-hash index", tlog.HashSize)
		}
		v.hashes[i] = tlog.Hash(b)
	}
	return nil
}

// checkEvents checks every event's chain hash and leaf, that ids and
// (node, seq) are unique, that the selected events match the filter and
// the anchors are anchors.
func (v *verifier) checkEvents() error {
	v.bySeq = make(map[nodeSeq]*Event, len(v.p.Events)+len(v.p.Context))
	ids := make(map[string]bool, len(v.p.Events)+len(v.p.Context)+len(v.p.Anchors))
	v.selected = make(map[string]bool, len(v.p.Events))
	for li, list := range [][]Event{v.p.Events, v.p.Context, v.p.Anchors} {
		for i := range list {
			e := &list[i]
			if err := v.checkEvent(e); err != nil {
				return err
			}
			if ids[e.ID] {
				return fail(eventSubject(e), "the pack holds it twice")
			}
			ids[e.ID] = true
			switch li {
			case 0, 1:
				k := nodeSeq{e.NodeID, e.ChainSeq}
				if v.bySeq[k] != nil {
					return fail(eventSubject(e), "another event of the pack has the same node and seq (%q)", v.bySeq[k].ID)
				}
				v.bySeq[k] = e
				if li == 0 {
					v.selected[e.ID] = true
				}
				if li == 0 && !v.p.Filter.Match(e) {
					return fail(eventSubject(e), "the pack's filter does not select it")
				}
			case 2:
				ev := e.Identity()
				if _, _, ok := chainlog.ParseAnchor(&ev); !ok {
					return fail(eventSubject(e), "listed as an anchor, but it is not an amendment anchor")
				}
			}
		}
	}
	return nil
}

func (v *verifier) checkEvent(e *Event) error {
	if e.ChainSeq < 1 {
		return fail(eventSubject(e), "chain_seq must be 1 or more")
	}
	id := e.Identity()
	if got := v.h.SumStored(e.ChainPrevHash, &id); got != e.ChainHash {
		return fail(eventSubject(e), "chain_hash is not the hash of its identity fields (expected %s, found %s)", got, e.ChainHash)
	}
	if e.LeafIndex < 0 || e.LeafIndex >= v.cp.Size {
		return fail(eventSubject(e), "leaf %d is outside the checkpoint's tree of %d leaves", e.LeafIndex, v.cp.Size)
	}
	proof, err := tlog.ProveRecord(v.cp.Size, e.LeafIndex, v.hashes)
	if err != nil {
		return fail(eventSubject(e), "no inclusion proof: %v", err)
	}
	l := e.Leaf()
	if err := tlog.CheckRecord(proof, v.cp.Size, v.cp.Root, e.LeafIndex, chainlog.LeafHash(&l)); err != nil {
		return fail(eventSubject(e), "not leaf %d of the checkpoint's tree (size %d): %v", e.LeafIndex, v.cp.Size, err)
	}
	return nil
}

// checkAmendments checks the trail's records: each one's hash, the links
// within each run of consecutive seqs, and that each run ends at a record
// an anchor of the pack commits to.
func (v *verifier) checkAmendments() error {
	// Every anchor event of the pack counts, whichever list holds it: a
	// filter may select the anchor node's events.
	anchored := map[int64]string{}
	for _, list := range [][]Event{v.p.Events, v.p.Context, v.p.Anchors} {
		for i := range list {
			id := list[i].Identity()
			if seq, hash, ok := chainlog.ParseAnchor(&id); ok {
				anchored[seq] = hash
			}
		}
	}
	v.amended = map[string][]*chainlog.Amendment{}
	recs := v.p.Amendments
	for i := range recs {
		a := &recs[i]
		subj := fmt.Sprintf("amendment %d (event %q)", a.Seq, a.EventID)
		if got := chainlog.AmendmentHash(a.PrevHash, a); got != a.Hash {
			return fail(subj, "its hash is not the hash of its fields (expected %s, found %s)", got, a.Hash)
		}
		if i > 0 && a.Seq <= recs[i-1].Seq {
			return fail(subj, "out of seq order after amendment %d", recs[i-1].Seq)
		}
		inRun := i > 0 && a.Seq == recs[i-1].Seq+1
		if inRun && a.PrevHash != recs[i-1].Hash {
			return fail(subj, "prev_hash %s is not amendment %d's hash %s", a.PrevHash, recs[i-1].Seq, recs[i-1].Hash)
		}
		if i > 0 && !inRun {
			if err := endOfRun(&recs[i-1], anchored); err != nil {
				return err
			}
		}
		if v.selected[a.EventID] {
			v.amended[a.EventID] = append(v.amended[a.EventID], a)
		}
	}
	if n := len(recs); n > 0 {
		if err := endOfRun(&recs[n-1], anchored); err != nil {
			return err
		}
	}
	for seq, hash := range anchored {
		i, ok := slices.BinarySearchFunc(recs, seq, func(a chainlog.Amendment, s int64) int { return int(min(max(a.Seq-s, -1), 1)) })
		if ok && recs[i].Hash != hash { // an anchor with no record in the pack asserts nothing here
			return fail(fmt.Sprintf("amendment %d (event %q)", seq, recs[i].EventID), "its hash %s is not the hash %s its anchor commits to", recs[i].Hash, hash)
		}
	}
	if seq, hash, ok, _ := v.cp.Amendments(); ok {
		i, found := slices.BinarySearchFunc(recs, seq, func(a chainlog.Amendment, s int64) int { return int(min(max(a.Seq-s, -1), 1)) })
		if found && recs[i].Hash != hash {
			return fail(fmt.Sprintf("amendment %d", seq), "the checkpoint records the trail's head as %s, the pack's record has %s", hash, recs[i].Hash)
		}
	}
	return nil
}

func endOfRun(last *chainlog.Amendment, anchored map[int64]string) error {
	if h, ok := anchored[last.Seq]; !ok || h != last.Hash {
		return fail(fmt.Sprintf("amendment %d (event %q)", last.Seq, last.EventID),
			"ends a run of the trail, and no anchor in the checkpoint's tree commits to it: records after it are missing")
	}
	return nil
}

// checkPayloads checks each selected event's current fields against its
// ingest digest through its amendments: each record starts from the
// digest the one before left, and the last leaves the current fields.
func (v *verifier) checkPayloads() error {
	for i := range v.p.Events {
		e := &v.p.Events[i]
		if e.PayloadDigest == "" {
			continue // ingested before payload digests
		}
		want := e.PayloadDigest
		for _, a := range v.amended[e.ID] {
			if a.DigestBefore != want {
				return fail(eventSubject(e), "amendment %d starts from payload digest %s, but the event's digest before it is %s: a record is missing",
					a.Seq, a.DigestBefore, want)
			}
			want = a.DigestAfter
		}
		m := e.mutable()
		if got := v.h.PayloadSum(&m); got != want {
			return fail(eventSubject(e), "its data, cost_usd, token_count and model have payload digest %s, its history says %s", got, want)
		}
	}
	return nil
}
