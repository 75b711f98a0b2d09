// Package archive writes and checks the archive of a prune: the events a
// prune is about to make husks of, kept outside the store before anything
// is deleted, with what proves them against a signed checkpoint.
//
// An archive is a directory of plain files (docs/archive.md):
//
//	manifest.json     the format, the cuts per node and the files' SHA-256
//	events.jsonl      the pruned events, each as "chainlog export" writes a
//	                  row, in commit order (the chain order of each node)
//	amendments.jsonl  the amendment and redaction records of those events,
//	                  as stored, in trail order
//	tree.jsonl        the stored tree hashes (RFC 6962 subtrees) between and
//	                  around the events' leaves, in leaf order
//	checkpoint        the signed checkpoint (C2SP signed note) whose tree
//	                  holds every event
//
// Write makes one from a store and the planned cuts; Verify checks one
// with no store: each node's chain from genesis (or from the previous
// prune's anchor) to the cut's anchor, with the chain rule of package
// chainlog; each event's payload through its amendments; and that the
// events' leaves, with the tree hashes between them, make the root of the
// signed checkpoint. CheckStore checks that an archive is exactly what
// the store's prune records say was pruned. Both read the files in one
// streaming pass: memory grows with the nodes and the amendments, not
// with the events.
package archive

import (
	"errors"
	"fmt"
	"strings"
)

// Format is the value of the manifest's "format" field.
const Format = "chainlog-archive@v1"

// The files of an archive.
const (
	ManifestFile   = "manifest.json"
	EventsFile     = "events.jsonl"
	AmendmentsFile = "amendments.jsonl"
	TreeFile       = "tree.jsonl"
	CheckpointFile = "checkpoint"
)

// dataFiles are the files the manifest lists, in its order.
var dataFiles = []string{EventsFile, AmendmentsFile, TreeFile, CheckpointFile}

// Manifest describes an archive: the format, the checkpoint its proofs
// are against, each node's cut, and each file's size and digest.
type Manifest struct {
	Format     string         `json:"format"`
	Checkpoint CheckpointInfo `json:"checkpoint"`
	// Nodes are the cuts, one per node, ordered by node_id.
	Nodes      []Node `json:"nodes"`
	Events     int64  `json:"events"`
	Amendments int64  `json:"amendments"`
	TreeHashes int64  `json:"tree_hashes"`
	Files      []File `json:"files"`
}

// CheckpointInfo repeats what the signed checkpoint says, for readers of
// the manifest alone; Verify checks it against the signed note.
type CheckpointInfo struct {
	Origin string `json:"origin"`
	Size   int64  `json:"size"`
	Root   string `json:"root"` // base64, as in the note
}

// Node is one node's cut: its events seq FirstSeq through LastSeq, Count
// of them. PrevAnchor is the chain hash the first of them links to: the
// genesis hash when FirstSeq is 1, else the anchor of the node's previous
// prune, where the check of the chain starts. Anchor is the chain hash of
// the last: the anchor the prune record keeps.
type Node struct {
	NodeID     string `json:"node_id"`
	FirstSeq   int64  `json:"first_seq"`
	LastSeq    int64  `json:"last_seq"`
	Count      int64  `json:"count"`
	PrevAnchor string `json:"prev_anchor"`
	Anchor     string `json:"anchor"`
}

// File is one file of the archive: its name, size and SHA-256 (hex).
type File struct {
	Name   string `json:"name"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// ErrInvalid is returned, wrapped in an *Error, when an archive does not
// prove what it claims, or is not what a store's prune records name.
var ErrInvalid = errors.New("archive does not verify")

// Error is the first check of an archive that failed, with its evidence:
// where (the file and line), the event (id, node, seq) when there is one,
// what failed, and what was expected and found.
type Error struct {
	File     string `json:"file,omitempty"`
	Line     int64  `json:"line,omitempty"`
	EventID  string `json:"event_id,omitempty"`
	NodeID   string `json:"node_id,omitempty"`
	Seq      int64  `json:"seq,omitempty"`
	Reason   string `json:"reason"`
	Expected string `json:"expected,omitempty"`
	Found    string `json:"found,omitempty"`
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, " line %d", e.Line)
		}
		b.WriteString(": ")
	}
	switch {
	case e.EventID != "":
		fmt.Fprintf(&b, "event %q (node %s, seq %d): ", e.EventID, e.NodeID, e.Seq)
	case e.NodeID != "":
		fmt.Fprintf(&b, "node %q: ", e.NodeID)
	}
	b.WriteString(e.Reason)
	if e.Expected != "" || e.Found != "" {
		fmt.Fprintf(&b, " (expected %s, found %s)", orNone(e.Expected), orNone(e.Found))
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *Error) Unwrap() error { return ErrInvalid }

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
