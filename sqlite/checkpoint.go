package sqlite

import (
	"context"
	"fmt"

	"chainlog"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
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
		// The tree must extend every checkpoint known: the copy in the store
		// and the last one published (which an attacker who rewrote the
		// store could not rewrite).
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
			if err := checkTrailExtends(conn, th, ah, last); err != nil {
				return err
			}
			if last.Size == th.Size && last.Root == th.Root && sameTrail(last, ah) {
				storedCurrent, publishedCurrent = storedCurrent || i == 0, publishedCurrent || i == 1
				continue
			}
			if last.Size == th.Size && last.Root == th.Root {
				continue // only the trail grew
			}
			if err := checkExtends(conn, th, ah, last); err != nil {
				return err
			}
		}
		switch {
		case storedCurrent && (published == nil || publishedCurrent):
			return nil // nothing new to sign or publish
		case storedCurrent:
			// Signed before but not published (a publish failed): hand the
			// same checkpoint out again rather than sign the tree twice.
			signed = stored
			return nil
		}
		c := chainlog.Checkpoint{Origin: signer.Name(), Size: th.Size, Root: th.Root}.WithAmendments(ah.Seq, ah.Hash)
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

// inconsistent is the evidence that the store's tree th, or its trail ah,
// does not extend the checkpoint c: an *chainlog.InconsistencyError.
func inconsistent(th TreeHead, ah chainlog.Head, c chainlog.Checkpoint, format string, args ...any) error {
	return &chainlog.InconsistencyError{Size: th.Size, Root: th.Root, Trail: ah, Checkpoint: c, Reason: fmt.Sprintf(format, args...)}
}

// checkExtends proves from the stored hashes that the tree th extends c.
func checkExtends(conn *sqlite.Conn, th TreeHead, ah chainlog.Head, c chainlog.Checkpoint) error {
	switch {
	case th.Size < c.Size:
		return inconsistent(th, ah, c, "the tree has %d leaves, the last checkpoint %d (truncated or rolled back)", th.Size, c.Size)
	case c.Size == 0:
		return nil
	case th.Size == c.Size:
		return inconsistent(th, ah, c, "same size %d, different root", c.Size)
	}
	r := &storedReader{conn: conn}
	oldRoot, err := tlog.TreeHash(c.Size, r)
	if err != nil {
		return err
	}
	proof, err := tlog.ProveTree(th.Size, c.Size, r)
	if err != nil {
		return err
	}
	if oldRoot != c.Root || tlog.CheckTree(proof, th.Size, th.Root, c.Size, c.Root) != nil {
		return inconsistent(th, ah, c, "the tree at size %d no longer has the checkpoint's root", c.Size)
	}
	return nil
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

// sameTrail reports whether c records the trail head ah.
func sameTrail(c chainlog.Checkpoint, ah chainlog.Head) bool {
	seq, hash, _, _ := c.Amendments()
	return seq == ah.Seq && (seq == 0 || hash == ah.Hash)
}

// checkTrailExtends checks that the amendment trail still holds the record
// c recorded as its head: records are only ever appended.
func checkTrailExtends(conn *sqlite.Conn, th TreeHead, ah chainlog.Head, c chainlog.Checkpoint) error {
	seq, hash, ok, err := c.Amendments()
	if err != nil || !ok {
		return err
	}
	if ah.Seq < seq {
		return inconsistent(th, ah, c, "the amendment trail has %d records, the last checkpoint %d", ah.Seq, seq)
	}
	got, found, err := amendmentHashAt(conn, seq)
	if err != nil {
		return err
	}
	if !found || got != hash {
		return inconsistent(th, ah, c, "amendment %d no longer has the checkpoint's hash", seq)
	}
	return nil
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
