package archive

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"

	"chainlog"

	"golang.org/x/mod/sumdb/note"
)

// Options are the keys Verify checks the checkpoint with.
type Options struct {
	// Verifiers are the log's keys; the checkpoint must verify with one.
	Verifiers []note.Verifier
	// Cosigned, when set, checks the witnesses' cosignatures on the signed
	// checkpoint (chainlog.CheckCosignatures with the quorum).
	Cosigned func(signed []byte) error
}

// Report is what a valid archive proved.
type Report struct {
	Origin     string `json:"origin"`
	TreeSize   int64  `json:"tree_size"`
	Nodes      []Node `json:"nodes"`
	Events     int64  `json:"events"`
	Amendments int64  `json:"amendments"`
	TreeHashes int64  `json:"tree_hashes"`
}

// maxLine bounds one line of an archive's files (export's own limit is
// 1 MiB by default).
const maxLine = 64 << 20

// maxManifest bounds manifest.json.
const maxManifest = 64 << 20

// Verify checks the archive in dir with no store: the checkpoint's
// signature by one of opts.Verifiers (and its cosignatures); every event
// written as export writes it, in commit order, within its node's cut;
// each node's chain recomputed from the manifest's prev_anchor (genesis,
// or the previous prune's anchor) through every seq of the cut to the
// manifest's anchor, with chainlog's chain rule; each event's payload
// through its amendment records to its ingest digest; the leaves of the
// events, placed at their leaf indexes among the tree hashes of
// tree.jsonl, making the checkpoint's root; and every file's size and
// SHA-256 as the manifest lists them. It reads each file once and holds
// the amendment records, not the events. The first failure is returned
// as an *Error naming the file, line and event; an error that is not an
// *Error says the archive could not be read.
func Verify(ctx context.Context, dir string, opts Options) (*Report, error) {
	m, err := readManifest(dir)
	if err != nil {
		return nil, err
	}
	v := &verifier{dir: dir, m: m, opts: opts, digests: map[string]File{}}
	steps := []func(context.Context) error{v.checkManifest, v.openCheckpoint, v.readAmendments, v.checkEvents, v.checkDigests}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	return &Report{Origin: v.cp.Origin, TreeSize: v.cp.Size, Nodes: m.Nodes, Events: m.Events,
		Amendments: m.Amendments, TreeHashes: m.TreeHashes}, nil
}

func invalid(file, reason string, args ...any) *Error {
	return &Error{File: file, Reason: fmt.Sprintf(reason, args...)}
}

// readManifest reads manifest.json, exactly as Write writes it.
func readManifest(dir string) (*Manifest, error) {
	f, err := os.Open(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxManifest+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxManifest {
		return nil, invalid(ManifestFile, "larger than %d bytes", maxManifest)
	}
	m, err := DecodeManifest(data)
	if err != nil {
		return nil, &Error{File: ManifestFile, Reason: err.Error()}
	}
	return m, nil
}

// DecodeManifest reads a manifest, refusing any text Write would not
// write (it is decoded, encoded again and compared) and another format.
func DecodeManifest(data []byte) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("not a manifest: %v", err)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("field \"format\": want %q, found %q", Format, m.Format)
	}
	if !bytes.Equal(encodeManifest(&m), data) {
		return nil, errors.New("not a manifest as an archive writes it (key order, spacing, escapes or fields)")
	}
	return &m, nil
}

type verifier struct {
	dir     string
	m       *Manifest
	opts    Options
	cp      chainlog.Checkpoint
	digests map[string]File // what each file read was
	nodes   map[string]*nodeCheck
	amends  map[string][]*amendLine // by event id
	nAmend  int64
}

type amendLine struct {
	chainlog.Amendment
	line int64
	used bool
}

// nodeCheck is one node's cut as its events are read.
type nodeCheck struct {
	cut   *Node
	chain *chainlog.ChainCheck
	count int64
}

// checkManifest checks the manifest's own rules: the files, and each cut.
func (v *verifier) checkManifest(context.Context) error {
	if len(v.m.Files) != len(dataFiles) {
		return invalid(ManifestFile, "lists %d files, not the %d of an archive", len(v.m.Files), len(dataFiles))
	}
	for i, f := range v.m.Files {
		if f.Name != dataFiles[i] {
			return invalid(ManifestFile, "file %d is %q, not %q", i+1, f.Name, dataFiles[i])
		}
	}
	ents, err := os.ReadDir(v.dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if n := e.Name(); n != ManifestFile && !slices.Contains(dataFiles, n) {
			return invalid(n, "not a file of an archive: an archive holds only what its manifest lists")
		}
	}
	if len(v.m.Nodes) == 0 {
		return invalid(ManifestFile, "no nodes: an archive holds at least one cut")
	}
	v.nodes = make(map[string]*nodeCheck, len(v.m.Nodes))
	var total int64
	for i := range v.m.Nodes {
		n := &v.m.Nodes[i]
		if err := checkCut(n, v.m.Nodes[:i]); err != nil {
			return err
		}
		v.nodes[n.NodeID] = &nodeCheck{cut: n, chain: chainlog.NewChainCheck(n.NodeID, n.FirstSeq-1, n.PrevAnchor)}
		total += n.Count
	}
	if total != v.m.Events {
		return invalid(ManifestFile, "\"events\" is %d, the cuts count %d", v.m.Events, total)
	}
	return nil
}

