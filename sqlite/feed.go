package sqlite

import (
	"fmt"
	"time"

	"chainlog"

	"golang.org/x/mod/sumdb/tlog"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// A feed prepares a batch's rows on a second goroutine while the writer's
// goroutine inserts the rows already prepared: it drops the duplicates,
// looking ids up on its own read connection, and computes each new row's
// chain hash, payload digest and leaf hash, and the tree's new hashes.
//
// The lookups are exact because the feed runs inside the writer's
// transaction: the writer holds the write lock, so the read connection's
// snapshot is the last commit, which is what the writer builds on. Ids
// inserted by the batch itself are in the feed's own set, and the tail's
// rows in the tail copy synced at the transaction's start.
type feed struct {
	rows  []feedRow // rows[:n] are ready once n was received from ready
	ready chan int  // buffered: the goroutine never blocks on it
	moved map[string]chainlog.Head
	res   []chainlog.IngestResult
	tree  *appendLog // nil when the tree is off
	err   error      // read after ready is closed
}

// feedChunk is how many rows the feed hands over at once.
const feedChunk = 32

type feedRow struct {
	e  *chainlog.Event
	st stamp
}

// startFeed starts preparing groups' rows, and the tree's new hashes
// after tree (which may be nil). The caller receives from ready until it is
// closed, and must do so even when it stops early: the goroutine uses
// s.reader, s.tail and s.heads until then.
func (s *Store) startFeed(groups [][]chainlog.Event, now string, tree *appendLog) *feed {
	n := 0
	for _, g := range groups {
		n += len(g)
	}
	f := &feed{
		rows:  make([]feedRow, n),
		ready: make(chan int, n/feedChunk+2),
		moved: make(map[string]chainlog.Head),
		res:   make([]chainlog.IngestResult, len(groups)),
		tree:  tree,
	}
	go func() {
		defer close(f.ready)
		f.err = s.runFeed(f, groups, now)
	}()
	return f
}

func (s *Store) runFeed(f *feed, groups [][]chainlog.Event, now string) (err error) {
	conn, err := s.readerConn()
	if err != nil {
		return err
	}
	// A deferred transaction: its snapshot is taken at the first lookup,
	// after the writer's BEGIN IMMEDIATE.
	defer sqlitex.Transaction(conn)(&err)
	var h chainlog.Hasher
	taken := make(map[string]struct{}, len(f.rows))
	size := s.tree.Size
	k := 0
	for g, events := range groups {
		for i := range events {
			e := &events[i]
			_, dup := taken[e.ID]
			if !dup {
				_, dup = s.tail.ids[e.ID]
			}
			if !dup && s.tail.mayHold(e.ID) {
				if _, dup, err = s.probeIDIndex(conn, e.ID); err != nil {
					return fmt.Errorf("event %q: look up id: %w", e.ID, err)
				}
				if !dup && s.tail.heldKey(e.ID) {
					if err := s.checkKeyMiss(conn, e.ID); err != nil {
						return fmt.Errorf("event %q: %w", e.ID, err)
					}
				}
			}
			if dup {
				f.res[g].Duplicates++
				continue
			}
			f.res[g].Inserted++
			taken[e.ID] = struct{}{}
			st := stamp{leaf: -1} // no integrity: NULL chain columns and no leaf
			if !s.opts.DisableIntegrity {
				head, ok := f.moved[e.NodeID]
				if !ok {
					head = s.heads[e.NodeID]
				}
				st = s.stampFor(&h, head, e, now, size)
				f.moved[e.NodeID] = st.head
				if st.leaf >= 0 {
					if _, err := f.tree.appendHash(st.leafHash); err != nil {
						return fmt.Errorf("event %q: %w", e.ID, err)
					}
					size++
				}
			}
			f.rows[k] = feedRow{e: e, st: st}
			if k++; k%feedChunk == 0 {
				f.ready <- k
			}
		}
	}
	if k%feedChunk != 0 {
		f.ready <- k
	}
	return nil
}

// readerConn returns the read connection that feeds look ids up on,
// opening it on first use.
func (s *Store) readerConn() (*sqlite.Conn, error) {
	if s.reader != nil {
		return s.reader, nil
	}
	conn, err := sqlite.OpenConn(s.path, sqlite.OpenReadOnly)
	if err != nil {
		return nil, fmt.Errorf("open a read connection: %w", err)
	}
	// The default page cache: with the writer's copy of the keys, the
	// reader looks up only ids whose key is stored (duplicates, mostly).
	conn.SetBusyTimeout(10 * time.Second)
	s.reader = conn
	return conn, nil
}

// frontierReader holds the roots of the perfect subtrees that make up a
// tree (its frontier), by stored index. A batch's leaves need, besides the
// batch's own hashes, only those: a left sibling entirely before the batch
// has a parent that also covers the new leaf, so it is the largest
// complete subtree there. So the feed computes a batch's hashes away from
// the database, from a frontier the writer reads first.
type frontierReader struct {
	size   int64
	hashes map[int64]tlog.Hash
}

// readFrontier reads the frontier of a tree of size n from r.
func readFrontier(n int64, r tlog.HashReader) (*frontierReader, error) {
	idx := chainlog.FrontierIndexes(n)
	hashes, err := r.ReadHashes(idx)
	if err != nil {
		return nil, fmt.Errorf("read the tree's frontier: %w", err)
	}
	f := &frontierReader{size: n, hashes: make(map[int64]tlog.Hash, len(idx))}
	for i, x := range idx {
		f.hashes[x] = hashes[i]
	}
	return f, nil
}

// ReadHashes implements tlog.HashReader; a hash off the frontier is an
// error.
func (f *frontierReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		h, ok := f.hashes[idx]
		if !ok {
			return nil, fmt.Errorf("merkle hash %d is neither in the batch nor on the frontier of the tree of %d leaves", idx, f.size)
		}
		out[i] = h
	}
	return out, nil
}
