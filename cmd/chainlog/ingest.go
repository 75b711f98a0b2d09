package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"

	"chainlog"
	"chainlog/sqlite"
)

// ingestBatch is how many events one transaction commits.
const ingestBatch = 1000

// maxListedErrors bounds the rejected lines printed in human output; --json
// lists them all.
const maxListedErrors = 100

type ingestCmd struct {
	env         *env
	store       func() (string, error)
	skipInvalid bool
	jsonOut     bool
	maxLine     int
	cp          checkpointFlags
	server      string
	token       string
	tls         clientTLSFlags
	init        bool
}

type ingestSummary struct {
	Inserted   int                   `json:"inserted"`
	Duplicates int                   `json:"duplicates"`
	Rejected   int                   `json:"rejected"`
	Committed  bool                  `json:"committed"`
	Errors     []*chainlog.LineError `json:"errors"`
	// UnreadBytes is how many bytes the input file grew by after it was
	// validated: they were not read.
	UnreadBytes int64 `json:"unread_bytes,omitempty"`
}

// afterValidate, when set, is called between the two passes over a file.
// Tests use it to change the file under ingest.
var afterValidate func(name string)

func runIngest(ctx context.Context, e *env, args []string) int {
	c := &ingestCmd{env: e}
	fs := newFlagSet(e, "ingest", "ingest [--store PATH | --server URL [--token TOKEN]] [--skip-invalid] [--json] [--max-line-bytes N] FILE|-")
	c.store = storeFlag(e, fs)
	fs.BoolVar(&c.skipInvalid, "skip-invalid", false, "commit the valid lines and report each rejected one, instead of rejecting the whole input")
	fs.BoolVar(&c.jsonOut, "json", false, "print the summary as JSON")
	fs.IntVar(&c.maxLine, "max-line-bytes", chainlog.DefaultMaxLineBytes, "reject lines longer than `n` bytes")
	c.cp.register(fs, e)
	fs.StringVar(&c.server, "server", "", "post the events to the daemon at this `URL` (e.g. http://127.0.0.1:8900) instead of writing the store")
	fs.StringVar(&c.token, "token", "", "bearer token for --server (default $CHAINLOG_TOKEN)")
	c.tls.register(fs)
	fs.BoolVar(&c.init, "init", false, "add chainlog's tables to a database that has other tables but no events table")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 1 {
		return usageError(e, fs, "want exactly one input: a file, or - for standard input")
	}
	return c.run(ctx, pos[0])
}

func flagExit(err error) int {
	if errors.Is(err, flagErrHelp) {
		return exitOK
	}
	return exitError
}

func (c *ingestCmd) run(ctx context.Context, name string) int {
	path, err := c.store()
	if err != nil {
		return fail(c.env, "ingest", err)
	}
	if err := c.cp.setup(path); err != nil {
		return fail(c.env, "ingest", err)
	}
	in, cleanup, err := c.openInput(name)
	if err != nil {
		return fail(c.env, "ingest", err)
	}
	defer cleanup()
	// Both passes decode every line into events that live for one batch.
	defer streamGC()()
	var sum ingestSummary
	if !c.skipInvalid {
		// Validate everything first: a bad line rejects the whole input and
		// the store is not even opened.
		if err := c.validate(ctx, in, &sum); err != nil {
			return fail(c.env, "ingest", err)
		}
		if sum.Rejected > 0 {
			return c.report(&sum)
		}
		if afterValidate != nil {
			afterValidate(name)
		}
		if err := in.rewind(); err != nil {
			return fail(c.env, "ingest", err)
		}
	}
	ingest := c.ingest
	if c.server != "" {
		if c.token == "" {
			c.token = c.env.getenv("CHAINLOG_TOKEN")
		}
		ingest = func(ctx context.Context, _ string, in *input, sum *ingestSummary) error {
			return c.postIngest(ctx, in, sum)
		}
	}
	if err := ingest(ctx, path, in, &sum); err != nil {
		// Say what was stored before the failure.
		var ce *changedError
		if sum.Committed || errors.As(err, &ce) {
			c.report(&sum)
		}
		return fail(c.env, "ingest", err)
	}
	sum.UnreadBytes = in.grown()
	return c.report(&sum)
}

