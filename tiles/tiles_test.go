package tiles_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chainlog"
	"chainlog/internal/chainlogtest"
	"chainlog/tiles"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func TestPaths(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		tile tiles.Tile
		path string
	}{
		{tiles.Tile{Level: 0, N: 0, W: 256}, "tile/0/000"},
		{tiles.Tile{Level: 0, N: 1234067, W: 256}, "tile/0/x001/x234/067"},
		{tiles.Tile{Level: 1, N: 5, W: 10}, "tile/1/005.p/10"},
		{tiles.Tile{Level: 2, N: 1000, W: 1}, "tile/2/x001/000.p/1"},
		{tiles.Tile{N: 1, W: 3, Entries: true}, "tile/entries/001.p/3"},
		{tiles.Tile{N: 7, W: 256, Entries: true}, "tile/entries/007"},
	} {
		if got := tc.tile.Path(); got != tc.path {
			t.Errorf("%+v.Path() = %q; want %q", tc.tile, got, tc.path)
		}
		got, err := tiles.ParsePath(tc.path)
		if err != nil || got != tc.tile {
			t.Errorf("ParsePath(%q) = %+v, %v; want %+v", tc.path, got, err, tc.tile)
		}
	}
	for _, bad := range []string{
		"", "checkpoint", "tile/0/0", "tile/0/000.p/256", "tile/0/000.p/0", "tile/entries/000.p/0",
		"tile/x/000", "tile/0/x000/001", "tile/8/0/000", "tile/data/000", "tile/entries/1", "tile/-1/000",
		"tile/0/000/", "tile/0/001.p/05",
	} {
		if tile, err := tiles.ParsePath(bad); !errors.Is(err, tiles.ErrNoTile) {
			t.Errorf("ParsePath(%q) = %+v, %v; want ErrNoTile", bad, tile, err)
		}
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"tile/0/000", "tile/entries/x001/234.p/7", "tile/3/x999/x999/999", "tile/0/000.p/255"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		tile, err := tiles.ParsePath(path)
		if err != nil {
			return
		}
		if tile.Path() != path {
			t.Fatalf("ParsePath(%q) = %+v, whose path is %q", path, tile, tile.Path())
		}
		if tile.W < 1 || tile.W > tiles.Width || tile.N < 0 || tile.Level < 0 || tile.Entries && tile.Level != 0 {
			t.Fatalf("ParsePath(%q) = %+v: out of range", path, tile)
		}
	})
}

// store returns an in-memory store of n events over three nodes, and a
// signed checkpoint of its tree with the key's verifier.
func store(t *testing.T, n int) (*chainlogtest.Source, note.Signer, note.Verifier) {
	t.Helper()
	src := chainlogtest.NewSource()
	grow(t, src, 0, n)
	s, v := chainlogtest.NewKey(t, "example.com/tiles-test")
	return src, s, v
}

func grow(t *testing.T, src *chainlogtest.Source, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		src.Commit(fmt.Sprintf("node-%d", i%3), fmt.Sprintf("ev-%d", i))
	}
}

func sign(t *testing.T, src *chainlogtest.Source, s note.Signer) []byte {
	t.Helper()
	cp, err := src.Checkpoint(t.Context(), s, nil)
	if err != nil || cp == nil {
		t.Fatalf("Checkpoint = %q, %v", cp, err)
	}
	return cp
}

// dirTiles reads tiles from an exported folder, for tlog.TileHashReader,
// which checks every tile it reads against the tree's root.
type dirTiles struct{ dir string }

func (d dirTiles) Height() int { return tiles.Height }

func (d dirTiles) ReadTiles(ts []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	for i, t := range ts {
		b, err := os.ReadFile(filepath.Join(d.dir, tiles.Tile{Level: t.L, N: t.N, W: t.W}.Path()))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (d dirTiles) SaveTiles([]tlog.Tile, [][]byte) {}

// entries splits an entry bundle.
func entries(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			t.Fatalf("entry bundle: %d stray bytes", len(b))
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			t.Fatalf("entry bundle: entry of %d bytes, %d left", n, len(b)-2)
		}
		out, b = append(out, b[2:2+n]), b[2+n:]
	}
	return out
}

