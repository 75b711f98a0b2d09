package witness

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// ConflictError is a witness's 409: it has a tree of Size leaves from the
// log, not the old size the request gave.
type ConflictError struct {
	Witness string
	Size    int64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("witness %s: 409 Conflict: it has seen a tree of size %d", e.Witness, e.Size)
}

// RejectedError is a witness refusing a checkpoint for good: 403 (it does
// not know the log or its key), 404, 422 (the consistency proof fails: the
// tree forked), another 4xx, or a 200 without a valid cosignature. Sending
// the same checkpoint again would not help: it is an alert.
type RejectedError struct {
	Witness string
	Status  int    // the HTTP status
	Reason  string // what the witness said, or what was wrong with its answer
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("witness %s refused the checkpoint: %d %s: %s", e.Witness, e.Status, http.StatusText(e.Status), e.Reason)
}

// Label is the status as the rejections metric names it.
func (e *RejectedError) Label() string {
	if e.Status == http.StatusOK {
		return "bad_cosignature"
	}
	return strconv.Itoa(e.Status)
}

// maxResponse bounds what is read of a witness's answer: a few signature
// lines, or an error message.
const maxResponse = 64 << 10

// addCheckpoint sends one C2SP tlog-witness add-checkpoint request: the
// witness's last size, the consistency proof from it, and the signed note.
// It returns the lines of the cosignatures by w's key in the answer,
// verified. A 409 is a *ConflictError, a refusal a *RejectedError, and
// anything else (the network, a 5xx) is worth retrying.
func addCheckpoint(ctx context.Context, client *http.Client, w Witness, old int64, proof tlog.TreeProof, signed []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.endpoint(), bytes.NewReader(requestBody(old, proof, signed)))
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", w.Name(), err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", w.Name(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("witness %s: read the answer: %w", w.Name(), err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		cosig, err := verifyCosignatures(w.Verifier, signed, body)
		if err != nil {
			return nil, &RejectedError{Witness: w.Name(), Status: resp.StatusCode, Reason: err.Error()}
		}
		return cosig, nil
	case resp.StatusCode == http.StatusConflict:
		size, err := parseSize(resp.Header.Get("Content-Type"), body)
		if err != nil {
			return nil, &RejectedError{Witness: w.Name(), Status: resp.StatusCode, Reason: err.Error()}
		}
		return nil, &ConflictError{Witness: w.Name(), Size: size}
	case resp.StatusCode/100 == 4:
		return nil, &RejectedError{Witness: w.Name(), Status: resp.StatusCode, Reason: firstLine(body)}
	}
	return nil, fmt.Errorf("witness %s: %s: %s", w.Name(), resp.Status, firstLine(body))
}

// requestBody is an add-checkpoint request's body: "old <size>", the
// proof's hashes in base64, one a line, a blank line, the signed note.
func requestBody(old int64, proof tlog.TreeProof, signed []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(signed)
	return b.Bytes()
}

// sizeContentType is the media type of a 409's body.
const sizeContentType = "text/x.tlog.size"

// parseSize reads a 409's body: the witness's tree size in decimal and a
// newline.
func parseSize(contentType string, body []byte) (int64, error) {
	if mt, _, err := mime.ParseMediaType(contentType); err != nil || mt != sizeContentType {
		return 0, fmt.Errorf("409 with Content-Type %q, not %s", contentType, sizeContentType)
	}
	text, ok := strings.CutSuffix(string(body), "\n")
	n, err := strconv.ParseInt(text, 10, 64)
	if !ok || err != nil || n < 0 || text != strconv.FormatInt(n, 10) {
		return 0, fmt.Errorf("409 body %q is not a tree size and a newline", firstLine(body))
	}
	return n, nil
}

// verifyCosignatures checks a witness's answer, signature lines, against
// the note they sign, and returns the lines by v's key: at least one,
// each verified. Lines by other keys of the witness are dropped.
func verifyCosignatures(v note.Verifier, signed, answer []byte) ([]byte, error) {
	if len(answer) == 0 {
		return nil, errors.New("empty answer: no cosignature")
	}
	if answer[len(answer)-1] != '\n' {
		return nil, errors.New("the answer does not end with a newline")
	}
	for i, l := range strings.SplitAfter(strings.TrimSuffix(string(answer), "\n"), "\n") {
		if !strings.HasPrefix(l, "— ") {
			return nil, fmt.Errorf("answer line %d %q is not a signature line", i+1, strings.TrimSuffix(l, "\n"))
		}
	}
	msg := append(append([]byte(nil), signed...), answer...)
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return nil, fmt.Errorf("no valid cosignature by %s: %w", v.Name(), err)
	}
	var out []byte
	for _, s := range n.Sigs {
		if s.Name == v.Name() && s.Hash == v.KeyHash() {
			out = fmt.Appendf(out, "— %s %s\n", s.Name, s.Base64)
		}
	}
	if out == nil {
		return nil, fmt.Errorf("no cosignature by %s", v.Name())
	}
	return out, nil
}

func firstLine(b []byte) string {
	l, _, _ := bytes.Cut(bytes.TrimSpace(b), []byte("\n"))
	if len(l) > 200 {
		l = l[:200]
	}
	return string(l)
}
