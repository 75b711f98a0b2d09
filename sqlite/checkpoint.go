package sqlite

import (
	"context"
	"fmt"

	"chainlog"

	"golang.org/x/mod/sumdb/note"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// Checkpoint signs the current tree head with signer. Two checkpoints are
// known before: the copy kept in the store, and published, the last one
// published outside the store (nil if unknown). Before signing, the store
// proves from its hashes that its tree extends both; it never signs two
// inconsistent checkpoints, and fails with a *chainlog.InconsistencyError
// (chainlog.ErrInconsistent) naming both sides instead. The new
// checkpoint is kept in the store; the caller publishes it. When the stored
// checkpoint is current but published is older (a publish failed), it
// returns the stored one for the caller to publish again. It returns nil
// when there is nothing new.
func (s *Store) Checkpoint(ctx context.Context, signer note.Signer, published []byte) ([]byte, error) {
	if s.readOnly {
		return nil, fmt.Errorf("checkpoint: %w", chainlog.ErrReadOnly)
	}
	var signed []byte
	err := s.withConn(ctx, func(conn *sqlite.Conn) (err error) {
		end, err := sqlitex.ImmediateTransaction(conn)
		if err != nil {
			return err
		}
		defer end(&err)
		th, err := readTreeHead(conn)
		if err != nil {
			return err
		}
		ah, err := readAmendmentHead(conn)
		if err != nil {
			return err
		}
		stored, storedSize, err := readLatestCheckpoint(conn)
		if err != nil {
			return err
		}
		heads := chainlog.StoreHeads{Size: th.Size, Root: th.Root, Trail: ah}
		c, action, err := chainlog.NextCheckpoint(signer.Name(), heads, stored, published, &storedReader{conn: conn},
			func(seq int64) (string, bool, error) { return amendmentHashAt(conn, seq) })
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
		return storeLatestCheckpoint(conn, storedSize, stored != nil, c.Size, signed, s.timestamp())
	})
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return signed, nil
}

func readLatestCheckpoint(conn *sqlite.Conn) (signed []byte, size int64, err error) {
	err = sqlitex.Execute(conn, `SELECT note, size FROM checkpoint_latest WHERE id = 1`, &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error {
			signed, size = []byte(stmt.ColumnText(0)), stmt.ColumnInt64(1)
			return nil
		},
	})
	return signed, size, err
}

// storeLatestCheckpoint replaces the stored checkpoint by compare-and-swap
// on its size.
func storeLatestCheckpoint(conn *sqlite.Conn, oldSize int64, exists bool, size int64, signed []byte, now string) error {
	var was []any
	if exists {
		was = []any{oldSize}
	}
	return casRow(conn, "stored checkpoint",
		`INSERT INTO checkpoint_latest (id, size, note, updated_at) VALUES (1, ?1, ?2, ?3)
			ON CONFLICT (id) DO NOTHING`,
		`UPDATE checkpoint_latest SET size = ?1, note = ?2, updated_at = ?3 WHERE id = 1 AND size = ?4`,
		[]any{size, string(signed), now}, was)
}

// LatestCheckpoint returns the signed checkpoint kept in the store, or nil.
func (s *Store) LatestCheckpoint(ctx context.Context) ([]byte, error) {
	if !s.hasTree {
		return nil, nil
	}
	var signed []byte
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		var err error
		signed, _, err = readLatestCheckpoint(conn)
		return err
	})
	return signed, err
}

func amendmentHashAt(conn *sqlite.Conn, seq int64) (hash string, found bool, err error) {
	err = sqlitex.Execute(conn, `SELECT hash FROM amendments WHERE seq = ?1`, &sqlitex.ExecOptions{
		Args:       []any{seq},
		ResultFunc: func(stmt *sqlite.Stmt) error { hash, found = stmt.ColumnText(0), true; return nil },
	})
	return hash, found, err
}

// AmendmentHashAt returns the hash of amendment record seq; found is false
// when there is no such record. It implements chainlog.Source.
func (s *Store) AmendmentHashAt(ctx context.Context, seq int64) (string, bool, error) {
	if !s.hasAmendments {
		return "", false, nil
	}
	var hash string
	var found bool
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		var err error
		hash, found, err = amendmentHashAt(conn, seq)
		return err
	})
	return hash, found, err
}
