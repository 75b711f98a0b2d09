package main

import (
	"bufio"
	"context"
	"encoding/json"

	"chainlog"
	"chainlog/sqlite"
)

// exportRow is one exported event: every column of the events table, in
// table order. Nullable columns are JSON null when NULL.
type exportRow struct {
	ID            string          `json:"id"`
	AgentType     string          `json:"agent_type"`
	NodeID        string          `json:"node_id"`
	AgentID       string          `json:"agent_id"`
	SessionID     *string         `json:"session_id"`
	WorkspaceID   *string         `json:"workspace_id"`
	EventType     string          `json:"event_type"`
	TS            string          `json:"ts"`
	Data          json.RawMessage `json:"data"`
	CostUSD       *float64        `json:"cost_usd"`
	TokenCount    *int64          `json:"token_count"`
	Model         *string         `json:"model"`
	CreatedAt     string          `json:"created_at"`
	ChainSeq      *int64          `json:"chain_seq"`
	ChainPrevHash *string         `json:"chain_prev_hash"`
	ChainHash     *string         `json:"chain_hash"`
	PayloadDigest *string         `json:"payload_digest"`
}

func newExportRow(e *chainlog.StoredEvent) exportRow {
	r := exportRow{
		ID: e.ID, AgentType: e.AgentType, NodeID: e.NodeID, AgentID: e.AgentID,
		SessionID: e.SessionID, WorkspaceID: e.WorkspaceID, EventType: e.EventType, TS: e.TS,
		CostUSD: e.CostUSD, TokenCount: e.TokenCount, Model: e.Model, CreatedAt: e.CreatedAt,
		Data: json.RawMessage("null"),
	}
	if e.Data != nil {
		if json.Valid(e.Data) {
			r.Data = e.Data
		} else { // text written by another tool that is not JSON
			b, _ := json.Marshal(string(e.Data))
			r.Data = b
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
	return r
}

func runExport(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "export", "export [--store PATH] [--node-id ID]")
	store := storeFlag(e, fs)
	nodeID := fs.String("node-id", "", "export only this node's events")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 0 {
		return usageError(e, fs, "unexpected argument %q", pos[0])
	}
	path, err := store()
	if err != nil {
		return fail(e, "export", err)
	}
	st, err := sqlite.OpenReadOnly(ctx, path)
	if err != nil {
		return fail(e, "export", err)
	}
	defer st.Close()
	w := bufio.NewWriterSize(e.stdout, 64<<10)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	err = st.Export(ctx, *nodeID, func(ev *chainlog.StoredEvent) error {
		return enc.Encode(newExportRow(ev))
	})
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return fail(e, "export", err)
	}
	return exitOK
}
