// Package publish sends signed checkpoints to places outside the store: an
// append-only file, a command, or an HTTP endpoint. A checkpoint kept only
// inside the database it vouches for proves nothing against someone who can
// rewrite that database.
package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"time"

	"chainlog"
)

// A Publisher sends one signed checkpoint somewhere. Publish returns only
// when the checkpoint is durably there.
type Publisher interface {
	Publish(ctx context.Context, signed []byte) error
	String() string
}

// File appends checkpoints to a file and syncs it before returning. The
// file holds the notes one after another; chainlog.SplitNotes reads them.
type File struct {
	Path string
}

func (f File) String() string { return "file " + f.Path }

// Publish appends signed to the file.
func (f File) Publish(ctx context.Context, signed []byte) error {
	fh, err := os.OpenFile(f.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("publish checkpoint: %w", err)
	}
	if _, err := fh.Write(signed); err != nil {
		fh.Close()
		return fmt.Errorf("publish checkpoint to %s: %w", f.Path, err)
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return fmt.Errorf("publish checkpoint to %s: %w", f.Path, err)
	}
	return fh.Close()
}

// Last returns the last checkpoint in the file, or nil when the file does
// not exist or is empty. It reads only the file's tail: the file grows by
// a checkpoint each interval, and the daemon reads its last one for every
// new checkpoint and every GET /checkpoint.
func (f File) Last() ([]byte, error) {
	fh, err := os.Open(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint file: %w", err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("read checkpoint file: %w", err)
	}
	for tail := int64(lastTail); ; tail *= 4 {
		from := max(0, fi.Size()-tail)
		data := make([]byte, fi.Size()-from)
		if _, err := fh.ReadAt(data, from); err != nil {
			return nil, fmt.Errorf("read checkpoint file: %w", err)
		}
		if from > 0 {
			// Start at the first note that begins in the tail: after a
			// signature line that the next line does not continue.
			start := noteStart(data)
			if start < 0 {
				continue // a note longer than the tail: read more
			}
			data = data[start:]
		}
		notes := chainlog.SplitNotes(data)
		if len(notes) == 0 {
			return nil, nil
		}
		return notes[len(notes)-1], nil
	}
}

// lastTail is how much of a checkpoint file Last reads first; a signed
// checkpoint is a few hundred bytes.
const lastTail = 64 << 10

// noteStart returns the offset in data (a file's tail, from somewhere in
// a line) of the first line that starts a note: one that follows a
// signature line and is not one itself. -1 when there is none.
func noteStart(data []byte) int {
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 {
		return -1
	}
	prevSig := false
	for off := nl + 1; off < len(data); {
		end := bytes.IndexByte(data[off:], '\n')
		if end < 0 {
			end = len(data) - off - 1
		}
		isSig := bytes.HasPrefix(data[off:], []byte("— "))
		if prevSig && !isSig {
			return off
		}
		prevSig = isSig
		off += end + 1
	}
	return -1
}

// Command runs a program with the checkpoint on its standard input; a
// non-zero exit is a failure.
type Command struct {
	Argv []string
}

func (c Command) String() string { return fmt.Sprintf("command %q", c.Argv) }

// Publish runs the command.
func (c Command) Publish(ctx context.Context, signed []byte) error {
	if len(c.Argv) == 0 {
		return errors.New("publish checkpoint: empty command")
	}
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Stdin = bytes.NewReader(signed)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// When ctx ends the shell is killed, but a child of it may still hold
	// stderr open: stop waiting for it soon after.
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("publish checkpoint with %s: %w: %s", c, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}

// HTTP POSTs the checkpoint as text/plain; any 2xx status is success.
type HTTP struct {
	URL    string
	Client *http.Client // nil is a client with a 10-second timeout
}

func (h HTTP) String() string { return "POST " + h.URL }

// Publish posts the checkpoint.
func (h HTTP) Publish(ctx context.Context, signed []byte) error {
	client := h.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(signed))
	if err != nil {
		return fmt.Errorf("publish checkpoint: %w", err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("publish checkpoint to %s: %w", h.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("publish checkpoint to %s: %s: %s", h.URL, resp.Status, bytes.TrimSpace(body))
	}
	return nil
}
