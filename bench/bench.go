// Package bench measures chainlog's throughput on generated stores: bulk
// ingest with the chain off and on, in the same run, and verification.
//
// Ids are shaped like real agent ids, a prefix plus a random UUID, so the
// unique id index sees random keys as it does in production.
package bench

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"time"

	"chainlog"
	"chainlog/postgres"
	"chainlog/sqlite"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"
)

// Config says what to measure.
type Config struct {
	Events int    // events per store
	Runs   int    // repetitions; the median is reported
	Batch  int    // events per commit
	Nodes  int    // distinct node ids
	Dir    string // where the stores go; a temporary directory when empty
	// HTTPEvents is how many events each HTTP measurement posts; 0 skips
	// the HTTP measurements.
	HTTPEvents int
	// HTTPOnly runs the HTTP measurements alone.
	HTTPOnly bool
	// Store, when it is a PostgreSQL connection URL, measures the
	// PostgreSQL store in schemas made for the run on that database,
	// instead of SQLite files; the HTTP measurements are not made.
	Store string
	// Progress, when not nil, is told what is being measured.
	Progress func(msg string)
	// Payload is the shape of generated events: PayloadSmall or
	// PayloadRealistic (the default, when empty).
	Payload string
	// EventsFile, when set, is an NDJSON file as `chainlog export` writes
	// it whose events every store measurement ingests instead of
	// generated ones; Events is then the file's count.
	EventsFile string

	fileEvents []chainlog.Event // EventsFile's events, loaded once by Run
}

// Measure is one figure over several runs.
type Measure struct {
	Name   string    `json:"name"`
	Unit   string    `json:"unit"`
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Runs   []float64 `json:"runs"`
}

func newMeasure(name, unit string, runs []float64) Measure {
	s := append([]float64(nil), runs...)
	sort.Float64s(s)
	m := Measure{Name: name, Unit: unit, Runs: runs, Min: s[0], Max: s[len(s)-1]}
	if n := len(s); n%2 == 1 {
		m.Median = s[n/2]
	} else {
		m.Median = (s[n/2-1] + s[n/2]) / 2
	}
	return m
}

// Result is a whole benchmark run.
type Result struct {
	Events int `json:"events"` // per store; 0 when only HTTP was measured
	// HTTPEvents is what each HTTP measurement posted; 0 when none ran.
	HTTPEvents int `json:"http_events"`
	Batch      int `json:"batch"`
	Nodes      int `json:"nodes"`
	Runs       int `json:"runs"`
	// Payload is the generated events' shape; EventsFile the file whose
	// events were measured instead, if any.
	Payload    string    `json:"payload"`
	EventsFile string    `json:"events_file,omitempty"`
	Measures   []Measure `json:"measures"`
}

// Run builds the stores and measures them.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.loadEvents(); err != nil {
		return nil, err
	}
	if cfg.Events <= 0 || cfg.Runs <= 0 || cfg.Batch <= 0 || cfg.Nodes <= 0 {
		return nil, fmt.Errorf("bench: events, runs, batch and nodes must be positive")
	}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "chainlog-bench-*")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	say := cfg.Progress
	if say == nil {
		say = func(string) {}
	}
	res := &Result{Events: cfg.Events, HTTPEvents: cfg.HTTPEvents, Batch: cfg.Batch, Nodes: cfg.Nodes, Runs: cfg.Runs}
	res.Payload, res.EventsFile = cfg.payloadName(), cfg.EventsFile
	if postgres.IsURL(cfg.Store) {
		m, err := postgresMeasures(ctx, cfg, say)
		if err != nil {
			return nil, err
		}
		res.Measures, res.HTTPEvents = m, 0
		return res, nil
	}
	if cfg.HTTPOnly {
		res.Events = 0
	} else {
		m, err := storeMeasures(ctx, cfg, dir, say)
		if err != nil {
			return nil, err
		}
		res.Measures = m
	}
	if cfg.HTTPEvents > 0 {
		m, err := httpMeasures(ctx, cfg, dir, say)
		if err != nil {
			return nil, err
		}
		res.Measures = append(res.Measures, m...)
	}
	return res, nil
}

