package postgres

import (
	"context"
	"errors"
	"fmt"

	"chainlog"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint signs the tree head and the trail's head when they differ
// from the stored checkpoint's, after proving that the tree extends it and
// published (see chainlog.Store). One writer at a time signs: the
// transaction takes the schema's publisher lock (a transaction-scoped
// advisory lock), and a second publisher waits for it, then finds the
// checkpoint current and signs nothing.
func (s *Store) Checkpoint(ctx context.Context, signer note.Signer, published []byte) ([]byte, error) {
	if s.readOnly {
		return nil, fmt.Errorf("checkpoint: %w", chainlog.ErrReadOnly)
	}
	var signed []byte
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		signed = nil
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.lockKey); err != nil {
			return fmt.Errorf("publisher lock: %w", err)
		}
		// The tree head and the trail head, read together: the amendment
		// head's lock is taken before the counter's by every writer, so
		// a writer that moved one has moved both when it commits.
		var size int64
		var root []byte
		var ah chainlog.Head
		if err := tx.QueryRow(ctx, `SELECT t.size, t.root, a.hash, a.seq, a.updated_at FROM tree_head t, amendment_head a
			WHERE t.id = 1 AND a.id = 1`).Scan(&size, &root, &ah.Hash, &ah.Seq, &ah.UpdatedAt); err != nil {
			return fmt.Errorf("read the heads: %w", err)
		}
		th := treeState{size: size, root: tlog.Hash(root)}
		var stored []byte
		var storedSize int64
		var note string
		err := tx.QueryRow(ctx, `SELECT note, size FROM checkpoint_latest WHERE id = 1`).Scan(&note, &storedSize)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		default:
			stored = []byte(note)
		}
		var storedCurrent, publishedCurrent bool
		for i, n := range [][]byte{stored, published} {
			if n == nil {
				continue
			}
			last, err := chainlog.ParseSignedCheckpoint(n)
			if err != nil {
				return err
			}
			if last.Origin != signer.Name() {
				return fmt.Errorf("the signing key is for %q, the store's checkpoints are for %q", signer.Name(), last.Origin)
			}
			if err := checkTrailExtends(ctx, tx, th, ah, last); err != nil {
				return err
			}
			if last.Size == th.size && last.Root == th.root && sameTrail(last, ah) {
				storedCurrent, publishedCurrent = storedCurrent || i == 0, publishedCurrent || i == 1
				continue
			}
			if last.Size == th.size && last.Root == th.root {
				continue // only the trail grew
			}
			if err := checkExtends(ctx, tx, th, ah, last); err != nil {
				return err
			}
		}
		switch {
		case storedCurrent && (published == nil || publishedCurrent):
			return nil
		case storedCurrent:
			signed = stored
			return nil
		}
		c := chainlog.Checkpoint{Origin: signer.Name(), Size: th.size, Root: th.root}.WithAmendments(ah.Seq, ah.Hash)
		if signed, err = chainlog.SignCheckpoint(c, signer); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO checkpoint_latest (id, size, note, updated_at) VALUES (1, $1, $2, $3)
			ON CONFLICT (id) DO UPDATE SET size = $1, note = $2, updated_at = $3`, c.Size, string(signed), s.timestamp())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return signed, nil
}

type treeState struct {
	size int64
	root tlog.Hash
}

func inconsistent(th treeState, ah chainlog.Head, c chainlog.Checkpoint, format string, args ...any) error {
	return &chainlog.InconsistencyError{Size: th.size, Root: th.root, Trail: ah, Checkpoint: c, Reason: fmt.Sprintf(format, args...)}
}

// checkExtends proves that the tree extends checkpoint c's.
func checkExtends(ctx context.Context, q querier, th treeState, ah chainlog.Head, c chainlog.Checkpoint) error {
	switch {
	case th.size < c.Size:
		return inconsistent(th, ah, c, "the tree has %d leaves, the last checkpoint %d (truncated or rolled back)", th.size, c.Size)
	case c.Size == 0:
		return nil
	case th.size == c.Size:
		return inconsistent(th, ah, c, "same size %d, different root", c.Size)
	}
	r := hashReader(ctx, q)
	oldRoot, err := tlog.TreeHash(c.Size, r)
	if err != nil {
		return err
	}
	proof, err := tlog.ProveTree(th.size, c.Size, r)
	if err != nil {
		return err
	}
	if oldRoot != c.Root || tlog.CheckTree(proof, th.size, th.root, c.Size, c.Root) != nil {
		return inconsistent(th, ah, c, "the tree at size %d no longer has the checkpoint's root", c.Size)
	}
	return nil
}

func sameTrail(c chainlog.Checkpoint, ah chainlog.Head) bool {
	seq, hash, _, _ := c.Amendments()
	return seq == ah.Seq && (seq == 0 || hash == ah.Hash)
}

// checkTrailExtends checks that the trail still holds the record checkpoint
// c recorded.
func checkTrailExtends(ctx context.Context, q querier, th treeState, ah chainlog.Head, c chainlog.Checkpoint) error {
	seq, hash, ok, err := c.Amendments()
	if err != nil || !ok {
		return err
	}
	if ah.Seq < seq {
		return inconsistent(th, ah, c, "the amendment trail has %d records, the last checkpoint %d", ah.Seq, seq)
	}
	var got string
	err = q.QueryRow(ctx, `SELECT hash FROM amendments WHERE seq = $1`, seq).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && got != hash) {
		return inconsistent(th, ah, c, "amendment %d no longer has the checkpoint's hash", seq)
	}
	return err
}

// LatestCheckpoint returns the stored checkpoint, or nil.
func (s *Store) LatestCheckpoint(ctx context.Context) ([]byte, error) {
	var signed []byte
	err := s.read(ctx, func(q querier) error {
		var n string
		err := q.QueryRow(ctx, `SELECT note FROM checkpoint_latest WHERE id = 1`).Scan(&n)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		signed = []byte(n)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("latest checkpoint: %w", err)
	}
	return signed, nil
}

// hashReader reads stored hashes through q.
func hashReader(ctx context.Context, q querier) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) { return readHashes(ctx, q, indexes) })
}

// ProveEvent returns the event with id as a proof bundle's event, its leaf
// index, and its inclusion proof in the tree of size.
func (s *Store) ProveEvent(ctx context.Context, id string, size int64) (chainlog.ProvenEvent, int64, tlog.RecordProof, error) {
	e, err := s.Event(ctx, id)
	if err != nil {
		return chainlog.ProvenEvent{}, 0, nil, err
	}
	idx := *e.LeafIndex
	if idx >= size {
		return chainlog.ProvenEvent{}, 0, nil, chainlog.ErrNotInTree
	}
	var proof tlog.RecordProof
	err = s.read(ctx, func(q querier) error {
		n, _, err := treeHead(ctx, q)
		if err != nil {
			return err
		}
		if size > n {
			return fmt.Errorf("the checkpoint is for a tree of %d leaves, the store's tree has %d: the store is behind it", size, n)
		}
		proof, err = tlog.ProveRecord(size, idx, hashReader(ctx, q))
		return err
	})
	if err != nil {
		return chainlog.ProvenEvent{}, 0, nil, fmt.Errorf("prove %q: %w", id, err)
	}
	return chainlog.ProvenOf(e), idx, proof, nil
}

// ProveConsistency proves that the tree of size newSize extends that of
// size oldSize.
func (s *Store) ProveConsistency(ctx context.Context, oldSize, newSize int64) (tlog.TreeProof, error) {
	if oldSize == 0 {
		return tlog.TreeProof{}, nil
	}
	var p tlog.TreeProof
	err := s.read(ctx, func(q querier) error {
		n, _, err := treeHead(ctx, q)
		if err != nil {
			return err
		}
		if newSize > n {
			return fmt.Errorf("the store's tree has %d leaves, fewer than %d", n, newSize)
		}
		p, err = tlog.ProveTree(newSize, oldSize, hashReader(ctx, q))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("prove consistency %d -> %d: %w", oldSize, newSize, err)
	}
	return p, nil
}

var (
	_ chainlog.Store       = (*Store)(nil)
	_ chainlog.RangeSource = (*Store)(nil)
	_ chainlog.Amender     = (*Store)(nil)
	_ chainlog.Pruner      = (*Store)(nil)
	_ chainlog.PruneSource = (*Store)(nil)
)
