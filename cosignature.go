package chainlog

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// CosignatureError says that a checkpoint has fewer valid cosignatures
// than its quorum, and whose are missing or do not verify.
type CosignatureError struct {
	Size    int64    // the checkpoint's tree size
	Quorum  int      // how many were needed
	Valid   []string // the witnesses whose cosignature verifies
	Missing []string // the witnesses with no cosignature on it
	Invalid []string // the witnesses whose cosignature does not verify
}

func (e *CosignatureError) Error() string {
	var why []string
	if len(e.Missing) > 0 {
		why = append(why, "missing from "+strings.Join(e.Missing, ", "))
	}
	if len(e.Invalid) > 0 {
		why = append(why, "invalid from "+strings.Join(e.Invalid, ", "))
	}
	return fmt.Sprintf("checkpoint of size %d has %d valid witness cosignatures, fewer than the quorum of %d: %s",
		e.Size, len(e.Valid), e.Quorum, strings.Join(why, "; "))
}

// CheckCosignatures checks that at least quorum of the witnesses (0: all)
// cosigned signed: a signature line by each one's key that verifies over
// the checkpoint (C2SP tlog-cosignature, for the cosignature/v1 keys that
// package witness makes). The checkpoint's own signature is not checked
// here: OpenCheckpoint does that.
func CheckCosignatures(signed []byte, quorum int, witnesses []note.Verifier) error {
	if quorum <= 0 || quorum > len(witnesses) {
		quorum = len(witnesses)
	}
	c, err := ParseSignedCheckpoint(signed)
	if err != nil {
		return err
	}
	e := &CosignatureError{Size: c.Size, Quorum: quorum}
	for _, w := range witnesses {
		_, err := note.Open(signed, note.VerifierList(w))
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case err == nil:
			e.Valid = append(e.Valid, w.Name())
		case errors.As(err, &unverified):
			e.Missing = append(e.Missing, w.Name())
		case errors.As(err, &invalid):
			e.Invalid = append(e.Invalid, w.Name())
		default:
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	if len(e.Valid) < quorum {
		return e
	}
	return nil
}