// storeMeasures measures ingest, verification, proofs and the store's
// size, cfg.Runs times.
func storeMeasures(ctx context.Context, cfg Config, dir string, say func(string)) ([]Measure, error) {
	var off, chain, noTree, on, ratioDigest, ratioTree, ratio, verify, proveMs, checkMs []float64
	var bytesEv, bytesOff, rssMB, monFull, monIncr, cli, cliOff, cliRatio []float64
	var lim limitRuns
	for run := 1; run <= cfg.Runs; run++ {
		if err := lim.writes(cfg, dir, run, say); err != nil {
			return nil, err
		}
		rOff, bOff, err := ingestMeasure(ctx, cfg, dir, run, "off", sqlite.Options{DisableIntegrity: true}, say)
		if err != nil {
			return nil, err
		}
		rChain, _, err := ingestMeasure(ctx, cfg, dir, run, "chain only", sqlite.Options{DisablePayloadDigest: true, DisableTree: true}, say)
		if err != nil {
			return nil, err
		}
		rNoTree, _, err := ingestMeasure(ctx, cfg, dir, run, "chain and digests", sqlite.Options{DisableTree: true}, say)
		if err != nil {
			return nil, err
		}
		bytesOff = append(bytesOff, bOff)
		say(fmt.Sprintf("run %d/%d: ingest, integrity on", run, cfg.Runs))
		path := filepath.Join(dir, fmt.Sprintf("on-%d.db", run))
		var ids []string
		rOn, err := ingestRun(ctx, cfg, path, sqlite.Options{}, &ids)
		if err != nil {
			return nil, err
		}
		say(fmt.Sprintf("run %d/%d: proofs", run, cfg.Runs))
		pg, pv, err := proofRun(ctx, path, ids)
		if err != nil {
			return nil, err
		}
		proveMs, checkMs = append(proveMs, pg), append(checkMs, pv)
		bpe, err := bytesPerEvent(path, cfg.Events)
		if err != nil {
			return nil, err
		}
		say(fmt.Sprintf("run %d/%d: verify-integrity", run, cfg.Runs))
		rv, rss, err := verifyChild(ctx, path, cfg.Events)
		if err != nil {
			return nil, err
		}
		if err := lim.read(ctx, cfg, path, run, say); err != nil {
			return nil, err
		}
		say(fmt.Sprintf("run %d/%d: incremental verification of 1%% new events", run, cfg.Runs))
		fullMs, incrMs, err := incrementalRun(ctx, cfg, path, max(1, cfg.Events/100))
		if err != nil {
			return nil, err
		}
		bytesEv, rssMB, monFull, monIncr = append(bytesEv, bpe), append(rssMB, rss), append(monFull, fullMs), append(monIncr, incrMs)
		removeStore(path)
		say(fmt.Sprintf("run %d/%d: chainlog ingest of an NDJSON file, everything on and integrity off", run, cfg.Runs))
		// The two take turns at going first, run by run.
		rCLI, rCLIOff, err := cliIngestRuns(ctx, cfg, dir, run%2 == 1)
		if err != nil {
			return nil, err
		}
		cli, cliOff, cliRatio = append(cli, rCLI), append(cliOff, rCLIOff), append(cliRatio, rCLI/rCLIOff)
		off, chain, noTree, on = append(off, rOff), append(chain, rChain), append(noTree, rNoTree), append(on, rOn)
		ratioDigest, ratioTree = append(ratioDigest, rNoTree/rChain), append(ratioTree, rOn/rNoTree)
		ratio, verify = append(ratio, rOn/rOff), append(verify, rv)
		lim.ratios(rOff, rOn, rCLI, rv)
	}
	return append([]Measure{
		newMeasure("ingest, integrity off", "events/s", off),
		newMeasure("ingest, chain only", "events/s", chain),
		newMeasure("ingest, chain and payload digests", "events/s", noTree),
		newMeasure("ingest, everything on (chain, digests, tree)", "events/s", on),
		newMeasure("ratio digests: chain+digests / chain only", "", ratioDigest),
		newMeasure("ratio tree: everything on / chain+digests", "", ratioTree),
		newMeasure("ratio everything on / off", "", ratio),
		newMeasure("chainlog ingest of an NDJSON file (validate, then commit), everything on", "events/s", cli),
		newMeasure("chainlog ingest of an NDJSON file (validate, then commit), integrity off", "events/s", cliOff),
		newMeasure("ratio chainlog ingest everything on / integrity off", "", cliRatio),
		newMeasure("verify-integrity (chains, payloads, trail, tree), child process", "events/s", verify),
		newMeasure("proof generation, median", "ms", proveMs),
		newMeasure("offline proof verification, median", "ms", checkMs),
		newMeasure("verify-integrity peak memory (RSS)", "MiB", rssMB),
		newMeasure("daemon's verification, whole store", "ms", monFull),
		newMeasure("daemon's verification, 1% new events", "ms", monIncr),
		newMeasure("store size, everything on", "bytes/event", bytesEv),
		newMeasure("store size, integrity off", "bytes/event", bytesOff),
	}, lim.measures()...), nil
}