func checkCut(n *Node, before []Node) error {
	r := chainlog.PruneRange{NodeID: n.NodeID, FirstSeq: n.FirstSeq, LastSeq: n.LastSeq, Count: n.Count, Anchor: n.Anchor}
	bad := func(format string, args ...any) error {
		return &Error{File: ManifestFile, NodeID: n.NodeID, Reason: fmt.Sprintf(format, args...)}
	}
	if err := r.Check(); err != nil {
		return bad("%v", err)
	}
	if len(before) > 0 && before[len(before)-1].NodeID >= n.NodeID {
		return bad("the nodes are not in node_id order, each once")
	}
	switch {
	case n.FirstSeq == 1 && n.PrevAnchor != chainlog.GenesisHash:
		return &Error{File: ManifestFile, NodeID: n.NodeID, Reason: "the cut starts at seq 1, so it links to genesis",
			Expected: chainlog.GenesisHash, Found: n.PrevAnchor}
	case n.FirstSeq > 1 && (len(n.PrevAnchor) != 64 || n.PrevAnchor == chainlog.GenesisHash):
		return bad("the cut starts at seq %d: its prev_anchor must be the previous prune's anchor, a chain hash, found %q", n.FirstSeq, n.PrevAnchor)
	}
	return nil
}

// openCheckpoint checks the checkpoint's signature, its cosignatures, and
// that it is the one the manifest describes.
func (v *verifier) openCheckpoint(context.Context) error {
	signed, err := v.readSmall(CheckpointFile, 1<<20)
	if err != nil {
		return err
	}
	err = errors.New("no verifier key given")
	for _, vk := range v.opts.Verifiers {
		if v.cp, err = chainlog.OpenCheckpoint(signed, vk); err == nil {
			break
		}
	}
	if err != nil {
		return &Error{File: CheckpointFile, Reason: err.Error()}
	}
	if v.opts.Cosigned != nil {
		if err := v.opts.Cosigned(signed); err != nil {
			return &Error{File: CheckpointFile, Reason: err.Error()}
		}
	}
	got := CheckpointInfo{Origin: v.cp.Origin, Size: v.cp.Size, Root: base64.StdEncoding.EncodeToString(v.cp.Root[:])}
	if got != v.m.Checkpoint {
		return &Error{File: ManifestFile, Reason: "the manifest's checkpoint is not the signed one",
			Expected: fmt.Sprintf("%+v", got), Found: fmt.Sprintf("%+v", v.m.Checkpoint)}
	}
	return nil
}

// readSmall reads a whole file of at most limit bytes, noting its digest.
func (v *verifier) readSmall(name string, limit int64) ([]byte, error) {
	f, err := os.Open(filepath.Join(v.dir, name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := v.hashing(name, f)
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, invalid(name, "larger than %d bytes", limit)
	}
	return data, r.done()
}

// hashingReader notes the size and SHA-256 of what is read through it.
type hashingReader struct {
	v    *verifier
	name string
	r    io.Reader
	h    hash.Hash
	n    int64
}

func (v *verifier) hashing(name string, r io.Reader) *hashingReader {
	return &hashingReader{v: v, name: name, r: r, h: sha256.New()}
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	return n, err
}

// done reads what is left of the file and notes its digest.
func (h *hashingReader) done() error {
	if _, err := io.Copy(io.Discard, h); err != nil {
		return err
	}
	h.v.digests[h.name] = File{Name: h.name, Bytes: h.n, SHA256: hex.EncodeToString(h.h.Sum(nil))}
	return nil
}

// checkDigests compares every file read with the manifest.
func (v *verifier) checkDigests(context.Context) error {
	for _, want := range v.m.Files {
		got := v.digests[want.Name]
		if got != want {
			return &Error{File: ManifestFile, Reason: fmt.Sprintf("file %s is not the one the manifest lists", want.Name),
				Expected: fmt.Sprintf("%d bytes, sha256 %s", want.Bytes, want.SHA256), Found: fmt.Sprintf("%d bytes, sha256 %s", got.Bytes, got.SHA256)}
		}
	}
	return nil
}

// lines calls fn with each line of the file (without its newline) and
// its number, then notes the file's digest.
func (v *verifier) lines(name string, fn func(n int64, line []byte) error) error {
	lr, err := v.openLines(name)
	if err != nil {
		return err
	}
	defer lr.close()
	for {
		line, err := lr.next()
		if err != nil || line == nil {
			return err
		}
		if err := fn(lr.n, line); err != nil {
			return err
		}
	}
}

// lineReader reads a file of the archive a line at a time, noting its
// digest at the end. A last line without a newline is refused: every line
// the archive writes ends in one.
type lineReader struct {
	name string
	f    *os.File
	r    *hashingReader
	br   *bufio.Reader
	n    int64 // lines read
	long []byte
}

func (v *verifier) openLines(name string) (*lineReader, error) {
	f, err := os.Open(filepath.Join(v.dir, name))
	if err != nil {
		return nil, err
	}
	r := v.hashing(name, f)
	return &lineReader{name: name, f: f, r: r, br: bufio.NewReaderSize(r, 1<<16)}, nil
}

func (lr *lineReader) close() { lr.f.Close() }

// next returns the next line without its newline, valid until the next
// call; nil at the end of the file, once its digest is noted.
func (lr *lineReader) next() ([]byte, error) {
	lr.long = lr.long[:0]
	for {
		line, err := lr.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if lr.long = append(lr.long, line...); len(lr.long) > maxLine {
				return nil, invalid(lr.name, "line %d is longer than %d bytes", lr.n+1, maxLine)
			}
			continue
		}
		if len(lr.long) > 0 {
			line = append(lr.long, line...)
		}
		if errors.Is(err, io.EOF) {
			if len(line) > 0 {
				return nil, &Error{File: lr.name, Line: lr.n + 1, Reason: "the last line does not end in a newline: the file was cut short"}
			}
			return nil, lr.r.done()
		}
		if err != nil {
			return nil, err
		}
		lr.n++
		return line[:len(line)-1], nil
	}
}
