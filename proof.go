package chainlog

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// ProofHeader is the first line of a proof bundle, as in C2SP tlog-proof.
const ProofHeader = "c2sp.org/tlog-proof@v1"

// ProvenEvent is what a proof bundle says about its event: the identity,
// the chain stamp and the ingest payload digest. It travels as the bundle's
// "extra" data, base64 of this JSON object.
type ProvenEvent struct {
	ID            string  `json:"id"`
	AgentType     string  `json:"agent_type"`
	NodeID        string  `json:"node_id"`
	AgentID       string  `json:"agent_id"`
	SessionID     *string `json:"session_id"`
	WorkspaceID   *string `json:"workspace_id"`
	EventType     string  `json:"event_type"`
	TS            string  `json:"ts"`
	ChainSeq      int64   `json:"chain_seq"`
	ChainPrevHash string  `json:"chain_prev_hash"`
	ChainHash     string  `json:"chain_hash"`
	PayloadDigest string  `json:"payload_digest"`
}

// ProvenOf returns what a proof says about a stored event: its identity,
// its chain stamp and its ingest payload digest.
func ProvenOf(e *StoredEvent) ProvenEvent {
	return ProvenEvent{ID: e.ID, AgentType: e.AgentType, NodeID: e.NodeID, AgentID: e.AgentID,
		SessionID: e.SessionID, WorkspaceID: e.WorkspaceID, EventType: e.EventType, TS: e.TS,
		ChainSeq: e.Seq, ChainPrevHash: e.PrevHash, ChainHash: e.Hash, PayloadDigest: e.PayloadDigest}
}

// Identity returns the event's identity fields.
func (p *ProvenEvent) Identity() Event {
	return Event{ID: p.ID, AgentType: p.AgentType, NodeID: p.NodeID, AgentID: p.AgentID,
		SessionID: p.SessionID, WorkspaceID: p.WorkspaceID, EventType: p.EventType, TS: p.TS}
}

// Leaf returns the tree leaf the event is committed to.
func (p *ProvenEvent) Leaf() Leaf {
	return Leaf{NodeID: p.NodeID, Seq: p.ChainSeq, ChainHash: p.ChainHash, PayloadDigest: p.PayloadDigest}
}

// ProofBundle is a self-contained, offline-verifiable proof that an event
// is in the tree of a signed checkpoint. Its text form follows C2SP
// tlog-proof: the header line, "extra <base64>", "index <n>", the inclusion
// proof hashes in base64 one a line, an empty line, and the signed
// checkpoint.
type ProofBundle struct {
	Event      ProvenEvent
	Index      int64
	Proof      tlog.RecordProof
	Checkpoint []byte // the signed note
}

// Marshal returns the bundle's text form.
func (b *ProofBundle) Marshal() ([]byte, error) {
	extra, err := json.Marshal(&b.Event)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%s\nextra %s\nindex %d\n", ProofHeader, base64.StdEncoding.EncodeToString(extra), b.Index)
	writeHashLines(&buf, b.Proof)
	buf.WriteByte('\n')
	buf.Write(b.Checkpoint)
	return buf.Bytes(), nil
}

// ParseProofBundle parses a bundle's text form. It checks the form only;
// VerifyProofBundle checks what it proves.
func ParseProofBundle(data []byte) (*ProofBundle, error) {
	head, cp, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok {
		return nil, errors.New("proof bundle: no empty line before the checkpoint")
	}
	lines := strings.Split(string(head), "\n")
	if len(lines) < 3 || lines[0] != ProofHeader {
		return nil, fmt.Errorf("proof bundle: first line is not %q", ProofHeader)
	}
	b := &ProofBundle{Checkpoint: cp}
	if err := b.parseExtra(lines[1]); err != nil {
		return nil, err
	}
	idx, ok := strings.CutPrefix(lines[2], "index ")
	n, err := strconv.ParseInt(idx, 10, 64)
	if !ok || err != nil || n < 0 || idx != strconv.FormatInt(n, 10) {
		return nil, fmt.Errorf("proof bundle: line 3: want \"index <n>\", got %q", lines[2])
	}
	b.Index = n
	if b.Proof, err = parseHashLines("proof bundle", lines, 3); err != nil {
		return nil, err
	}
	return b, nil
}

