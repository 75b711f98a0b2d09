// Package chainlog is a tamper-evident audit log for AI-agent events.
//
// Every event carries an identity (id, agent_type, node_id, agent_id,
// session_id, workspace_id, event_type, ts) that never changes after ingest,
// and mutable fields (data, cost_usd, token_count, model) that enrichment may
// rewrite. Each node gets its own SHA-256 hash chain over the identity fields,
// stamped in the same transaction as the insert.
//
// # Compatibility
//
// The chain format is byte-compatible with ClawMetry's verify-integrity; it
// is written down in docs/chain-format.md, and the known-answer vectors in
// testdata/ pin it.
//
// # Layout
//
// This package holds the domain types, the canonical encoder, the NDJSON
// event decoder and the pure verification core. It does no I/O of its own:
// storage backends live in their own packages (sqlite/) and feed the
// verifier through the [chainSource] interface.
package chainlog

import (
	"encoding/json"
)

// Defaults applied to identity fields that are missing, null or empty.
const (
	DefaultAgentType = "openclaw"
	DefaultAgentID   = "main"
)

// Event is one agent event as ingested.
type Event struct {
	// Identity: hashed into the chain, never changed after ingest.
	ID          string
	AgentType   string
	NodeID      string
	AgentID     string
	SessionID   *string // nil is JSON null
	WorkspaceID *string // nil is JSON null
	EventType   string
	TS          string // stored and hashed verbatim

	// Mutable fields: not in the chain hash.
	Data       json.RawMessage // compact JSON; nil is SQL NULL
	CostUSD    *float64
	TokenCount *int64
	Model      *string
}

// StoredEvent is an event as a store holds it, with its chain stamp.
// A pre-chain row (written with integrity off, or before the store had a
// chain) has Seq 0 and empty PrevHash and Hash.
type StoredEvent struct {
	Event
	CreatedAt string
	Seq       int64  // chain_seq; 0 is NULL
	PrevHash  string // chain_prev_hash; "" is NULL
	Hash      string // chain_hash; "" is NULL

	// PayloadDigest is the digest of the mutable fields recorded at ingest
	// ("" on rows from before payload digests); LastDigest is the latest
	// amendment's digest_after ("" when the event was never amended).
	PayloadDigest string
	LastDigest    string
	// LeafIndex is the event's leaf in the Merkle tree; nil for pre-chain
	// rows, and where a reader does not fill it in.
	LeafIndex *int64
}

// Stamped reports whether any chain column of the row is set.
func (e *StoredEvent) Stamped() bool {
	return e.Seq != 0 || e.PrevHash != "" || e.Hash != ""
}

// Head is the recorded head of one node's chain.
type Head struct {
	NodeID    string
	Hash      string
	Seq       int64
	UpdatedAt string
}

// IngestResult counts what one ingest call did.
type IngestResult struct {
	Inserted   int // rows added
	Duplicates int // events whose id was already stored (or repeated in the batch)
}

// Add accumulates o into the receiver.
func (r *IngestResult) Add(o IngestResult) {
	r.Inserted += o.Inserted
	r.Duplicates += o.Duplicates
}