// checkExport checks an exported folder with x/mod's tile reader alone:
// every leaf's entry is in its bundle and proves into the checkpoint's
// tree through the tiles.
func checkExport(t *testing.T, dir string, v note.Verifier) {
	t.Helper()
	signed, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	cp, err := chainlog.ParseCheckpoint(n.Text)
	if err != nil {
		t.Fatal(err)
	}
	tree := tlog.Tree{N: cp.Size, Hash: cp.Root}
	thr := tlog.TileHashReader(tree, dirTiles{dir})
	for first := int64(0); first < cp.Size; first += tiles.Width {
		w := min(tiles.Width, cp.Size-first)
		bundle := tiles.Tile{N: first / tiles.Width, W: int(w), Entries: true}
		b, err := os.ReadFile(filepath.Join(dir, bundle.Path()))
		if err != nil {
			t.Fatal(err)
		}
		es := entries(t, b)
		if int64(len(es)) != w {
			t.Fatalf("%s holds %d entries; want %d", bundle.Path(), len(es), w)
		}
		for i, e := range es {
			idx := first + int64(i)
			if !bytes.HasPrefix(e, []byte(chainlog.LeafPrefix)) {
				t.Fatalf("entry %d: %q is not leaf data", idx, e)
			}
			p, err := tlog.ProveRecord(cp.Size, idx, thr)
			if err != nil {
				t.Fatalf("prove %d from the tiles: %v", idx, err)
			}
			if err := tlog.CheckRecord(p, cp.Size, cp.Root, idx, tlog.RecordHash(e)); err != nil {
				t.Fatalf("entry %d does not prove into the checkpoint: %v", idx, err)
			}
		}
	}
}

