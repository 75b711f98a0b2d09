package archive

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"chainlog"

	"golang.org/x/mod/sumdb/tlog"
)

// A piece is a perfect subtree of the checkpoint's tree that holds no
// archived leaf: 2^Level leaves from leaf Leaf, which is a multiple of
// 2^Level. tree.jsonl lists, in leaf order, the pieces that cover every
// leaf of the tree that is not an archived event's; with the events'
// leaves, recomputed, they make the checkpoint's root (RFC 6962).
type piece struct {
	Leaf  int64  `json:"leaf"`
	Level int    `json:"level"`
	Hash  string `json:"hash"` // base64
}

// storedIndex is the piece's index among the tree's stored hashes.
func (p *piece) storedIndex() int64 { return tlog.StoredHashIndex(p.Level, p.Leaf>>p.Level) }

// appendPieces appends the largest aligned subtrees that cover the leaves
// from through to-1, in order: O(log(to-from)) of them.
func appendPieces(dst []piece, from, to int64) []piece {
	for from < to {
		level := 0
		for level < 62 && from&(1<<(level+1)-1) == 0 && to-from >= 1<<(level+1) {
			level++
		}
		dst = append(dst, piece{Leaf: from, Level: level})
		from += 1 << level
	}
	return dst
}

func appendPieceLine(dst []byte, p *piece) []byte {
	return fmt.Appendf(dst, `{"leaf":%d,"level":%d,"hash":%q}`+"\n", p.Leaf, p.Level, p.Hash)
}

// decodePiece reads one line of tree.jsonl, exactly as appendPieceLine
// writes it.
func decodePiece(line []byte) (piece, tlog.Hash, error) {
	var p piece
	if err := json.Unmarshal(line, &p); err != nil {
		return p, tlog.Hash{}, fmt.Errorf("not a tree hash line: %v", err)
	}
	if string(appendPieceLine(nil, &p)) != string(line)+"\n" {
		return p, tlog.Hash{}, fmt.Errorf("not a tree hash line as the archive writes it")
	}
	b, err := base64.StdEncoding.Strict().DecodeString(p.Hash)
	if err != nil || len(b) != tlog.HashSize {
		return p, tlog.Hash{}, fmt.Errorf("hash %q is not a base64 %d-byte hash", p.Hash, tlog.HashSize)
	}
	if p.Level < 0 || p.Level > 62 || p.Leaf < 0 {
		return p, tlog.Hash{}, fmt.Errorf("leaf %d, level %d is not a subtree", p.Leaf, p.Level)
	}
	return p, tlog.Hash(b), nil
}

// pieceReader reads tree.jsonl in step with the events.
type pieceReader struct {
	lr    *lineReader
	count int64
	eof   bool
}

func (v *verifier) openPieces() (*pieceReader, error) {
	lr, err := v.openLines(TreeFile)
	if err != nil {
		return nil, err
	}
	return &pieceReader{lr: lr}, nil
}

func (pr *pieceReader) close() { pr.lr.close() }

// fill adds pieces to t until it holds the leaves before upto: each piece
// must start where the tree ends and stop at upto or before.
func (pr *pieceReader) fill(t *chainlog.TreeBuilder, upto int64) *Error {
	for t.Size() < upto {
		line, err := pr.next()
		if err != nil {
			return err
		}
		if line == nil {
			return &Error{File: TreeFile, Line: pr.lr.n + 1, Reason: fmt.Sprintf("the tree hashes end at leaf %d, before leaf %d", t.Size(), upto)}
		}
		p, h, derr := decodePiece(line)
		switch {
		case derr != nil:
			return &Error{File: TreeFile, Line: pr.lr.n, Reason: derr.Error()}
		case p.Leaf != t.Size() || p.Level > 62 || upto-p.Leaf < 1<<p.Level:
			return &Error{File: TreeFile, Line: pr.lr.n, Reason: fmt.Sprintf("a subtree of 2^%d leaves from leaf %d does not fit between leaf %d and leaf %d", p.Level, p.Leaf, t.Size(), upto)}
		}
		if err := t.AddSubtree(p.Level, h); err != nil {
			return &Error{File: TreeFile, Line: pr.lr.n, Reason: err.Error()}
		}
		pr.count++
	}
	return nil
}

// end checks that no piece is left.
func (pr *pieceReader) end() error {
	line, err := pr.next()
	if err != nil {
		return err
	}
	if line != nil {
		return &Error{File: TreeFile, Line: pr.lr.n, Reason: "a tree hash after the checkpoint's last leaf"}
	}
	return nil
}

func (pr *pieceReader) next() ([]byte, *Error) {
	if pr.eof {
		return nil, nil
	}
	line, err := pr.lr.next()
	if err != nil {
		if e, ok := err.(*Error); ok {
			return nil, e
		}
		return nil, &Error{File: TreeFile, Reason: err.Error()}
	}
	pr.eof = line == nil
	return line, nil
}

func root64(h tlog.Hash) string { return base64.StdEncoding.EncodeToString(h[:]) }
