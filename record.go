package chainlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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

// DecodeStoredEvent reads back one line that StoredEvent.MarshalJSON
// wrote (a row of export), and refuses any other text: unknown or
// repeated keys, another key order, spacing or escaping, numbers written
// otherwise. The line is decoded, encoded again and compared, so that
// what is read is exactly what export writes, and one row has one text.
//
// The data column is read as the JSON it is. Export writes a data column
// that is not JSON (text another tool stored) as a JSON string, which
// reads back as that string: see DataAsText for the other reading.
func DecodeStoredEvent(line []byte) (StoredEvent, error) {
	var r struct {
		record
		Data json.RawMessage `json:"data"`
	}
	var e StoredEvent
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return e, fmt.Errorf("not an exported event: %v", err)
	}
	e.Event = Event{ID: r.ID, AgentType: r.AgentType, NodeID: r.NodeID, AgentID: r.AgentID,
		SessionID: r.SessionID, WorkspaceID: r.WorkspaceID, EventType: r.EventType, TS: r.TS,
		CostUSD: r.CostUSD, TokenCount: r.TokenCount, Model: r.Model}
	e.CreatedAt, e.LeafIndex = r.CreatedAt, r.LeafIndex
	e.Data = dataOfExport(r.Data)
	if r.ChainSeq != nil {
		e.Seq = *r.ChainSeq
	}
	for _, f := range []struct {
		dst *string
		src *string
	}{{&e.PrevHash, r.ChainPrevHash}, {&e.Hash, r.ChainHash}, {&e.PayloadDigest, r.PayloadDigest}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	again, err := e.MarshalJSON()
	if err != nil {
		return e, fmt.Errorf("not an exported event: %v", err)
	}
	if !bytes.Equal(again, bytes.TrimSuffix(line, []byte("\n"))) {
		return e, errors.New("not an exported event: export writes this row otherwise (key order, spacing, escapes, numbers or a field that cannot be empty)")
	}
	return e, nil
}

// dataOfExport is the data column that export wrote: JSON null is NULL,
// any other JSON is itself.
func dataOfExport(raw json.RawMessage) json.RawMessage {
	if raw == nil || string(raw) == "null" {
		return nil
	}
	return raw
}

// DataAsText is the other reading of an exported data column that is a
// JSON string: the text it holds, when that text is not JSON, as export
// writes a column of text that is not JSON. ok is false when there is no
// other reading. Which one the store held, only the payload digest says.
func DataAsText(data json.RawMessage) (text json.RawMessage, ok bool) {
	if len(data) == 0 || data[0] != '"' {
		return nil, false
	}
	var s string
	if json.Unmarshal(data, &s) != nil || json.Valid([]byte(s)) {
		return nil, false
	}
	return json.RawMessage(s), true
}
