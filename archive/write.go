package archive

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"

	"chainlog"

	"golang.org/x/mod/sumdb/tlog"
)

// Source is what Write reads from a store, read-only. *sqlite.Store and
// the in-memory test store implement it.
type Source interface {
	// Export streams every stored event (of nodeID, when not empty) with
	// all its columns, in commit order; the event is reused.
	Export(ctx context.Context, nodeID string, fn func(*chainlog.StoredEvent) error) error
	// ScanAmendmentRange streams the trail's records with after < seq <=
	// upto, in seq order.
	ScanAmendmentRange(ctx context.Context, afterSeq, uptoSeq int64, fn func(*chainlog.AmendmentScan) error) error
	// ReadStoredHashes returns the stored tree hashes at indexes.
	ReadStoredHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error)
}

// errDone stops the export once every cut's events were read.
var errDone = errors.New("every cut was read")

// Write archives the events of cuts (as chainlog.Pruner's PlanPrune gives
// them, before the prune) from src into dir, a new directory (an empty
// one is taken; anything else in it is refused), with the proofs against
// signed, a signed checkpoint whose tree holds every event of the cuts.
//
// It writes into a temporary directory beside dir, syncs every file and
// renames it to dir last, so that a crash leaves no directory at dir that
// looks like an archive. It streams: memory grows with the nodes and the
// amendment records, not with the events. A cut the store no longer
// holds as planned (another prune ran, a seq is missing, its last hash is
// not the anchor) fails, with nothing at dir. The archive is not checked
// here: call Verify, with the log's key, before pruning.
func Write(ctx context.Context, src Source, dir string, cuts []chainlog.PruneCut, signed []byte) (*Manifest, error) {
	cp, err := chainlog.ParseSignedCheckpoint(signed)
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	w, err := newWriter(cuts, cp)
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	if err := checkTarget(dir); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".partial-")
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	defer os.RemoveAll(tmp) // gone after the rename
	if err := w.write(ctx, src, tmp, signed); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	return &w.m, nil
}

// checkTarget refuses a dir that exists and is not an empty directory.
func checkTarget(dir string) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	case len(ents) > 0:
		return fmt.Errorf("%s is not empty: an archive goes into a new directory", dir)
	}
	return nil
}

// cutState is one cut as the export reaches its events.
type cutState struct {
	cut  chainlog.PruneCut
	node *Node
}

type writer struct {
	cp   chainlog.Checkpoint
	m    Manifest
	cuts map[string]*cutState
	left int64 // events of the cuts not yet read
	leaf int64 // the tree's leaves covered so far, events and pieces
	tree *hashedFile
	// spool keeps the pieces found while the events are exported, whose
	// hashes are read after the export (a store serves one read at a
	// time): 9 bytes a piece, the leaf and the level.
	spool *bufio.ReadWriter
	sf    *os.File
}

func newWriter(cuts []chainlog.PruneCut, cp chainlog.Checkpoint) (*writer, error) {
	if len(cuts) == 0 {
		return nil, errors.New("no cuts: nothing to archive")
	}
	w := &writer{cp: cp, cuts: map[string]*cutState{}}
	w.m = Manifest{Format: Format, Checkpoint: CheckpointInfo{Origin: cp.Origin, Size: cp.Size,
		Root: base64.StdEncoding.EncodeToString(cp.Root[:])}, Nodes: make([]Node, len(cuts))}
	sorted := slices.SortedFunc(slices.Values(cuts), func(a, b chainlog.PruneCut) int { return cmp.Compare(a.NodeID, b.NodeID) })
	for i, c := range sorted {
		r := chainlog.PruneRange{NodeID: c.NodeID, FirstSeq: c.FirstSeq, LastSeq: c.LastSeq, Count: c.LastSeq - c.FirstSeq + 1, Anchor: c.Anchor}
		if err := r.Check(); err != nil {
			return nil, fmt.Errorf("cut of node %q: %w", c.NodeID, err)
		}
		if w.cuts[c.NodeID] != nil {
			return nil, fmt.Errorf("node %q has two cuts", c.NodeID)
		}
		w.m.Nodes[i] = Node{NodeID: c.NodeID, FirstSeq: c.FirstSeq, LastSeq: c.FirstSeq - 1, Anchor: c.Anchor}
		w.cuts[c.NodeID] = &cutState{cut: c, node: &w.m.Nodes[i]}
		w.left += r.Count
	}
	return w, nil
}

