package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"chainlog"

	"golang.org/x/mod/sumdb/note"
)

func runProve(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "prove", "prove [--store PATH] --id EVENT_ID [--checkpoint FILE] [--out FILE]")
	store := storeFlag(e, fs)
	id := fs.String("id", "", "the event to prove (required)")
	cpFile := fs.String("checkpoint", "", "prove against the last checkpoint in this `file` (default: the checkpoint kept in the store)")
	out := fs.String("out", "", "write the bundle to this `file` (default: standard output)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 0 || *id == "" {
		return usageError(e, fs, "want --id EVENT_ID and no arguments")
	}
	path, err := store()
	if err != nil {
		return fail(e, "prove", err)
	}
	st, err := openRead(ctx, path)
	if err != nil {
		return fail(e, "prove", err)
	}
	defer st.Close()
	signed, err := proveCheckpoint(ctx, st, *cpFile)
	if err != nil {
		return fail(e, "prove", err)
	}
	data, err := chainlog.ProveBundle(ctx, st, *id, signed)
	if err != nil {
		return fail(e, "prove", err)
	}
	if err := writeOut(e, *out, data); err != nil {
		return fail(e, "prove", err)
	}
	return exitOK
}

// proveCheckpoint returns the signed checkpoint to prove against.
func proveCheckpoint(ctx context.Context, st cliStore, file string) ([]byte, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		notes := chainlog.SplitNotes(data)
		if len(notes) == 0 {
			return nil, fmt.Errorf("%s holds no checkpoint", file)
		}
		return notes[len(notes)-1], nil
	}
	signed, err := st.LatestCheckpoint(ctx)
	if err == nil && signed == nil {
		err = errors.New("the store has no checkpoint yet: create a signer key with `chainlog keygen` and ingest")
	}
	return signed, err
}

