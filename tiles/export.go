package tiles

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"chainlog"

	"golang.org/x/mod/sumdb/tlog"
)

// ExportOptions configures Export.
type ExportOptions struct {
	// Progress, if set, is called as leaves are written, with how many of
	// the new ones are done and how many there are.
	Progress func(done, total int64)
}

// ExportResult says what an Export wrote.
type ExportResult struct {
	OldSize int64 // the tree size of the checkpoint the folder held before; 0 for none
	Size    int64 // the tree size of the checkpoint written
	Tiles   int   // hash tiles written
	Bundles int   // entry bundles written
}

// Export writes the tree of the signed checkpoint into dir as static
// tlog-tiles: the tiles and entry bundles first, then dir/checkpoint. It
// is incremental: when dir already holds an earlier checkpoint of the
// same log, it writes only the tiles that the tree grew into. Every file
// is written whole under a temporary name and renamed, and the checkpoint
// is written last, so a reader never sees a checkpoint whose tiles are
// missing.
//
// Before the checkpoint is written, the tiles are checked against it: the
// entries' leaf hashes against the level-0 tiles, and the tree's root
// against the checkpoint's. A store whose rows no longer match its tree
// is refused with the first leaf that differs.
func Export(ctx context.Context, src Source, dir string, signed []byte, opts ExportOptions) (ExportResult, error) {
	var res ExportResult
	cp, err := chainlog.ParseSignedCheckpoint(signed)
	if err != nil {
		return res, fmt.Errorf("export tiles: %w", err)
	}
	res.Size = cp.Size
	stored, _, err := src.StoredTree(ctx)
	if err != nil {
		return res, fmt.Errorf("export tiles: %w", err)
	}
	if stored < cp.Size {
		return res, fmt.Errorf("export tiles: the checkpoint is for a tree of %d leaves, the store's tree has %d", cp.Size, stored)
	}
	if res.OldSize, err = exportedSize(dir, cp); err != nil {
		return res, err
	}
	root, err := tlog.TreeHash(cp.Size, hashReader{ctx, src})
	if err != nil {
		return res, fmt.Errorf("export tiles: %w", err)
	}
	if root != cp.Root {
		return res, fmt.Errorf("export tiles: the store's tree of size %d has root %x, the checkpoint says %x", cp.Size, root, cp.Root)
	}

	for _, t := range tlog.NewTiles(Height, res.OldSize, cp.Size) {
		tile := Tile{Level: t.L, N: t.N, W: t.W}
		data, err := tlog.ReadTileData(t, hashReader{ctx, src})
		if err != nil {
			return res, fmt.Errorf("export tiles: read %s: %w", tile.Path(), err)
		}
		if t.L == 0 {
			bundle := Tile{N: t.N, W: t.W, Entries: true}
			entries, err := readBundle(ctx, src, bundle, data)
			if err != nil {
				return res, fmt.Errorf("export tiles: %w", err)
			}
			if err := writeFile(dir, bundle.Path(), entries); err != nil {
				return res, err
			}
			res.Bundles++
			if opts.Progress != nil {
				opts.Progress(t.N*Width+int64(t.W)-res.OldSize, cp.Size-res.OldSize)
			}
		}
		if err := writeFile(dir, tile.Path(), data); err != nil {
			return res, err
		}
		res.Tiles++
	}
	if err := writeFile(dir, "checkpoint", signed); err != nil {
		return res, err
	}
	return res, nil
}

// exportedSize returns the size of the checkpoint dir holds, 0 when it
// holds none. A checkpoint of another log, or of a larger tree, is an
// error: the export would mix two trees, or roll one back.
func exportedSize(dir string, cp chainlog.Checkpoint) (int64, error) {
	old, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("export tiles: %w", err)
	}
	prev, err := chainlog.ParseSignedCheckpoint(old)
	switch {
	case err != nil:
		return 0, fmt.Errorf("export tiles: %s: %w", filepath.Join(dir, "checkpoint"), err)
	case prev.Origin != cp.Origin:
		return 0, fmt.Errorf("export tiles: %s holds the log %q, not %q", dir, prev.Origin, cp.Origin)
	case prev.Size > cp.Size:
		return 0, fmt.Errorf("export tiles: %s holds a tree of %d leaves, the checkpoint has %d: refusing to roll it back", dir, prev.Size, cp.Size)
	}
	return prev.Size, nil
}

// writeFile writes data to dir/name whole: under a temporary name in the
// same folder, synced, then renamed.
func writeFile(dir, name string, data []byte) error {
	path := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("export tiles: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("export tiles: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("export tiles: write %s: %w", name, err)
	}
	return nil
}