// validate reads the whole input and records every bad line. One
// goroutine reads lines into chunks; decoders on the other cores check
// them, and the bad lines are listed in input order.
func (c *ingestCmd) validate(ctx context.Context, in *input, sum *ingestSummary) error {
	bar := newProgress(c.env, in.size, "validating")
	defer bar.finish()
	r := chainlog.NewReader(in, c.maxLine, c.defaultNode())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan *lineChunk, 4)
	var mu sync.Mutex // guards bad
	var bad []*chainlog.LineError
	var wg sync.WaitGroup
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for ch := range chunks {
				for i := range ch.lineNos {
					if _, err := r.Decode(ch.line(i), ch.lineNos[i]); err != nil {
						mu.Lock()
						bad = append(bad, err.(*chainlog.LineError))
						mu.Unlock()
					}
				}
			}
		})
	}
	seen := newLineDigest(maphash.MakeSeed())
	err := readChunks(ctx, r, chunks, func(le *chainlog.LineError) {
		mu.Lock()
		bad = append(bad, le)
		mu.Unlock()
	}, seen, bar)
	close(chunks)
	wg.Wait()
	if err != nil {
		return err
	}
	in.validated = &validation{bytes: in.read, lines: seen}
	slices.SortFunc(bad, func(a, b *chainlog.LineError) int { return cmp.Compare(a.Line, b.Line) })
	sum.Rejected += len(bad)
	sum.Errors = append(sum.Errors, bad...)
	return nil
}

// lineChunk is a run of input lines, copied into one buffer.
type lineChunk struct {
	data    []byte
	ends    []int // line i is data[ends[i-1]:ends[i]]
	lineNos []int
}

func (ch *lineChunk) line(i int) []byte {
	start := 0
	if i > 0 {
		start = ch.ends[i-1]
	}
	return ch.data[start:ch.ends[i]]
}

// chunkLines is how many lines a chunk holds at most.
const chunkLines = 256

// readChunks reads r's lines into chunks sent on out, passing lines over
// the length limit to tooLong, adds the other lines to seen, and moves bar.
func readChunks(ctx context.Context, r *chainlog.Reader, out chan<- *lineChunk, tooLong func(*chainlog.LineError), seen *lineDigest, bar *progress) error {
	// Each chunk is allocated at the size of the last one, a little more,
	// rather than grown line by line: growing it was 5% of an ingest's
	// CPU, spent in the reader that every worker waits on.
	newChunk := func(data int) *lineChunk {
		return &lineChunk{data: make([]byte, 0, data), ends: make([]int, 0, chunkLines), lineNos: make([]int, 0, chunkLines)}
	}
	ch := newChunk(64 << 10)
	send := func() error {
		select {
		case out <- ch:
			ch = newChunk(len(ch.data) + len(ch.data)/8)
			bar.set(r.BytesRead())
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		line, err := r.NextLine()
		if err == io.EOF {
			break
		}
		var le *chainlog.LineError
		if errors.As(err, &le) {
			tooLong(le)
			continue
		}
		if err != nil {
			return fmt.Errorf("read input: %w", err)
		}
		seen.add(line)
		ch.data = append(ch.data, line...)
		ch.ends = append(ch.ends, len(ch.data))
		ch.lineNos = append(ch.lineNos, r.Line())
		if len(ch.lineNos) == chunkLines {
			if err := send(); err != nil {
				return err
			}
		}
	}
	if len(ch.lineNos) > 0 {
		return send()
	}
	return nil
}

// collect records a *LineError in sum; any other error is returned.
func (c *ingestCmd) collect(err error, sum *ingestSummary) error {
	var le *chainlog.LineError
	if !errors.As(err, &le) {
		return fmt.Errorf("read input: %w", err)
	}
	sum.Rejected++
	sum.Errors = append(sum.Errors, le)
	return nil
}

// ingest commits the input's valid events in batches. A goroutine reads
// and decodes the next batches while the store commits the current one.
func (c *ingestCmd) ingest(ctx context.Context, path string, in *input, sum *ingestSummary) error {
	st, err := openWrite(ctx, path, sqlite.Options{DisableIntegrity: integrityOff(c.env), Init: c.init})
	if err != nil {
		return err
	}
	defer st.Close()
	bar := newProgress(c.env, in.size, "ingesting")
	defer bar.finish()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan decodedBatch, 2)
	var readErr error // set before batches is closed
	go func() {
		defer close(batches)
		readErr = c.decodeBatches(ctx, in, sum, batches)
	}()
	for b := range batches {
		res, err := st.Ingest(ctx, b.events)
		if err == nil {
			sum.Inserted += res.Inserted
			sum.Duplicates += res.Duplicates
			sum.Committed = true
			bar.set(b.read)
			err = c.cp.sign(ctx, st)
		}
		if err != nil {
			cancel()
			for range batches { // let the reader stop
			}
			return err
		}
	}
	if readErr != nil {
		return readErr
	}
	// The last checkpoint goes to the witnesses, once.
	if err := c.cp.run(ctx, st); err != nil {
		return fmt.Errorf("%d new events committed, but %w", sum.Inserted, err)
	}
	return nil
}

