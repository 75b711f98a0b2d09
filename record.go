package chainlog

import (
	"bytes"
	"encoding/json"
)

// record is the JSON form of a stored event: every column of the events
// table, in table order; nullable columns are null when NULL.
type record struct {
	ID            string   `json:"id"`
	AgentType     string   `json:"agent_type"`
	NodeID        string   `json:"node_id"`
	AgentID       string   `json:"agent_id"`
	SessionID     *string  `json:"session_id"`
	WorkspaceID   *string  `json:"workspace_id"`
	EventType     string   `json:"event_type"`
	TS            string   `json:"ts"`
	Data          any      `json:"data"` // json.RawMessage, or string for text that is not JSON
	CostUSD       *float64 `json:"cost_usd"`
	TokenCount    *int64   `json:"token_count"`
	Model         *string  `json:"model"`
	CreatedAt     string   `json:"created_at"`
	ChainSeq      *int64   `json:"chain_seq"`
	ChainPrevHash *string  `json:"chain_prev_hash"`
	ChainHash     *string  `json:"chain_hash"`
	PayloadDigest *string  `json:"payload_digest"`
	LeafIndex     *int64   `json:"leaf_index"`
}

// MarshalJSON gives the stored event's JSON form, as export writes it and
// the daemon's query returns it: every column of the events table, in
// table order, by column name; nullable columns are null when NULL. A data
// column that is not JSON (text written by another tool) is given as a
// JSON string.
func (e StoredEvent) MarshalJSON() ([]byte, error) {
	r := record{
		ID: e.ID, AgentType: e.AgentType, NodeID: e.NodeID, AgentID: e.AgentID,
		SessionID: e.SessionID, WorkspaceID: e.WorkspaceID, EventType: e.EventType, TS: e.TS,
		CostUSD: e.CostUSD, TokenCount: e.TokenCount, Model: e.Model, CreatedAt: e.CreatedAt,
		Data: json.RawMessage("null"),
	}
	if e.Data != nil {
		if json.Valid(e.Data) {
			r.Data = e.Data
		} else {
			r.Data = string(e.Data)
		}
	}
	if e.Seq != 0 {
		r.ChainSeq = &e.Seq
	}
	if e.PrevHash != "" {
		r.ChainPrevHash = &e.PrevHash
	}
	if e.Hash != "" {
		r.ChainHash = &e.Hash
	}
	if e.PayloadDigest != "" {
		r.PayloadDigest = &e.PayloadDigest
	}
	r.LeafIndex = e.LeafIndex
	// Strings and data as stored: no HTML escaping, so that an export
	// ingested again gives the same payload digest. (An encoder that
	// escapes HTML escapes this output again.)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&r); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