func (w *writer) write(ctx context.Context, src Source, tmp string, signed []byte) error {
	amends, err := readAmendments(ctx, src)
	if err != nil {
		return err
	}
	events, err := createFile(tmp, EventsFile)
	if err != nil {
		return err
	}
	defer events.f.Close()
	if w.tree, err = createFile(tmp, TreeFile); err != nil {
		return err
	}
	defer w.tree.f.Close()
	if w.sf, err = os.CreateTemp(tmp, ".pieces-"); err != nil {
		return err
	}
	defer w.sf.Close()
	w.spool = bufio.NewReadWriter(bufio.NewReaderSize(w.sf, 1<<16), bufio.NewWriterSize(w.sf, 1<<16))
	amended, err := w.writeEvents(ctx, src, events, amends)
	if err != nil {
		return err
	}
	if err := w.spoolPieces(w.cp.Size); err != nil {
		return err
	}
	if err := w.writeTree(ctx, src); err != nil {
		return err
	}
	if err := os.Remove(w.sf.Name()); err != nil {
		return err
	}
	files := []*hashedFile{events, nil, w.tree, nil}
	if files[1], err = writeAmendments(tmp, amends, amended, &w.m.Amendments); err != nil {
		return err
	}
	if files[3], err = createFile(tmp, CheckpointFile); err != nil {
		return err
	}
	defer files[3].f.Close()
	if _, err := files[3].Write(signed); err != nil {
		return err
	}
	for i, f := range files {
		if err := f.finish(); err != nil {
			return fmt.Errorf("%s: %w", dataFiles[i], err)
		}
		w.m.Files = append(w.m.Files, f.entry())
	}
	if err := writeManifest(tmp, &w.m); err != nil {
		return err
	}
	return syncDir(tmp)
}

