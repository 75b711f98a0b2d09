package chainlog

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is a tree head in the C2SP tlog-checkpoint form: the origin
// line that names the log (here, the store), the tree size and the root
// hash. Signed, it is a C2SP signed note (Ed25519), made with
// golang.org/x/mod/sumdb/note.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
	// Extensions are the optional lines after the root, each ending in a
	// newline. chainlog writes one, "chainlog-amendments <seq> <hash>", the
	// head of the amendment trail, so that the trail is anchored outside
	// the store too.
	Extensions string
}

// Text returns the checkpoint body: "<origin>\n<size>\n<base64 root>\n",
// then the extension lines.
func (c Checkpoint) Text() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:])) + c.Extensions
}

// amendmentsExtension starts the extension line that records the
// amendment trail's head.
const amendmentsExtension = "chainlog-amendments "

// WithAmendments returns c recording the amendment trail's head (seq 0:
// no trail, no line).
func (c Checkpoint) WithAmendments(seq int64, hash string) Checkpoint {
	c.Extensions = ""
	if seq > 0 {
		c.Extensions = fmt.Sprintf("%s%d %s\n", amendmentsExtension, seq, hash)
	}
	return c
}

// Amendments returns the amendment trail's head the checkpoint records;
// ok is false when it records none.
func (c Checkpoint) Amendments() (seq int64, hash string, ok bool, err error) {
	for _, e := range strings.Split(strings.TrimSuffix(c.Extensions, "\n"), "\n") {
		rest, found := strings.CutPrefix(e, amendmentsExtension)
		if !found {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 {
			return 0, "", false, fmt.Errorf("checkpoint: malformed extension %q", e)
		}
		seq, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || seq < 1 || len(f[1]) != 64 {
			return 0, "", false, fmt.Errorf("checkpoint: malformed extension %q", e)
		}
		return seq, f[1], true, nil
	}
	return 0, "", false, nil
}

// ParseCheckpoint parses a checkpoint body. Extension lines after the root
// are allowed and ignored, as C2SP tlog-checkpoint says.
func ParseCheckpoint(text string) (Checkpoint, error) {
	var c Checkpoint
	if !strings.HasSuffix(text, "\n") {
		return c, errors.New("checkpoint: body does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return c, fmt.Errorf("checkpoint: %d lines, want origin, size and root", len(lines))
	}
	c.Origin = lines[0]
	if c.Origin == "" {
		return c, errors.New("checkpoint: empty origin line")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || lines[1] != strconv.FormatInt(size, 10) {
		return c, fmt.Errorf("checkpoint: tree size %q is not a non-negative decimal", lines[1])
	}
	c.Size = size
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return c, fmt.Errorf("checkpoint: root hash %q is not %d bytes of base64", lines[2], tlog.HashSize)
	}
	copy(c.Root[:], root)
	for i, l := range lines[3:] {
		if l == "" {
			return c, fmt.Errorf("checkpoint: empty extension line %d", i+1)
		}
		c.Extensions += l + "\n"
	}
	if _, _, _, err := c.Amendments(); err != nil {
		return c, err
	}
	return c, nil
}

// SignCheckpoint returns c as a signed note.
func SignCheckpoint(c Checkpoint, signer note.Signer) ([]byte, error) {
	if err := CheckOrigin(c.Origin); err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	if signer.Name() != c.Origin {
		return nil, fmt.Errorf("sign checkpoint: key %q does not match origin %q", signer.Name(), c.Origin)
	}
	return note.Sign(&note.Note{Text: c.Text()}, signer)
}

// CheckOrigin reports whether origin can name a log: its checkpoints'
// first line, and the name of the key that signs them. The signed-note
// spec allows a key name of at least one character, valid UTF-8, with no
// Unicode spaces and no "+"; a checkpoint's text allows no control
// characters. An origin outside these rules gives a key whose every
// checkpoint fails to verify.
func CheckOrigin(origin string) error {
	if origin == "" {
		return errors.New("origin is empty")
	}
	if !utf8.ValidString(origin) {
		return fmt.Errorf("origin %q is not valid UTF-8", origin)
	}
	for _, r := range origin {
		switch {
		case unicode.IsSpace(r):
			return fmt.Errorf("origin %q holds a space (%U)", origin, r)
		case unicode.IsControl(r):
			return fmt.Errorf("origin %q holds a control character (%U)", origin, r)
		case r == '+':
			return fmt.Errorf("origin %q holds a +, which ends a key's name", origin)
		}
	}
	return nil
}

// ErrCheckpointSignature is returned when a checkpoint does not carry a
// valid signature by the expected key.
var ErrCheckpointSignature = errors.New("checkpoint signature does not verify")

// OpenCheckpoint verifies a signed checkpoint with verifier and parses it.
// The origin line must be the key's name.
func OpenCheckpoint(msg []byte, verifier note.Verifier) (Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return Checkpoint{}, fmt.Errorf("%w: not signed by %s", ErrCheckpointSignature, verifier.Name())
		case errors.As(err, &invalid):
			return Checkpoint{}, fmt.Errorf("%w: %v", ErrCheckpointSignature, err)
		}
		return Checkpoint{}, fmt.Errorf("checkpoint: %w", err)
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return c, err
	}
	if c.Origin != verifier.Name() {
		return c, fmt.Errorf("%w: origin %q is not the key's name %q", ErrCheckpointSignature, c.Origin, verifier.Name())
	}
	return c, nil
}

// ParseSignedCheckpoint parses a signed checkpoint's body without checking
// any signature: for a store reading its own checkpoints, and for reporting
// a checkpoint whose signature failed.
func ParseSignedCheckpoint(signed []byte) (Checkpoint, error) {
	n, err := note.Open(signed, note.VerifierList())
	var unverified *note.UnverifiedNoteError
	if errors.As(err, &unverified) {
		return ParseCheckpoint(unverified.Note.Text)
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: %w", err)
	}
	return ParseCheckpoint(n.Text)
}

// SplitNotes splits a file of signed notes written one after another (as a
// checkpoint file is appended to) into the notes. A note ends after its
// last signature line ("— ...").
func SplitNotes(data []byte) [][]byte {
	var notes [][]byte
	start, inSigs := 0, false
	for off := 0; off < len(data); {
		end := bytes.IndexByte(data[off:], '\n')
		if end < 0 {
			end = len(data) - off - 1
		}
		line := data[off : off+end+1]
		isSig := bytes.HasPrefix(line, []byte("— "))
		switch {
		case inSigs && !isSig:
			notes = append(notes, data[start:off])
			start, inSigs = off, false
		case !inSigs && bytes.Equal(line, []byte("\n")):
			inSigs = true
		}
		off += end + 1
	}
	if start < len(data) {
		notes = append(notes, data[start:])
	}
	return notes
}