// decodedBatch is up to ingestBatch decoded events and how many input
// bytes were read up to its last one.
type decodedBatch struct {
	events []chainlog.Event
	read   int64
}

// decodeBatches reads the input, records its bad lines in sum (Rejected
// and Errors only) and sends its events in batches of ingestBatch.
func (c *ingestCmd) decodeBatches(ctx context.Context, in *input, sum *ingestSummary, out chan<- decodedBatch) error {
	r := chainlog.NewReader(in, c.maxLine, c.defaultNode())
	check := in.recheck()
	batch := make([]chainlog.Event, 0, ingestBatch)
	send := func() error {
		if err := check.batch(); err != nil {
			return err
		}
		select {
		case out <- decodedBatch{events: batch, read: r.BytesRead()}:
			batch = make([]chainlog.Event, 0, ingestBatch)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if err := check.bad(err); err != nil {
				return err
			}
			if err := c.collect(err, sum); err != nil {
				return err
			}
			continue
		}
		check.line(r.Raw())
		if batch = append(batch, ev); len(batch) == ingestBatch {
			if err := send(); err != nil {
				return err
			}
		}
	}
	if len(batch) > 0 {
		if err := send(); err != nil {
			return err
		}
	}
	return check.end()
}

// integrityOff reports whether CHAINLOG_INTEGRITY turns chain stamping off.
func integrityOff(e *env) bool {
	switch e.getenv("CHAINLOG_INTEGRITY") {
	case "0", "false", "off", "no":
		return true
	}
	return false
}

func (c *ingestCmd) report(sum *ingestSummary) int {
	code := exitOK
	if sum.Rejected > 0 {
		code = exitInvalid
	}
	if sum.UnreadBytes > 0 {
		fmt.Fprintf(c.env.stderr, "the input grew by %d bytes after it was validated; they were not read (run ingest again to import them: the events already stored count as duplicates)\n", sum.UnreadBytes)
	}
	if c.jsonOut {
		if sum.Errors == nil {
			sum.Errors = []*chainlog.LineError{}
		}
		writeJSON(c.env.stdout, sum)
		return code
	}
	for i, le := range sum.Errors {
		if i == maxListedErrors {
			fmt.Fprintf(c.env.stderr, "... and %d more rejected lines (use --json for the full list)\n", len(sum.Errors)-i)
			break
		}
		fmt.Fprintf(c.env.stderr, "rejected: %v\n", le)
	}
	if sum.Rejected > 0 && !c.skipInvalid && !sum.Committed {
		fmt.Fprintf(c.env.stderr, "input rejected: %d invalid lines; nothing was stored (fix them, or use --skip-invalid to store the valid lines)\n", sum.Rejected)
	}
	fmt.Fprintf(c.env.stdout, "inserted %d, duplicates %d, rejected %d\n", sum.Inserted, sum.Duplicates, sum.Rejected)
	return code
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// input is the ingest source. Standard input is spooled to a temporary file
// while it is validated, so that it can be read a second time. The second
// pass reads only the bytes the first one validated.
type input struct {
	f     *os.File
	spool *os.File // non-nil while reading stdin for the first time
	size  int64    // -1 when unknown
	stdin io.Reader
	read  int64 // bytes read in this pass

	validated *validation // what the first pass read; nil before it ends
	limit     int64       // in the second pass, bytes left to read
}

func (c *ingestCmd) openInput(name string) (*input, func(), error) {
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, nil, fmt.Errorf("open input: %w", err)
		}
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			return &input{f: f, size: fi.Size()}, func() { f.Close() }, nil
		}
		// A pipe or device cannot be read twice: spool it like stdin.
		in, cleanup, err := c.spoolInput(f)
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		return in, func() { cleanup(); f.Close() }, nil
	}
	return c.spoolInput(c.env.stdin)
}

// spoolInput reads r once; unless --skip-invalid makes one pass enough, it
// keeps a copy in a temporary file for the second pass.
func (c *ingestCmd) spoolInput(r io.Reader) (*input, func(), error) {
	in := &input{stdin: r, size: -1}
	if c.skipInvalid {
		return in, func() {}, nil // one pass: no need to keep a copy
	}
	spool, err := os.CreateTemp("", "chainlog-ingest-*.ndjson")
	if err != nil {
		return nil, nil, fmt.Errorf("spool standard input: %w", err)
	}
	in.spool = spool
	return in, func() { spool.Close(); os.Remove(spool.Name()) }, nil
}