// writeHashLines writes each hash in base64, one a line.
func writeHashLines(buf *bytes.Buffer, hashes []tlog.Hash) {
	for _, h := range hashes {
		fmt.Fprintf(buf, "%s\n", base64.StdEncoding.EncodeToString(h[:]))
	}
}

// parseHashLines parses lines[first:], each a base64 hash; errors name the
// line (from 1) and what is being parsed.
func parseHashLines(what string, lines []string, first int) ([]tlog.Hash, error) {
	var hashes []tlog.Hash
	for i, l := range lines[first:] {
		h, err := base64.StdEncoding.Strict().DecodeString(l)
		if err != nil || len(h) != tlog.HashSize {
			return nil, fmt.Errorf("%s: line %d: not a base64 %d-byte hash", what, first+i+1, tlog.HashSize)
		}
		hashes = append(hashes, tlog.Hash(h))
	}
	return hashes, nil
}

func (b *ProofBundle) parseExtra(line string) error {
	enc, ok := strings.CutPrefix(line, "extra ")
	if !ok {
		return fmt.Errorf("proof bundle: line 2: want \"extra <base64>\", got %q", line)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(enc)
	if err != nil {
		return fmt.Errorf("proof bundle: line 2: extra is not base64: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b.Event); err != nil {
		return fmt.Errorf("proof bundle: extra: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF { // dec.More misses a stray '}' or ']'
		return errors.New("proof bundle: extra: data after the event object")
	}
	// encoding/json reads what other readers may read otherwise: it
	// takes the last of two equal keys, matches names ignoring case and
	// repairs invalid UTF-8 and lone surrogates. A bundle that another
	// verifier could read as another event is refused.
	if !utf8.Valid(raw) {
		return errors.New("proof bundle: extra: invalid UTF-8")
	}
	if fe := checkJSON(raw); fe != nil {
		return fmt.Errorf("proof bundle: extra: %v", fe)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return fmt.Errorf("proof bundle: extra: %v", err)
	}
	for _, name := range sortedKeys(obj) {
		if !provenFields[name] {
			return fmt.Errorf("proof bundle: extra: field %q: unknown field (names are case-sensitive)", name)
		}
	}
	return nil
}

// provenFields are the JSON names of ProvenEvent's fields.
var provenFields = map[string]bool{
	"id": true, "agent_type": true, "node_id": true, "agent_id": true,
	"session_id": true, "workspace_id": true, "event_type": true, "ts": true,
	"chain_seq": true, "chain_prev_hash": true, "chain_hash": true, "payload_digest": true,
}

// ErrProof is returned, wrapped, when a proof does not prove its claim.
var ErrProof = errors.New("proof does not verify")

// VerifyProofBundle checks a bundle offline: the checkpoint's signature by
// verifier, that the event's chain hash is the hash of its identity linked
// to its predecessor, and that its leaf is at the bundle's index in the
// checkpoint's tree. It returns the checkpoint.
func VerifyProofBundle(b *ProofBundle, verifier note.Verifier) (Checkpoint, error) {
	c, err := OpenCheckpoint(b.Checkpoint, verifier)
	if err != nil {
		return c, err
	}
	if b.Index >= c.Size {
		return c, fmt.Errorf("%w: index %d is outside a tree of size %d", ErrProof, b.Index, c.Size)
	}
	ev := b.Event.Identity()
	var h Hasher
	if got := h.SumStored(b.Event.ChainPrevHash, &ev); got != b.Event.ChainHash {
		return c, fmt.Errorf("%w: the event's chain_hash is not the hash of its identity fields (expected %s, found %s)",
			ErrProof, got, b.Event.ChainHash)
	}
	leaf := b.Event.Leaf()
	if err := tlog.CheckRecord(b.Proof, c.Size, c.Root, b.Index, LeafHash(&leaf)); err != nil {
		return c, fmt.Errorf("%w: the event is not at index %d of the checkpoint's tree: %v", ErrProof, b.Index, err)
	}
	return c, nil
}

// ConsistencyHeader is the first line of a consistency proof.
const ConsistencyHeader = "chainlog-consistency-proof@v1"

// ConsistencyProof proves that the tree of size New extends the tree of
// size Old (RFC 6962 consistency proof).
type ConsistencyProof struct {
	Old, New int64
	Proof    tlog.TreeProof
}

// Marshal returns "chainlog-consistency-proof@v1\nold <n>\nnew <m>\n" and
// the proof hashes in base64, one a line.
func (p *ConsistencyProof) Marshal() []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%s\nold %d\nnew %d\n", ConsistencyHeader, p.Old, p.New)
	writeHashLines(&buf, p.Proof)
	return buf.Bytes()
}

// ParseConsistencyProof parses Marshal's output.
func ParseConsistencyProof(data []byte) (*ConsistencyProof, error) {
	text := string(data)
	if !strings.HasSuffix(text, "\n") {
		return nil, errors.New("consistency proof: does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 || lines[0] != ConsistencyHeader {
		return nil, fmt.Errorf("consistency proof: first line is not %q", ConsistencyHeader)
	}
	p := &ConsistencyProof{}
	for i, f := range []struct {
		name string
		dst  *int64
	}{{"old", &p.Old}, {"new", &p.New}} {
		v, ok := strings.CutPrefix(lines[i+1], f.name+" ")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil || n < 0 || v != strconv.FormatInt(n, 10) {
			return nil, fmt.Errorf("consistency proof: line %d: want %q, got %q", i+2, f.name+" <size>", lines[i+1])
		}
		*f.dst = n
	}
	if p.Old > p.New {
		return nil, fmt.Errorf("consistency proof: old size %d is larger than new size %d", p.Old, p.New)
	}
	var err error
	if p.Proof, err = parseHashLines("consistency proof", lines, 3); err != nil {
		return nil, err
	}
	return p, nil
}

// VerifyConsistency checks that p proves newer extends older.
func VerifyConsistency(p *ConsistencyProof, older, newer Checkpoint) error {
	if p.Old != older.Size || p.New != newer.Size {
		return fmt.Errorf("%w: the proof is for sizes %d and %d, the checkpoints are %d and %d",
			ErrProof, p.Old, p.New, older.Size, newer.Size)
	}
	if older.Origin != newer.Origin {
		return fmt.Errorf("%w: the checkpoints name different logs (%q, %q)", ErrProof, older.Origin, newer.Origin)
	}
	if older.Size == 0 { // every tree extends the empty tree
		if older.Root != tlog.Hash(emptyTreeHash) || len(p.Proof) != 0 || newer.Size == 0 && newer.Root != older.Root {
			return fmt.Errorf("%w: a tree of size 0 must have the empty root and an empty proof", ErrProof)
		}
		return nil
	}
	if err := tlog.CheckTree(p.Proof, newer.Size, newer.Root, older.Size, older.Root); err != nil {
		return fmt.Errorf("%w: tree %d does not extend tree %d: %v", ErrProof, newer.Size, older.Size, err)
	}
	return nil
}

// EventProver is the store's side of a proof bundle: the event as a
// bundle gives it, its leaf index, and its inclusion proof in the tree of
// the given size (Store.ProveEvent).
type EventProver interface {
	ProveEvent(ctx context.Context, id string, size int64) (ProvenEvent, int64, tlog.RecordProof, error)
}

// ProveBundle returns the proof bundle of event id against signed, a
// signed checkpoint of the store's tree: what `chainlog prove` writes and
// the console downloads. An unknown id is ErrNotFound, an event outside
// the checkpoint's tree ErrNotInTree (errors.Is), each with the id.
func ProveBundle(ctx context.Context, p EventProver, id string, signed []byte) ([]byte, error) {
	cp, err := ParseSignedCheckpoint(signed)
	if err != nil {
		return nil, err
	}
	ev, idx, proof, err := p.ProveEvent(ctx, id, cp.Size)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, &proveError{msg: fmt.Sprintf("no event with id %q", id), err: err}
	case errors.Is(err, ErrNotInTree):
		return nil, &proveError{msg: fmt.Sprintf("event %q is not in the tree of checkpoint size %d (pre-chain, or newer than the checkpoint)", id, cp.Size), err: err}
	case err != nil:
		return nil, err
	}
	b := ProofBundle{Event: ev, Index: idx, Proof: proof, Checkpoint: signed}
	return b.Marshal()
}

// proveError is ErrNotFound or ErrNotInTree with a message for the
// operator.
type proveError struct {
	msg string
	err error
}

func (e *proveError) Error() string { return e.msg }
func (e *proveError) Unwrap() error { return e.err }