// httpMeasures measures the daemon's handler over loopback, cfg.Runs
// times: NDJSON in batches of 1000, single events, and OTLP/HTTP logs
// (protobuf, mapped by agentsrc) against NDJSON in batches of the same
// size, with their ratio.
func httpMeasures(ctx context.Context, cfg Config, dir string, say func(string)) ([]Measure, error) {
	const otlpBatch = 512
	loads := []struct {
		name    string
		clients int
		make    func() (*load, error)
	}{
		{"HTTP ingest, NDJSON batches of 1000 (4 clients)", 4, func() (*load, error) { return ndjsonLoad(cfg.HTTPEvents, 1000) }},
		{"HTTP ingest, single events from 64 clients", 64, func() (*load, error) { return ndjsonLoad(cfg.HTTPEvents/4, 1) }},
		{fmt.Sprintf("HTTP ingest, NDJSON batches of %d (4 clients)", otlpBatch), 4, func() (*load, error) { return ndjsonLoad(cfg.HTTPEvents, otlpBatch) }},
		{fmt.Sprintf("OTLP/HTTP logs, protobuf batches of %d records (4 clients)", otlpBatch), 4, func() (*load, error) { return otlpLoad(cfg.HTTPEvents, otlpBatch) }},
	}
	rates := make([][]float64, len(loads))
	var ratio []float64
	for run := 1; run <= cfg.Runs; run++ {
		for i, ld := range loads {
			say(fmt.Sprintf("run %d/%d: %s", run, cfg.Runs, ld.name))
			l, err := ld.make()
			if err != nil {
				return nil, err
			}
			r, err := httpRun(ctx, dir, l, ld.clients)
			if err != nil {
				return nil, err
			}
			rates[i] = append(rates[i], r)
		}
		ratio = append(ratio, rates[3][run-1]/rates[2][run-1])
	}
	var out []Measure
	for i, ld := range loads {
		out = append(out, newMeasure(ld.name, "events/s", rates[i]))
	}
	return append(out, newMeasure(fmt.Sprintf("ratio OTLP/HTTP logs / NDJSON, batches of %d", otlpBatch), "", ratio)), nil
}

// ingestMeasure ingests into a throw-away store and returns events/s and
// the store's bytes per event.
func ingestMeasure(ctx context.Context, cfg Config, dir string, run int, name string, opts sqlite.Options, say func(string)) (float64, float64, error) {
	say(fmt.Sprintf("run %d/%d: ingest, %s", run, cfg.Runs, name))
	path := filepath.Join(dir, fmt.Sprintf("%s-%d.db", name, run))
	defer removeStore(path)
	rate, err := ingestRun(ctx, cfg, path, opts, nil)
	if err != nil {
		return 0, 0, err
	}
	size, err := bytesPerEvent(path, cfg.Events)
	return rate, size, err
}

func removeStore(path string) {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
}

// ingestRun ingests cfg.Events generated events into a new store at path
// and returns events per second, counting only the time spent in Ingest.
// When sample is not nil, about proofSamples evenly spread event ids are
// appended to it.
func ingestRun(ctx context.Context, cfg Config, path string, opts sqlite.Options, sample *[]string) (float64, error) {
	st, err := sqlite.Open(ctx, path, opts)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	spent, err := ingestInto(ctx, cfg, st, cfg.events(), cfg.Events, sample)
	if err != nil {
		return 0, err
	}
	return float64(cfg.Events) / spent.Seconds(), st.Close()
}

// ingestInto ingests n generated events into st in batches of cfg.Batch
// and returns the time spent in Ingest. When sample is not nil, about
// proofSamples evenly spread event ids are appended to it.
func ingestInto(ctx context.Context, cfg Config, st chainlog.Store, gen source, n int, sample *[]string) (time.Duration, error) {
	batch := make([]chainlog.Event, cfg.Batch)
	var spent time.Duration
	for done := 0; done < n; {
		k := min(cfg.Batch, n-done)
		for i := range batch[:k] {
			gen.next(&batch[i])
			if sample != nil && (done+i)%max(1, n/proofSamples) == 0 {
				*sample = append(*sample, batch[i].ID)
			}
		}
		start := time.Now()
		res, err := st.Ingest(ctx, batch[:k])
		spent += time.Since(start)
		if err != nil {
			return 0, err
		}
		if res.Inserted != k {
			return 0, fmt.Errorf("bench: inserted %d of %d", res.Inserted, k)
		}
		done += k
	}
	return spent, nil
}

// generator makes realistic agent events. Two generators with the same
// seed make the same events, ids included.
type generator struct {
	rng       *rand.Rand
	ids       *rand.ChaCha8 // the ids' random bytes
	nodes     []string
	n         int
	ts        time.Time
	realistic bool // Claude Code tool calls (PayloadRealistic)
}

