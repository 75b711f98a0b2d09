package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"

	"chainlog"
	"chainlog/evidence"
	"chainlog/witness"
)

func runEvidence(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "evidence", "evidence [--store PATH] [--session S] [--node N] [--agent A] [--since T] [--until T] [--checkpoint-file F] --out FILE")
	store := storeFlag(e, fs)
	var f evidence.Filter
	fs.StringVar(&f.SessionID, "session", "", "select the events of this session `id`")
	fs.StringVar(&f.NodeID, "node", "", "select the events of this `node`")
	fs.StringVar(&f.AgentID, "agent", "", "select the events of this `agent` id")
	fs.StringVar(&f.Since, "since", "", "select events with ts at or after this `time` (compared as text)")
	fs.StringVar(&f.Until, "until", "", "select events with ts before this `time` (compared as text)")
	cpFile := fs.String("checkpoint-file", "", "prove against the last checkpoint in this `file` (default: the checkpoint kept in the store)")
	out := fs.String("out", "", "write the pack to this `file` (required; - for standard output)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 0 || *out == "" {
		return usageError(e, fs, "want --out FILE and no arguments")
	}
	path, err := store()
	if err != nil {
		return fail(e, "evidence", err)
	}
	st, err := openRead(ctx, path)
	if err != nil {
		return fail(e, "evidence", err)
	}
	defer st.Close()
	signed, err := proveCheckpoint(ctx, st, *cpFile)
	if err != nil {
		return fail(e, "evidence", err)
	}
	if *cpFile == "" {
		base, err := sidecar(e, path)
		if err != nil {
			return fail(e, "evidence", err)
		}
		*cpFile = base + ".checkpoints"
	}
	if signed, err = withCosignatures(signed, witness.CosignedPath(*cpFile)); err != nil {
		return fail(e, "evidence", err)
	}
	p, err := evidence.Build(ctx, st, f, signed)
	if err != nil {
		return fail(e, "evidence", err)
	}
	if err := writePack(e, *out, p); err != nil {
		return fail(e, "evidence", err)
	}
	fmt.Fprintf(e.stderr, "chainlog evidence: %d events, %d context events, %d amendments, %d left out (not in the checkpoint's tree)\n",
		len(p.Events), len(p.Context), len(p.Amendments), p.Unproven)
	return exitOK
}

// withCosignatures returns the cosigned form of signed from the cosigned
// checkpoints file, when it holds one with the same body; else signed.
func withCosignatures(signed []byte, file string) ([]byte, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return signed, nil
	}
	if err != nil {
		return nil, err
	}
	body, _, _ := bytes.Cut(signed, []byte("\n\n"))
	notes := chainlog.SplitNotes(data)
	for i := len(notes) - 1; i >= 0; i-- {
		if b, _, _ := bytes.Cut(notes[i], []byte("\n\n")); bytes.Equal(b, body) {
			return notes[i], nil
		}
	}
	return signed, nil
}

func writePack(e *env, path string, p *evidence.Pack) error {
	if path == "-" {
		return evidence.Encode(e.stdout, p)
	}
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(fh, 1<<16)
	err = evidence.Encode(w, p)
	if err == nil {
		err = w.Flush()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	return err
}

func runVerifyEvidence(ctx context.Context, e *env, args []string) int {
	a, code := parseOffline(e, "verify-evidence", "verify-evidence --key VERIFIER_KEY [--witness-key VKEY]... [--quorum N] [--json] PACK|-", "pack file", args)
	if code >= 0 {
		return code
	}
	vs, cosigned, jsonOut, data := a.verifiers, &a.cosigned, &a.json, a.data
	p, err := evidence.Decode(data)
	var res *evidence.Result
	if err == nil {
		opts := evidence.Options{Verifiers: vs}
		if len(cosigned.verifiers) > 0 {
			opts.Cosigned = cosigned.check
		}
		res, err = evidence.Verify(p, opts)
	}
	return evidenceResult(e, *jsonOut, res, err)
}

func evidenceResult(e *env, jsonOut bool, res *evidence.Result, err error) int {
	status, code := chainlog.StatusValid, exitOK
	var msg *string
	if err != nil {
		status, code = chainlog.StatusInvalid, exitInvalid
		s := err.Error()
		msg = &s
	}
	if jsonOut {
		out := struct {
			Status  string           `json:"status"`
			Error   *string          `json:"error"`
			Subject string           `json:"subject,omitempty"` // what failed: an event, an amendment, a range, the checkpoint
			Reason  string           `json:"reason,omitempty"`
			Result  *evidence.Result `json:"result,omitempty"`
		}{Status: status, Error: msg, Result: res}
		if ee, ok := errors.AsType[*evidence.Error](err); ok {
			out.Subject, out.Reason = ee.Subject, ee.Reason
		}
		writeJSON(e.stdout, out)
		return code
	}
	if err != nil {
		fmt.Fprintf(e.stdout, "Result:    INVALID\nReason:    %v\n", err)
		return code
	}
	fmt.Fprintf(e.stdout, "Log:       %s, checkpoint of %d leaves\n", res.Origin, res.TreeSize)
	fmt.Fprintf(e.stdout, "Events:    %d selected, %d context, %d anchors, %d amendments\n", res.Events, res.Context, res.Anchors, res.Amendments)
	for _, r := range res.Ranges {
		end := "bounded by the next event"
		if r.OpenEnd {
			end = "open: the node's last event in the checkpoint (not proven)"
		}
		start := "bounded by the event before"
		if r.FirstSeq == 1 {
			start = "from genesis"
		}
		fmt.Fprintf(e.stdout, "Range:     %s seq %d-%d, complete; start %s; end %s\n", r.NodeID, r.FirstSeq, r.LastSeq, start, end)
	}
	if res.Unproven > 0 {
		fmt.Fprintf(e.stdout, "Left out:  %d matching events not in the checkpoint's tree\n", res.Unproven)
	}
	fmt.Fprintf(e.stdout, "Result:    VALID\n")
	return code
}