func TestExportIsIncrementalAndChecks(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src, s, v := store(t, 700) // two full level-0 tiles and a partial one
	dir := t.TempDir()
	cp700 := sign(t, src, s)
	res, err := tiles.Export(ctx, src, dir, cp700, tiles.ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Level 0: 000, 001, 002.p/188; level 1: 000.p/2; bundles like level 0.
	if want := (tiles.ExportResult{Size: 700, Tiles: 4, Bundles: 3}); res != want {
		t.Fatalf("Export = %+v; want %+v", res, want)
	}
	checkExport(t, dir, v)

	// Nothing new: nothing but the checkpoint is written.
	res, err = tiles.Export(ctx, src, dir, cp700, tiles.ExportOptions{})
	if want := (tiles.ExportResult{OldSize: 700, Size: 700}); err != nil || res != want {
		t.Fatalf("second Export = %+v, %v; want %+v", res, err, want)
	}

	// Grown past the partial tiles: only the new tiles are written, and
	// the full tiles already there are not touched.
	full := filepath.Join(dir, "tile/0/000")
	old := time0(t, full)
	grow(t, src, 700, 1000)
	var progress []int64
	res, err = tiles.Export(ctx, src, dir, sign(t, src, s), tiles.ExportOptions{
		Progress: func(done, total int64) { progress = append(progress, done, total) }})
	if err != nil {
		t.Fatal(err)
	}
	// Level 0: 002 (now full), 003.p/232; level 1: 000.p/4.
	if want := (tiles.ExportResult{OldSize: 700, Size: 1000, Tiles: 3, Bundles: 2}); res != want {
		t.Fatalf("third Export = %+v; want %+v", res, want)
	}
	if want := []int64{68, 300, 300, 300}; fmt.Sprint(progress) != fmt.Sprint(want) {
		t.Errorf("progress = %v; want %v", progress, want)
	}
	if !time0(t, full).Equal(old) {
		t.Errorf("%s was written again", full)
	}
	checkExport(t, dir, v)
}

func time0(t *testing.T, path string) time.Time {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime()
}

func TestExportRefuses(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src, s, _ := store(t, 300)
	cp300 := sign(t, src, s)
	grow(t, src, 300, 400)
	cp400 := sign(t, src, s)
	other, _, _ := store(t, 500)
	os2, _ := chainlogtest.NewKey(t, "example.com/another-log")

	dir := t.TempDir()
	if _, err := tiles.Export(ctx, src, dir, cp400, tiles.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	small := chainlogtest.NewSource()
	grow(t, small, 0, 10)

	for _, tc := range []struct {
		name   string
		src    tiles.Source
		signed []byte
		want   string
	}{
		{"roll back", src, cp300, "refusing to roll it back"},
		{"another log", other, sign(t, other, os2), "holds the log"},
		{"tree behind the checkpoint", small, cp400, "the store's tree has 10"},
		{"not a checkpoint", src, []byte("hello\n"), "checkpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tiles.Export(ctx, tc.src, dir, tc.signed, tiles.ExportOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Export = %v; want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestExportRefusesARowThatNoLongerMatchesItsLeaf(t *testing.T) {
	t.Parallel()
	src, s, _ := store(t, 300)
	signed := sign(t, src, s)
	src.Leaves[260].Leaf.ChainHash = strings.Repeat("0", 64) // the row's chain_hash, edited after its leaf was made
	dir := t.TempDir()
	_, err := tiles.Export(t.Context(), src, dir, signed, tiles.ExportOptions{})
	if err == nil || !strings.Contains(err.Error(), "leaf 260") {
		t.Fatalf("Export = %v; want an error naming leaf 260", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "checkpoint")); !os.IsNotExist(err) {
		t.Fatalf("a checkpoint was written over tiles that do not match it (%v)", err)
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	src, s, v := store(t, 700)
	signed := sign(t, src, s)
	h := &tiles.Handler{Source: src, Checkpoint: func() ([]byte, error) { return signed, nil }}
	srv := httptest.NewServer(h)
	defer srv.Close()

	dir := t.TempDir()
	if _, err := tiles.Export(t.Context(), src, dir, signed, tiles.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	get := func(path string) (*http.Response, []byte) {
		resp, err := http.Get(srv.URL + "/" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	// The daemon serves what export writes, byte for byte.
	for _, path := range []string{"checkpoint", "tile/0/000", "tile/0/002.p/188", "tile/1/000.p/2", "tile/entries/001", "tile/entries/002.p/188"} {
		resp, b := get(path)
		want, err := os.ReadFile(filepath.Join(dir, path))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || !bytes.Equal(b, want) {
			t.Errorf("GET /%s = %d, %d bytes; want 200 and the exported %d bytes", path, resp.StatusCode, len(b), len(want))
		}
		cc := resp.Header.Get("Cache-Control")
		if full := !strings.Contains(path, ".p/") && path != "checkpoint"; full != strings.Contains(cc, "immutable") {
			t.Errorf("GET /%s: Cache-Control %q", path, cc)
		}
	}
	// A partial tile the tree is past is still the same hashes.
	if resp, b := get("tile/0/000.p/5"); resp.StatusCode != 200 || len(b) != 5*32 {
		t.Errorf("GET a shorter partial tile = %d, %d bytes", resp.StatusCode, len(b))
	}
	for _, path := range []string{"tile/0/003", "tile/entries/002", "tile/1/000", "tile/0/0", "nope", "tile/entries/002.p/189"} {
		if resp, _ := get(path); resp.StatusCode != 404 {
			t.Errorf("GET /%s = %d; want 404", path, resp.StatusCode)
		}
	}
	resp, err := http.Post(srv.URL+"/checkpoint", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /checkpoint = %d; want 405", resp.StatusCode)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil || !strings.HasPrefix(n.Text, "example.com/tiles-test\n700\n") {
		t.Errorf("the served checkpoint opens as %q, %v", n.Text, err)
	}

	none := httptest.NewServer(&tiles.Handler{Source: src, Checkpoint: func() ([]byte, error) { return nil, nil }})
	defer none.Close()
	resp, err = http.Get(none.URL + "/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("GET /checkpoint with none signed = %d; want 404", resp.StatusCode)
	}
}

// leafHash is SHA-256(0x00 || entry), written out here as a reader of the
// tiles would, without chainlog's code.
func leafHash(e []byte) [32]byte { return sha256.Sum256(append([]byte{0}, e...)) }

func TestEntriesHashToTheLevel0Tile(t *testing.T) {
	t.Parallel()
	src, _, _ := store(t, 300)
	ctx := context.Background()
	size, _, _ := src.StoredTree(ctx)
	b, err := tiles.Read(ctx, src, size, tiles.Tile{N: 1, W: 44, Entries: true})
	if err != nil {
		t.Fatal(err)
	}
	hashes, err := tiles.Read(ctx, src, size, tiles.Tile{N: 1, W: 44})
	if err != nil {
		t.Fatal(err)
	}
	es := entries(t, b)
	if len(es) != 44 || len(hashes) != 44*32 {
		t.Fatalf("%d entries, %d bytes of hashes; want 44 and 44×32", len(es), len(hashes))
	}
	for i, e := range es {
		if h := leafHash(e); !bytes.Equal(h[:], hashes[i*32:(i+1)*32]) {
			t.Fatalf("entry %d does not hash to the tile's hash %d", 256+i, i)
		}
	}
}