// readAmendments returns the trail's amendment and redaction records (not
// its prune records) by event id, each event's in seq order.
func readAmendments(ctx context.Context, src Source) (map[string][]chainlog.Amendment, error) {
	out := map[string][]chainlog.Amendment{}
	err := src.ScanAmendmentRange(ctx, 0, math.MaxInt64, func(a *chainlog.AmendmentScan) error {
		if a.Kind != chainlog.KindPrune {
			out[a.EventID] = append(out[a.EventID], a.Amendment)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the amendment trail: %w", err)
	}
	return out, nil
}

// writeEvents writes the cuts' events in commit order, and the tree
// pieces before each; it returns the ids of the events that have
// amendment records.
func (w *writer) writeEvents(ctx context.Context, src Source, out *hashedFile, amends map[string][]chainlog.Amendment) (map[string]bool, error) {
	node := ""
	if len(w.cuts) == 1 {
		node = w.m.Nodes[0].NodeID
	}
	amended := map[string]bool{}
	buf := bufio.NewWriterSize(out, 1<<16)
	err := src.Export(ctx, node, func(e *chainlog.StoredEvent) error {
		c := w.cuts[e.NodeID]
		if c == nil || e.Seq < c.cut.FirstSeq || e.Seq > c.cut.LastSeq {
			return nil
		}
		if err := w.take(c, e); err != nil {
			return err
		}
		if len(amends[e.ID]) > 0 {
			amended[e.ID] = true
		}
		// The row export writes (a json.Encoder without HTML escaping
		// writes MarshalJSON's text as it is), and its newline.
		line, err := e.MarshalJSON()
		if err != nil {
			return fmt.Errorf("event %q: %w", e.ID, err)
		}
		buf.Write(line)
		if err := buf.WriteByte('\n'); err != nil {
			return err
		}
		if w.left--; w.left == 0 {
			return errDone
		}
		return nil
	})
	if err != nil && !errors.Is(err, errDone) {
		return nil, err
	}
	for _, c := range w.cuts {
		if c.node.LastSeq != c.cut.LastSeq {
			return nil, fmt.Errorf("node %q: the store has its events to seq %d, not %d as planned", c.cut.NodeID, c.node.LastSeq, c.cut.LastSeq)
		}
	}
	return amended, buf.Flush()
}

// take checks that e is the next event of its cut, in the checkpoint's
// tree, and adds it to the manifest and the pieces before its leaf.
func (w *writer) take(c *cutState, e *chainlog.StoredEvent) error {
	n := c.node
	switch {
	case e.Seq != n.LastSeq+1:
		return fmt.Errorf("node %q: seq %d follows seq %d: run verify-integrity", e.NodeID, e.Seq, n.LastSeq)
	case e.LeafIndex == nil || *e.LeafIndex < w.leaf:
		return fmt.Errorf("event %q: no leaf after leaf %d: run verify-integrity", e.ID, w.leaf)
	case *e.LeafIndex >= w.cp.Size:
		return fmt.Errorf("event %q: leaf %d is not in the checkpoint's tree of %d leaves: sign a newer checkpoint first", e.ID, *e.LeafIndex, w.cp.Size)
	case e.Seq == c.cut.LastSeq && e.Hash != c.cut.Anchor:
		return fmt.Errorf("node %q: seq %d has chain hash %s, not the planned anchor %s", e.NodeID, e.Seq, e.Hash, c.cut.Anchor)
	}
	if e.Seq == c.cut.FirstSeq {
		n.PrevAnchor = e.PrevHash
	}
	n.LastSeq, n.Count = e.Seq, n.Count+1
	w.m.Events++
	if err := w.spoolPieces(*e.LeafIndex); err != nil {
		return err
	}
	w.leaf = *e.LeafIndex + 1
	return nil
}

// spoolPieces spools the pieces that cover the leaves from w.leaf to
// upto, and moves w.leaf there.
func (w *writer) spoolPieces(upto int64) error {
	var rec [9]byte
	for _, p := range appendPieces(nil, w.leaf, upto) {
		binary.BigEndian.PutUint64(rec[:8], uint64(p.Leaf))
		rec[8] = byte(p.Level)
		if _, err := w.spool.Write(rec[:]); err != nil {
			return err
		}
	}
	w.leaf = upto
	return nil
}

// pieceBatch is how many tree hashes are read from the store at once.
const pieceBatch = 4096

// writeTree reads the spooled pieces back, a batch at a time, with their
// hashes from the store, and writes tree.jsonl.
func (w *writer) writeTree(ctx context.Context, src Source) error {
	if err := w.spool.Flush(); err != nil {
		return err
	}
	if _, err := w.sf.Seek(0, io.SeekStart); err != nil {
		return err
	}
	w.spool.Reader.Reset(w.sf)
	out := bufio.NewWriterSize(w.tree, 1<<16)
	batch := make([]piece, 0, pieceBatch)
	idx := make([]int64, 0, pieceBatch)
	var line []byte
	for done := false; !done; {
		batch, idx = batch[:0], idx[:0]
		var rec [9]byte
		for len(batch) < pieceBatch {
			if _, err := io.ReadFull(w.spool, rec[:]); errors.Is(err, io.EOF) {
				done = true
				break
			} else if err != nil {
				return fmt.Errorf("read back the tree's pieces: %w", err)
			}
			p := piece{Leaf: int64(binary.BigEndian.Uint64(rec[:8])), Level: int(rec[8])}
			batch, idx = append(batch, p), append(idx, p.storedIndex())
		}
		if len(batch) == 0 {
			break
		}
		hs, err := src.ReadStoredHashes(ctx, idx)
		if err != nil {
			return fmt.Errorf("read the tree's hashes: %w", err)
		}
		for i := range batch {
			batch[i].Hash = base64.StdEncoding.EncodeToString(hs[i][:])
			line = appendPieceLine(line[:0], &batch[i])
			if _, err := out.Write(line); err != nil {
				return err
			}
		}
		w.m.TreeHashes += int64(len(batch))
	}
	return out.Flush()
}

// writeAmendments writes the records of the amended events, in seq order.
func writeAmendments(tmp string, amends map[string][]chainlog.Amendment, amended map[string]bool, count *int64) (*hashedFile, error) {
	var recs []chainlog.Amendment
	for id := range amended {
		recs = append(recs, amends[id]...)
	}
	slices.SortFunc(recs, func(a, b chainlog.Amendment) int { return cmp.Compare(a.Seq, b.Seq) })
	f, err := createFile(tmp, AmendmentsFile)
	if err != nil {
		return nil, err
	}
	for i := range recs {
		line, err := encodeAmendment(&recs[i])
		if err == nil {
			_, err = f.Write(line)
		}
		if err != nil {
			f.f.Close()
			return nil, fmt.Errorf("amendment %d: %w", recs[i].Seq, err)
		}
	}
	*count = int64(len(recs))
	return f, nil
}

// encodeAmendment is a record's line in amendments.jsonl: its JSON as the
// store's history gives it, strings as stored.
func encodeAmendment(a *chainlog.Amendment) ([]byte, error) {
	var b jsonBuffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(a)
	return b, err
}

type jsonBuffer []byte

func (b *jsonBuffer) Write(p []byte) (int, error) {
	*b = append(*b, p...)
	return len(p), nil
}

// writeManifest writes the manifest, indented, and syncs it.
func writeManifest(tmp string, m *Manifest) error {
	f, err := createFile(tmp, ManifestFile)
	if err != nil {
		return err
	}
	defer f.f.Close()
	if _, err := f.Write(encodeManifest(m)); err != nil {
		return err
	}
	return f.finish()
}

func encodeManifest(m *Manifest) []byte {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		panic(err) // strings and integers only
	}
	return append(b, '\n')
}

// hashedFile is a new file of the archive with its running SHA-256.
type hashedFile struct {
	name string
	f    *os.File
	h    hash.Hash
	n    int64
}

func createFile(dir, name string) (*hashedFile, error) {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return &hashedFile{name: name, f: f, h: sha256.New()}, nil
}

func (f *hashedFile) Write(p []byte) (int, error) {
	n, err := f.f.Write(p)
	f.h.Write(p[:n])
	f.n += int64(n)
	return n, err
}

// finish syncs and closes the file.
func (f *hashedFile) finish() error {
	if err := f.f.Sync(); err != nil {
		return err
	}
	return f.f.Close()
}

func (f *hashedFile) entry() File {
	return File{Name: f.name, Bytes: f.n, SHA256: hex.EncodeToString(f.h.Sum(nil))}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

var _ io.Writer = (*hashedFile)(nil)