func (in *input) Read(p []byte) (int, error) {
	if in.validated != nil { // the second pass: stop where the first did
		if in.limit <= 0 {
			return 0, io.EOF
		}
		p = p[:min(int64(len(p)), in.limit)]
	}
	var n int
	var err error
	if in.stdin == nil {
		n, err = in.f.Read(p)
	} else {
		n, err = in.stdin.Read(p)
		if n > 0 && in.spool != nil {
			if _, werr := in.spool.Write(p[:n]); werr != nil {
				return n, fmt.Errorf("spool standard input: %w", werr)
			}
		}
	}
	in.read += int64(n)
	in.limit -= int64(n)
	return n, err
}

// rewind makes the next Read start again from the first byte, for a
// second pass over the bytes the first one read.
func (in *input) rewind() error {
	if in.stdin != nil {
		in.stdin, in.f = nil, in.spool
		in.spool = nil
	}
	in.read = 0
	if in.validated != nil {
		in.limit = in.validated.bytes
	}
	_, err := in.f.Seek(0, io.SeekStart)
	return err
}

// grown returns how many bytes a file has beyond those its first pass
// validated, which the second pass did not read.
func (in *input) grown() int64 {
	if in.validated == nil || in.f == nil {
		return 0
	}
	fi, err := in.f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return 0
	}
	return max(0, fi.Size()-in.validated.bytes)
}

// recheck returns the check of a second pass against the first; with one
// pass (--skip-invalid) its methods do nothing.
func (in *input) recheck() *lineCheck {
	if in.validated == nil {
		return nil
	}
	return &lineCheck{want: in.validated, got: newLineDigest(in.validated.lines.seed)}
}

// validation is what the first pass over an input read.
type validation struct {
	bytes int64 // input bytes
	lines *lineDigest
}

// lineDigest is a digest of an input's non-blank lines, each followed by
// a newline, with the digest so far at every ingestBatch lines: a second
// pass compares each batch before committing it. It is a seeded 64-bit
// hash, not a cryptographic one: it detects a file changed between the
// passes, and whoever can write the file can as well write other lines
// before the first.
type lineDigest struct {
	seed    maphash.Seed
	h       maphash.Hash
	n       int      // lines added
	batches []uint64 // digest of the first (i+1)*ingestBatch lines
}

func newLineDigest(seed maphash.Seed) *lineDigest {
	d := &lineDigest{seed: seed}
	d.h.SetSeed(seed)
	return d
}

var newline = []byte{'\n'}

func (d *lineDigest) add(line []byte) {
	d.h.Write(line)
	d.h.Write(newline)
	if d.n++; d.n%ingestBatch == 0 {
		d.batches = append(d.batches, d.sum())
	}
}

func (d *lineDigest) sum() uint64 { return d.h.Sum64() }

// lineCheck compares a second pass over an input with the first, so
// that only lines that were validated are committed: a file changed in
// between fails the second pass at the first batch that differs.
type lineCheck struct {
	want *validation
	got  *lineDigest
}

// changedError is the error of a second pass that read other lines than
// the first.
type changedError struct{ what string }

func (e *changedError) Error() string {
	return "the input changed after it was validated: " + e.what + "; the lines before it were stored, nothing after it"
}

func errChanged(what string) error { return &changedError{what} }

// line adds a valid line of the second pass.
func (c *lineCheck) line(raw []byte) {
	if c != nil {
		c.got.add(raw)
	}
}

// bad returns the error for a bad line in the second pass: every line
// was valid in the first.
func (c *lineCheck) bad(err error) error {
	if c == nil {
		return nil
	}
	var le *chainlog.LineError
	if errors.As(err, &le) {
		return errChanged(le.Error())
	}
	return nil
}

// batch checks that the lines of the second pass so far, which end a
// batch, are those the first pass read.
func (c *lineCheck) batch() error {
	if c == nil {
		return nil
	}
	n := c.got.n
	if n%ingestBatch == 0 {
		if i := n/ingestBatch - 1; i < len(c.want.lines.batches) && c.got.batches[i] == c.want.lines.batches[i] {
			return nil
		}
	} else if n != c.want.lines.n {
		return c.end()
	} else if c.got.sum() == c.want.lines.sum() {
		return nil
	}
	return errChanged(fmt.Sprintf("lines %d to %d differ from the validated ones", (n-1)/ingestBatch*ingestBatch+1, n))
}

// end checks, at the end of the second pass, that it read as many lines
// as the first.
func (c *lineCheck) end() error {
	if c == nil || c.got.n == c.want.lines.n {
		return nil
	}
	return errChanged(fmt.Sprintf("%d lines were validated, %d are left", c.want.lines.n, c.got.n))
}

// defaultNode is the node_id assumed while validating a line that has
// none: with --server the daemon gives such events its own node id, so
// they are valid; a local store has no default.
func (c *ingestCmd) defaultNode() string {
	if c.server != "" {
		return "(the daemon's node id)"
	}
	return ""
}
