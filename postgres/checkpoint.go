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
		// The tree head and the trail head, read in one statement: of one
		// committed state, as an amendment moves both in one transaction.
		var size int64
		var root []byte
		var ah chainlog.Head
		if err := tx.QueryRow(ctx, `SELECT t.size, t.root, a.hash, a.seq, a.updated_at FROM tree_head t, amendment_head a
			WHERE t.id = 1 AND a.id = 1`).Scan(&size, &root, &ah.Hash, &ah.Seq, &ah.UpdatedAt); err != nil {
			return fmt.Errorf("read the heads: %w", err)
		}
		var stored []byte
		var note string
		err := tx.QueryRow(ctx, `SELECT note FROM checkpoint_latest WHERE id = 1`).Scan(&note)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		default:
			stored = []byte(note)
		}
		heads := chainlog.StoreHeads{Size: size, Root: tlog.Hash(root), Trail: ah}
		c, action, err := chainlog.NextCheckpoint(signer.Name(), heads, stored, published, hashReader(ctx, tx),
			func(seq int64) (string, bool, error) { return amendmentHashAt(ctx, tx, seq) })
		switch {
		case err != nil:
			return err
		case action == chainlog.CheckpointNothing:
			return nil
		case action == chainlog.CheckpointStored:
			signed = stored
			return nil
		}
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

// amendmentHashAt returns the hash of record seq; found is false when
// there is none.
func amendmentHashAt(ctx context.Context, q querier, seq int64) (string, bool, error) {
	var hash string
	err := q.QueryRow(ctx, `SELECT hash FROM amendments WHERE seq = $1`, seq).Scan(&hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return hash, err == nil, err
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