func newGenerator(nodes int) *generator { return newGeneratorOf("node", nodes, 1) }

func seededGenerator(nodes int, seed uint64) *generator { return newGeneratorOf("node", nodes, seed) }

// newGeneratorOf makes events of nodes prefix-00, prefix-01, ..., its
// random choices seeded with seed.
func newGeneratorOf(prefix string, nodes int, seed uint64) *generator {
	var key [32]byte
	key[0] = byte(seed)
	g := &generator{rng: rand.New(rand.NewPCG(seed, 2)), ids: rand.NewChaCha8(key), ts: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	for i := range nodes {
		g.nodes = append(g.nodes, fmt.Sprintf("%s-%02d", prefix, i))
	}
	return g
}

var (
	eventTypes = []string{"tool_call", "tool.result", "prompt.submitted", "model.completed", "llm_usage"}
	agentTypes = []string{"claude_code", "cursor", "codex", "openclaw"}
	tools      = []string{"bash", "read", "edit", "grep", "web_fetch"}
)

func (g *generator) next(e *chainlog.Event) {
	g.n++
	g.ts = g.ts.Add(time.Duration(g.rng.IntN(2000)) * time.Millisecond)
	session := fmt.Sprintf("sess-%04d", g.n/500)
	*e = chainlog.Event{
		ID:        "evt_" + uuid.Must(uuid.NewRandomFromReader(g.ids)).String(),
		AgentType: agentTypes[g.rng.IntN(len(agentTypes))],
		NodeID:    g.nodes[g.rng.IntN(len(g.nodes))],
		AgentID:   "main",
		SessionID: &session,
		EventType: eventTypes[g.rng.IntN(len(eventTypes))],
		TS:        g.ts.Format("2006-01-02T15:04:05.000Z"),
		Data: fmt.Appendf(nil, `{"tool":%q,"args":{"path":"src/pkg/file_%d.go","line":%d},"ok":true}`,
			tools[g.rng.IntN(len(tools))], g.rng.IntN(400), g.rng.IntN(2000)),
	}
	if g.realistic {
		g.nextRealistic(e)
	}
}

// eventLine is the JSON object a client sends for a generated event: its
// identity and data.
func eventLine(ev *chainlog.Event) ([]byte, error) {
	return json.Marshal(map[string]any{"id": ev.ID, "agent_type": ev.AgentType, "node_id": ev.NodeID,
		"agent_id": ev.AgentID, "session_id": ev.SessionID, "event_type": ev.EventType, "ts": ev.TS,
		"data": json.RawMessage(ev.Data)})
}

// proofSamples is how many events proofRun proves.
const proofSamples = 1000

// proofRun signs a checkpoint of the store and returns the median time, in
// milliseconds, to build an inclusion proof bundle for each sampled event
// and to verify it offline.
func proofRun(ctx context.Context, path string, ids []string) (prove, check float64, err error) {
	st, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		return 0, 0, err
	}
	defer st.Close()
	return proveIn(ctx, st, ids)
}

// proveIn is proofRun on an open store.
func proveIn(ctx context.Context, st chainlog.Store, ids []string) (prove, check float64, err error) {
	skey, vkey, err := note.GenerateKey(crand.Reader, "chainlog/bench")
	if err != nil {
		return 0, 0, err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return 0, 0, err
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return 0, 0, err
	}
	signed, err := st.Checkpoint(ctx, signer, nil)
	if err != nil {
		return 0, 0, err
	}
	cp, err := chainlog.OpenCheckpoint(signed, verifier)
	if err != nil {
		return 0, 0, err
	}
	var proveT, checkT []float64
	for _, id := range ids {
		start := time.Now()
		ev, idx, proof, err := st.ProveEvent(ctx, id, cp.Size)
		if err != nil {
			return 0, 0, fmt.Errorf("prove %s: %w", id, err)
		}
		b := chainlog.ProofBundle{Event: ev, Index: idx, Proof: proof, Checkpoint: signed}
		data, err := b.Marshal()
		if err != nil {
			return 0, 0, err
		}
		proveT = append(proveT, ms(time.Since(start)))
		start = time.Now()
		parsed, err := chainlog.ParseProofBundle(data)
		if err == nil {
			_, err = chainlog.VerifyProofBundle(parsed, verifier)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("verify proof of %s: %w", id, err)
		}
		checkT = append(checkT, ms(time.Since(start)))
	}
	return newMeasure("", "", proveT).Median, newMeasure("", "", checkT).Median, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