func writeOut(e *env, path string, data []byte) error {
	if path == "" {
		_, err := e.stdout.Write(data)
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

func readIn(e *env, path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(e.stdin)
	}
	return os.ReadFile(path)
}

// offlineArgs is what the offline verifiers (verify-proof and
// verify-evidence) are given: the log's verifier keys, the witnesses' keys
// and quorum, --json, and the one file to check.
type offlineArgs struct {
	verifiers []note.Verifier
	cosigned  cosignedFlags
	json      bool
	data      []byte
}

// parseOffline parses an offline verifier's flags and reads its file;
// what names the file in the usage error. A non-negative code says the
// command ends there with it.
func parseOffline(e *env, name, usage, what string, args []string) (*offlineArgs, int) {
	fs := newFlagSet(e, name, usage)
	var keys multiFlag
	fs.Var(&keys, "key", "verifier `key` (the text keygen printed, or a file holding it); repeatable")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	var a offlineArgs
	a.cosigned.register(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return nil, flagExit(err)
	}
	if len(pos) != 1 || len(keys) == 0 {
		return nil, usageError(e, fs, "want --key and one %s", what)
	}
	if a.verifiers, err = loadVerifiers(keys); err != nil {
		return nil, usageError(e, fs, "%v", err)
	}
	if err := a.cosigned.load(); err != nil {
		return nil, usageError(e, fs, "%v", err)
	}
	if a.data, err = readIn(e, pos[0]); err != nil {
		return nil, fail(e, name, err)
	}
	a.json = *jsonOut
	return &a, -1
}

func runVerifyProof(ctx context.Context, e *env, args []string) int {
	a, code := parseOffline(e, "verify-proof", "verify-proof --key VERIFIER_KEY [--witness-key VKEY]... [--quorum N] [--json] BUNDLE|-", "bundle file", args)
	if code >= 0 {
		return code
	}
	vs, cosigned, jsonOut, data := a.verifiers, &a.cosigned, &a.json, a.data
	b, err := chainlog.ParseProofBundle(data)
	if err != nil {
		return proofResult(e, *jsonOut, nil, nil, err)
	}
	var cp chainlog.Checkpoint
	for _, v := range vs {
		if cp, err = chainlog.VerifyProofBundle(b, v); !errors.Is(err, chainlog.ErrCheckpointSignature) {
			break
		}
	}
	if err == nil {
		err = cosigned.check(b.Checkpoint)
	}
	return proofResult(e, *jsonOut, b, &cp, err)
}

func proofResult(e *env, jsonOut bool, b *chainlog.ProofBundle, cp *chainlog.Checkpoint, err error) int {
	status, code := chainlog.StatusValid, exitOK
	var msg *string
	if err != nil {
		status, code = chainlog.StatusInvalid, exitInvalid
		s := err.Error()
		msg = &s
	}
	if jsonOut {
		out := struct {
			Status string                `json:"status"`
			Error  *string               `json:"error"`
			Event  *chainlog.ProvenEvent `json:"event,omitempty"`
			Index  *int64                `json:"index,omitempty"`
			Origin string                `json:"origin,omitempty"`
			Size   int64                 `json:"tree_size,omitempty"`
		}{Status: status, Error: msg}
		if b != nil {
			out.Event, out.Index = &b.Event, &b.Index
		}
		if cp != nil {
			out.Origin, out.Size = cp.Origin, cp.Size
		}
		writeJSON(e.stdout, out)
		return code
	}
	if err != nil {
		fmt.Fprintf(e.stdout, "Result:    INVALID\nReason:    %v\n", err)
		return code
	}
	fmt.Fprintf(e.stdout, "Event:     %s (node %s, seq %d)\n", b.Event.ID, b.Event.NodeID, b.Event.ChainSeq)
	fmt.Fprintf(e.stdout, "Leaf:      %d of %d in %s\n", b.Index, cp.Size, cp.Origin)
	fmt.Fprintf(e.stdout, "Result:    VALID\n")
	return code
}

func runConsistency(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "consistency", "consistency [--store PATH] [--out FILE] OLD_CHECKPOINT NEW_CHECKPOINT\n       chainlog consistency --verify --proof FILE --key VERIFIER_KEY [--witness-key VKEY]... [--quorum N] OLD_CHECKPOINT NEW_CHECKPOINT")
	store := storeFlag(e, fs)
	verify := fs.Bool("verify", false, "check a proof offline instead of making one")
	proofFile := fs.String("proof", "", "with --verify: the proof `file` (- for standard input)")
	out := fs.String("out", "", "write the proof to this `file` (default: standard output)")
	var keys multiFlag
	fs.Var(&keys, "key", "verifier `key` for the checkpoints' signatures; repeatable (required with --verify)")
	var cosigned cosignedFlags
	cosigned.register(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 2 {
		return usageError(e, fs, "want two checkpoint files, the older first")
	}
	if *verify {
		if *proofFile == "" || len(keys) == 0 {
			return usageError(e, fs, "--verify needs --proof and --key")
		}
		if err := cosigned.load(); err != nil {
			return usageError(e, fs, "%v", err)
		}
		return verifyConsistency(e, *proofFile, keys, &cosigned, pos[0], pos[1])
	}
	if len(cosigned.keys) > 0 || cosigned.quorum != 0 {
		return usageError(e, fs, "--witness-key and --quorum go with --verify")
	}
	older, newer, err := readCheckpointPair(pos[0], pos[1], nil, nil)
	if err != nil {
		return fail(e, "consistency", err)
	}
	if older.Size > newer.Size {
		return usageError(e, fs, "the first checkpoint (size %d) is newer than the second (size %d): give the older one first", older.Size, newer.Size)
	}
	path, err := store()
	if err != nil {
		return fail(e, "consistency", err)
	}
	st, err := openRead(ctx, path)
	if err != nil {
		return fail(e, "consistency", err)
	}
	defer st.Close()
	proof, err := st.ProveConsistency(ctx, older.Size, newer.Size)
	if err != nil {
		return fail(e, "consistency", err)
	}
	p := chainlog.ConsistencyProof{Old: older.Size, New: newer.Size, Proof: proof}
	// Check before handing it out: a store that no longer matches either
	// checkpoint cannot prove anything about them.
	if err := chainlog.VerifyConsistency(&p, older, newer); err != nil {
		fmt.Fprintf(e.stderr, "chainlog consistency: %v\n", err)
		return exitInvalid
	}
	if err := writeOut(e, *out, p.Marshal()); err != nil {
		return fail(e, "consistency", err)
	}
	return exitOK
}

func verifyConsistency(e *env, proofFile string, keys []string, cosigned *cosignedFlags, oldFile, newFile string) int {
	vs, err := loadVerifiers(keys)
	if err != nil {
		return fail(e, "consistency", err)
	}
	data, err := readIn(e, proofFile)
	if err != nil {
		return fail(e, "consistency", err)
	}
	p, err := chainlog.ParseConsistencyProof(data)
	if err != nil {
		fmt.Fprintf(e.stdout, "Result:    INVALID\nReason:    %v\n", err)
		return exitInvalid
	}
	older, newer, err := readCheckpointPair(oldFile, newFile, vs, cosigned)
	if err == nil {
		err = chainlog.VerifyConsistency(p, older, newer)
	}
	if err != nil {
		fmt.Fprintf(e.stdout, "Result:    INVALID\nReason:    %v\n", err)
		return exitInvalid
	}
	fmt.Fprintf(e.stdout, "Old:       %d leaves\nNew:       %d leaves\nResult:    VALID (the new tree extends the old one)\n", older.Size, newer.Size)
	return exitOK
}

// readCheckpointPair reads the last checkpoint of each file; with
// verifiers, their signatures are checked, and with cosigned, their
// witnesses' cosignatures.
func readCheckpointPair(oldFile, newFile string, vs []note.Verifier, cosigned *cosignedFlags) (older, newer chainlog.Checkpoint, err error) {
	read := func(file string) (chainlog.Checkpoint, error) {
		data, err := os.ReadFile(file)
		if err != nil {
			return chainlog.Checkpoint{}, err
		}
		notes := chainlog.SplitNotes(data)
		if len(notes) == 0 {
			return chainlog.Checkpoint{}, fmt.Errorf("%s holds no checkpoint", file)
		}
		last := notes[len(notes)-1]
		if vs == nil {
			return chainlog.ParseSignedCheckpoint(last)
		}
		c, err := openWithAny(last, vs)
		if err == nil && cosigned != nil {
			if err = cosigned.check(last); err != nil {
				err = fmt.Errorf("%s: %w", file, err)
			}
		}
		return c, err
	}
	if older, err = read(oldFile); err != nil {
		return older, newer, err
	}
	newer, err = read(newFile)
	return older, newer, err
}

// openWithAny opens a signed checkpoint with the first verifier that knows
// its key.
func openWithAny(signed []byte, vs []note.Verifier) (chainlog.Checkpoint, error) {
	var err error
	for _, v := range vs {
		var c chainlog.Checkpoint
		if c, err = chainlog.OpenCheckpoint(signed, v); err == nil {
			return c, nil
		}
	}
	return chainlog.Checkpoint{}, err
}
