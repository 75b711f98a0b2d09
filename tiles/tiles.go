// Package tiles publishes a store's Merkle tree as C2SP tlog-tiles: the
// signed checkpoint, the hash tiles and the entry bundles that hold each
// leaf's data, so that any monitor, witness or auditor can read the tree
// and check it with standard tools. Serve it over HTTP with Handler, or
// write it as static files with Export.
//
// The tree is chainlog's RFC 6962 tree, and its tiles are those of
// golang.org/x/mod/sumdb/tlog with height 8 (256 hashes a tile). An entry
// is a leaf's data (chainlog.AppendLeafData): its hash, SHA-256(0x00 ||
// entry), is the leaf hash in the level-0 tile.
package tiles

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"chainlog"

	"golang.org/x/mod/sumdb/tlog"
)

// Height is the tiles' height: a full tile holds 2^Height = 256 hashes,
// and an entry bundle 256 entries.
const Height = 8

// Width is the number of hashes in a full tile.
const Width = 1 << Height

// Source is what the tiles are read from: the store's stored tree hashes
// and its leaves. sqlite.Store implements it.
type Source interface {
	// StoredTree returns the size and root of the stored tree.
	StoredTree(ctx context.Context) (size int64, root tlog.Hash, err error)
	// ReadStoredHashes returns the tree's stored hashes at indexes
	// (tlog's stored order).
	ReadStoredHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error)
	// ScanLeafRange calls fn for the leaves with afterLeaf < index <
	// uptoLeaf, in leaf order.
	ScanLeafRange(ctx context.Context, afterLeaf, uptoLeaf int64, fn func(index int64, l *chainlog.Leaf) error) error
}

// ErrNoTile says that a path names no tile of the tree: the tree is not
// that large yet, or the path is not a tile path.
var ErrNoTile = errors.New("no such tile")

// A Tile is one resource of the tree: a hash tile (Entries false) or an
// entry bundle (Entries true, Level 0).
type Tile struct {
	Level   int   // 0 for leaf hashes and for entry bundles
	N       int64 // the tile's index in its level
	W       int   // its width: Width for a full tile, 1 to Width-1 for a partial one
	Entries bool  // an entry bundle rather than a hash tile
}

// Full reports whether the tile is full, and so never changes.
func (t Tile) Full() bool { return t.W == Width }

// Path returns the tile's C2SP path: "tile/<L>/<N>[.p/<W>]" or
// "tile/entries/<N>[.p/<W>]", with N in groups of three digits, all but
// the last prefixed with "x".
func (t Tile) Path() string {
	p := t.tlog().Path() // "tile/8/<L or data>/<N>[.p/<W>]"
	_, rest, _ := strings.Cut(strings.TrimPrefix(p, "tile/"), "/")
	if t.Entries {
		_, n, _ := strings.Cut(rest, "/")
		return "tile/entries/" + n
	}
	return "tile/" + rest
}

func (t Tile) tlog() tlog.Tile {
	l := t.Level
	if t.Entries {
		l = -1
	}
	return tlog.Tile{H: Height, L: l, N: t.N, W: t.W}
}

// ParsePath parses a tile path as Path writes it.
func ParsePath(path string) (Tile, error) {
	rest, ok := strings.CutPrefix(path, "tile/")
	if !ok {
		return Tile{}, fmt.Errorf("%w: %q does not start with tile/", ErrNoTile, path)
	}
	entries := false
	if r, ok := strings.CutPrefix(rest, "entries/"); ok {
		entries, rest = true, "data/"+r
	}
	t, err := tlog.ParseTilePath(fmt.Sprintf("tile/%d/%s", Height, rest))
	if err != nil || (!entries && t.L < 0) {
		return Tile{}, fmt.Errorf("%w: %q is not a tile path", ErrNoTile, path)
	}
	out := Tile{Level: t.L, N: t.N, W: t.W, Entries: entries}
	if entries {
		out.Level = 0
	}
	if out.Path() != path { // one path for each tile: no leading zeros, no ".p/256"
		return Tile{}, fmt.Errorf("%w: %q is not in canonical form", ErrNoTile, path)
	}
	return out, nil
}

// end returns the number of leaves the tile covers, from leaf 0: a tile
// can be served once the tree has that many leaves. ok is false past
// int64.
func (t Tile) end() (int64, bool) {
	leaves := int64(1)
	for range t.Level {
		if leaves > math.MaxInt64/Width {
			return 0, false
		}
		leaves *= Width
	}
	if t.N > (math.MaxInt64/leaves-int64(t.W))/Width {
		return 0, false
	}
	return (t.N*Width + int64(t.W)) * leaves, true
}

// Read returns the tile's bytes from a tree of size treeSize: the hashes
// of a hash tile, 32 bytes each, or the entries of a bundle, each a
// big-endian uint16 length and the leaf's data. A tile the tree is too
// small for is ErrNoTile.
func Read(ctx context.Context, src Source, treeSize int64, t Tile) ([]byte, error) {
	end, ok := t.end()
	if !ok || end > treeSize {
		return nil, fmt.Errorf("%w: %s needs a tree of %d leaves, the tree has %d", ErrNoTile, t.Path(), end, treeSize)
	}
	if t.Entries {
		return readBundle(ctx, src, t, nil)
	}
	b, err := tlog.ReadTileData(t.tlog(), hashReader{ctx, src})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", t.Path(), err)
	}
	return b, nil
}

// readBundle reads the entry bundle t. With level0, the level-0 tile of
// the same leaves, each leaf's hash must be the one the tile holds: a row
// that no longer matches its leaf is an error that names it.
func readBundle(ctx context.Context, src Source, t Tile, level0 []byte) ([]byte, error) {
	first := t.N * Width
	var b []byte
	n := 0
	err := src.ScanLeafRange(ctx, first-1, first+int64(t.W), func(index int64, l *chainlog.Leaf) error {
		if index != first+int64(n) {
			return fmt.Errorf("leaf %d is missing", first+int64(n))
		}
		if level0 != nil {
			h := chainlog.LeafHash(l)
			if want := level0[n*tlog.HashSize : (n+1)*tlog.HashSize]; !bytes.Equal(h[:], want) {
				return fmt.Errorf("leaf %d (node %q, seq %d) hashes to %x, the tree holds %x: the row no longer matches its leaf",
					index, l.NodeID, l.Seq, h[:], want)
			}
		}
		var err error
		b, err = appendEntry(b, l)
		n++
		return err
	})
	if err == nil && n != t.W {
		err = fmt.Errorf("%d of its %d leaves are stored", n, t.W)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", t.Path(), err)
	}
	return b, nil
}

// appendEntry appends the leaf's entry: its data's length as a big-endian
// uint16, then the data. Data of 64 KiB or more (a node_id that long) has
// no entry form.
func appendEntry(b []byte, l *chainlog.Leaf) ([]byte, error) {
	n := len(b)
	b = chainlog.AppendLeafData(append(b, 0, 0), l)
	size := len(b) - n - 2
	if size > math.MaxUint16 {
		return nil, fmt.Errorf("leaf of node %.40q… seq %d: its data is %d bytes, an entry holds at most %d", l.NodeID, l.Seq, size, math.MaxUint16)
	}
	binary.BigEndian.PutUint16(b[n:], uint16(size))
	return b, nil
}

// hashReader reads a Source's stored hashes for tlog.
type hashReader struct {
	ctx context.Context
	src Source
}

func (r hashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	return r.src.ReadStoredHashes(r.ctx, indexes)
}
