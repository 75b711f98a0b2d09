// Package evidence builds and checks evidence packs: one JSON document an
// auditor can check with no access to the store. A pack holds the selected
// events with their amendment and redaction history, one signed checkpoint,
// the stored tree hashes (RFC 6962, as golang.org/x/mod/sumdb/tlog numbers
// them) that prove every event is a leaf of that checkpoint's tree, shared
// between the proofs, and for each node the chain around the selection:
// consecutive seqs linked by chain_prev_hash, bounded by the events just
// outside. docs/evidence.md describes the format.
package evidence

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"chainlog"
)

// Format is the value of a pack's "format" field.
const Format = "chainlog-evidence@v1"

// Pack is an evidence pack. Encode writes it as one JSON document; Decode
// reads it back, refusing anything Encode does not write.
type Pack struct {
	Format string `json:"format"`
	// Origin is the log's name: the checkpoint's origin line and the
	// name of the key that signs it.
	Origin string `json:"origin"`
	// Checkpoint is the signed checkpoint (a C2SP signed note, possibly
	// with witnesses' cosignatures) every proof is against.
	Checkpoint string `json:"checkpoint"`
	Filter     Filter `json:"filter"`
	// Events are the selected events, in full.
	Events []Event `json:"events"`
	// Context are the events of the ranges that the filter does not
	// select, and the events just outside each range: identity and
	// stamp, no payload.
	Context []Event `json:"context"`
	// Anchors are the anchor events that commit to the amendment trail's
	// head after each run of Amendments.
	Anchors []Event `json:"anchors"`
	// Amendments are runs of the amendment trail: every record of a
	// selected event, and the records after it up to the first anchor.
	Amendments []chainlog.Amendment `json:"amendments"`
	// Ranges say, per node, which seqs the pack holds in full.
	Ranges []Range `json:"ranges"`
	// Hashes are the stored tree hashes the inclusion proofs read, by
	// stored-hash index (tlog.StoredHashIndex), in base64.
	Hashes map[int64]string `json:"hashes"`
	// Unproven counts the events the filter matches that the pack leaves
	// out: pre-chain events and events newer than the checkpoint.
	Unproven int64 `json:"unproven"`

	// pruneSeqs are the trail seqs of the prune records that bound a
	// range, which Build adds to Amendments.
	pruneSeqs []int64
}

// Filter is what selected the events. Empty fields do not filter; Since
// and Until compare ts as text (inclusive since, exclusive until), as the
// store's query does.
type Filter struct {
	SessionID string `json:"session_id,omitempty"`
	NodeID    string `json:"node_id,omitempty"`
	AgentID   string `json:"agent_id,omitempty"`
	Since     string `json:"since,omitempty"`
	Until     string `json:"until,omitempty"`
}

// Match reports whether the filter selects the event.
func (f *Filter) Match(e *Event) bool {
	switch {
	case f.NodeID != "" && e.NodeID != f.NodeID,
		f.AgentID != "" && e.AgentID != f.AgentID,
		f.SessionID != "" && (e.SessionID == nil || *e.SessionID != f.SessionID),
		f.Since != "" && e.TS < f.Since,
		f.Until != "" && e.TS >= f.Until:
		return false
	}
	return true
}

// Event is an event in a pack: its identity, its chain stamp, its ingest
// payload digest and its leaf, and for selected events its current
// mutable fields. Data is the stored text verbatim (null for SQL NULL).
type Event struct {
	chainlog.ProvenEvent
	Data       *string  `json:"data,omitempty"`
	CostUSD    *float64 `json:"cost_usd,omitempty"`
	TokenCount *int64   `json:"token_count,omitempty"`
	Model      *string  `json:"model,omitempty"`
	CreatedAt  string   `json:"created_at,omitempty"`
	LeafIndex  int64    `json:"leaf_index"`
}

// Range is one node's run of seqs that a pack holds in full (selected or
// context events): FirstSeq through LastSeq. The events at FirstSeq-1
// and LastSeq+1 are in Context, unless FirstSeq is 1 (the chain starts at
// genesis) or OpenEnd (no later event of the node is in the checkpoint's
// tree).
//
// PrunedThrough, when set, is FirstSeq-1: the node's seqs up to it were
// pruned, and the range is bound at its start by the prune record of
// Amendments whose range ends there: its anchor is the chain hash the
// first event links to.
type Range struct {
	NodeID        string `json:"node_id"`
	FirstSeq      int64  `json:"first_seq"`
	LastSeq       int64  `json:"last_seq"`
	OpenEnd       bool   `json:"open_end"`
	PrunedThrough int64  `json:"pruned_through,omitempty"`
}

func fromStored(s *chainlog.StoredEvent, full bool) Event {
	e := Event{ProvenEvent: chainlog.ProvenOf(s)}
	if s.LeafIndex != nil {
		e.LeafIndex = *s.LeafIndex
	}
	if full {
		if s.Data != nil {
			d := string(s.Data)
			e.Data = &d
		}
		e.CostUSD, e.TokenCount, e.Model, e.CreatedAt = s.CostUSD, s.TokenCount, s.Model, s.CreatedAt
	}
	return e
}

func (e *Event) mutable() chainlog.Mutable {
	m := chainlog.Mutable{CostUSD: e.CostUSD, TokenCount: e.TokenCount, Model: e.Model}
	if e.Data != nil {
		m.Data = json.RawMessage(*e.Data)
	}
	return m
}

// Encode writes p as one JSON document, indented, strings as stored (no
// HTML escaping).
func Encode(w io.Writer, p *Pack) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	return enc.Encode(p)
}

// ErrFormat is returned, wrapped, when a pack is not well formed.
var ErrFormat = errors.New("evidence pack")

// Decode reads a pack. It checks the form only (unknown fields, repeated
// keys, invalid UTF-8, trailing data, the format line); Verify checks
// what the pack proves.
func Decode(data []byte) (*Pack, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: invalid UTF-8", ErrFormat)
	}
	// encoding/json takes the last of two equal keys and matches names
	// ignoring case: a pack another reader could read otherwise is
	// refused.
	if err := checkKeys(data); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p Pack
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the pack's object", ErrFormat)
	}
	if p.Format != Format {
		return nil, fmt.Errorf("%w: field \"format\": want %q, got %q", ErrFormat, Format, p.Format)
	}
	return &p, nil
}
