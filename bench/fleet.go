package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"chainlog"
	"chainlog/forward"
	"chainlog/postgres"
	"chainlog/server"
	"chainlog/sqlite"

	"github.com/jackc/pgx/v5"
)

// FleetConfig says what fleet to simulate: Nodes in-process nodes, each
// with its own SQLite store, a generator committing Rate events/s in group
// commits every Commit, and its own forward.Forwarder to one in-process
// collector over a fresh schema of the PostgreSQL database at Store.
type FleetConfig struct {
	Nodes    int           // nodes, each with its own store and forwarder
	Rate     int           // events/s each node commits
	Duration time.Duration // how long the generators run
	// Commit is the nodes' group-commit interval: each generator commits
	// what is due every Commit, as a daemon's writer would; default 100 ms.
	Commit time.Duration
	// Batch is the most events a forwarder sends in one request; 0 is the
	// forwarder's default (1000).
	Batch int
	// Poll is how often a caught-up forwarder looks for new events; 0 is
	// the forwarder's default (200 ms).
	Poll time.Duration
	// CatchUp bounds the wait, after the generators stop, for the
	// collector to hold every node's chain; default 60 s.
	CatchUp time.Duration
	// MaxConns bounds the collector's PostgreSQL pool; 0 is the store's
	// default.
	MaxConns int32
	Store    string // the collector's database: a postgres:// URL
	Dir      string // where the node stores go; a temporary directory when empty
	Runs     int    // repetitions; the median is reported; default 1
	Payload  string // PayloadRealistic (default) or PayloadSmall
	Progress func(msg string)
}

// FleetResult is a whole fleet simulation.
type FleetResult struct {
	Nodes    int     `json:"nodes"`
	Rate     int     `json:"rate_per_node"` // events/s each node was asked for
	Offered  int     `json:"offered"`       // Nodes × Rate, events/s
	Duration float64 `json:"duration_s"`
	CommitMs float64 `json:"commit_ms"`
	Batch    int     `json:"forward_batch"`
	PollMs   float64 `json:"poll_ms"`
	Runs     int     `json:"runs"`
	Payload  string  `json:"payload"`
	// KeptUp says whether, in every run, the collector caught up within
	// the lag target (2 s) after the generators stopped.
	KeptUp   bool      `json:"kept_up"`
	Measures []Measure `json:"measures"`
	// Verified is the collector's verify-integrity status after each run.
	Verified []string `json:"verified"`
}

// lagTarget is the forwarding lag the collector must stay within: a fleet
// keeps up when its backlog drains within it once the generators stop.
const lagTarget = 2 * time.Second

// fleetRun is what one run measured.
type fleetRun struct {
	nodeRate, collRate                         float64 // events/s while the generators ran
	lagP50, lagP99, lagMax, lagEvents          float64 // forwarders' Status
	e2eP50, e2eP99, e2eMax                     float64 // node commit to collector commit
	backlog, catchUp, committed, verifyMs, wal float64
	failures                                   float64 // forwarders' failed attempts
	posts, perPost, postP50, postP99           float64 // POST /v1/replicate: per second, events each, ms
	tableB, indexB, allB                       float64 // the collector's bytes per event
	status                                     string
}

// Fleet runs the simulation cfg.Runs times.
func Fleet(ctx context.Context, cfg FleetConfig) (*FleetResult, error) {
	switch {
	case cfg.Nodes <= 0 || cfg.Rate <= 0 || cfg.Duration <= 0:
		return nil, errors.New("bench: fleet: nodes, rate and duration must be positive")
	case !postgres.IsURL(cfg.Store):
		return nil, errors.New("bench: fleet: the collector needs a PostgreSQL database (--store postgres://…)")
	}
	if err := checkPayload(cfg.Payload); err != nil {
		return nil, err
	}
	if cfg.Commit <= 0 {
		cfg.Commit = 100 * time.Millisecond
	}
	if cfg.CatchUp <= 0 {
		cfg.CatchUp = time.Minute
	}
	cfg.Runs = max(cfg.Runs, 1)
	say := cfg.Progress
	if say == nil {
		say = func(string) {}
	}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "chainlog-fleet-*")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	res := &FleetResult{Nodes: cfg.Nodes, Rate: cfg.Rate, Offered: cfg.Nodes * cfg.Rate, Duration: cfg.Duration.Seconds(),
		CommitMs: ms(cfg.Commit), Batch: cfg.Batch, PollMs: ms(cfg.Poll), Runs: cfg.Runs, KeptUp: true,
		Payload: Config{Payload: cfg.Payload}.payloadName()}
	var runs []fleetRun
	for run := 1; run <= cfg.Runs; run++ {
		say(fmt.Sprintf("run %d/%d: %d nodes × %d events/s for %s", run, cfg.Runs, cfg.Nodes, cfg.Rate, cfg.Duration))
		var r fleetRun
		err := withSchema(ctx, cfg.Store, func(dsn string) error {
			var err error
			r, err = fleetOnce(ctx, cfg, filepath.Join(dir, fmt.Sprintf("run-%d", run)), dsn, say)
			return err
		})
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
		res.Verified = append(res.Verified, r.status)
		res.KeptUp = res.KeptUp && r.catchUp <= lagTarget.Seconds()
	}
	col := func(f func(fleetRun) float64) []float64 {
		var out []float64
		for _, r := range runs {
			out = append(out, f(r))
		}
		return out
	}
	res.Measures = []Measure{
		newMeasure("nodes' commits, all nodes", "events/s", col(func(r fleetRun) float64 { return r.nodeRate })),
		newMeasure("collector's commits while the nodes ran", "events/s", col(func(r fleetRun) float64 { return r.collRate })),
		newMeasure("forwarding lag (forwarders' Status), p50", "s", col(func(r fleetRun) float64 { return r.lagP50 })),
		newMeasure("forwarding lag (forwarders' Status), p99", "s", col(func(r fleetRun) float64 { return r.lagP99 })),
		newMeasure("forwarding lag (forwarders' Status), max", "s", col(func(r fleetRun) float64 { return r.lagMax })),
		newMeasure("forwarding lag (forwarders' Status), max events behind on one node", "events", col(func(r fleetRun) float64 { return r.lagEvents })),
		newMeasure("node commit to collector commit (heads), p50", "s", col(func(r fleetRun) float64 { return r.e2eP50 })),
		newMeasure("node commit to collector commit (heads), p99", "s", col(func(r fleetRun) float64 { return r.e2eP99 })),
		newMeasure("node commit to collector commit (heads), max", "s", col(func(r fleetRun) float64 { return r.e2eMax })),
		newMeasure("backlog when the nodes stopped", "events", col(func(r fleetRun) float64 { return r.backlog })),
		newMeasure("catch-up after the nodes stopped", "s", col(func(r fleetRun) float64 { return r.catchUp })),
		newMeasure("events at the collector", "events", col(func(r fleetRun) float64 { return r.committed })),
		newMeasure("collector WAL per event (pg_current_wal_lsn, whole server)", "bytes/event", col(func(r fleetRun) float64 { return r.wal })),
		newMeasure("POST /v1/replicate requests", "requests/s", col(func(r fleetRun) float64 { return r.posts })),
		newMeasure("POST /v1/replicate events per request", "events", col(func(r fleetRun) float64 { return r.perPost })),
		newMeasure("POST /v1/replicate time in the handler, p50", "ms", col(func(r fleetRun) float64 { return r.postP50 })),
		newMeasure("POST /v1/replicate time in the handler, p99", "ms", col(func(r fleetRun) float64 { return r.postP99 })),
		newMeasure("collector's events table (heap and TOAST)", "bytes/event", col(func(r fleetRun) float64 { return r.tableB })),
		newMeasure("collector's events indexes", "bytes/event", col(func(r fleetRun) float64 { return r.indexB })),
		newMeasure("collector's tables and indexes, all", "bytes/event", col(func(r fleetRun) float64 { return r.allB })),
		newMeasure("forwarders' failed attempts, all nodes", "attempts", col(func(r fleetRun) float64 { return r.failures })),
		newMeasure("collector verify-integrity afterwards", "ms", col(func(r fleetRun) float64 { return r.verifyMs })),
	}
	return res, nil
}

// fleetNode is one simulated node.
type fleetNode struct {
	id   string
	path string
	st   *sqlite.Store
	ro   *sqlite.Store
	fw   *forward.Forwarder

	mu      sync.Mutex
	commits []nodeCommit // the generator's commits, in order
	seq     int64        // the node's head seq
}

// nodeCommit is one group commit of a node: its chain stood at seq from at.
type nodeCommit struct {
	seq int64
	at  time.Time
}

// firstAfter returns when the node committed its first event after seq,
// and whether there is one.
func (n *fleetNode) firstAfter(seq int64) (time.Time, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	i := sort.Search(len(n.commits), func(i int) bool { return n.commits[i].seq > seq })
	if i == len(n.commits) {
		return time.Time{}, false
	}
	return n.commits[i].at, true
}

// fleetOnce runs one simulation with the collector on dsn.
func fleetOnce(ctx context.Context, cfg FleetConfig, dir, dsn string, say func(string)) (fleetRun, error) {
	var r fleetRun
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	coll, err := postgres.Open(ctx, dsn, postgres.Options{MaxConns: cfg.MaxConns})
	if err != nil {
		return r, err
	}
	defer coll.Close()
	const token = "fleet-bench"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	srv := server.New(server.Config{Replica: coll, Token: token})
	var postMu sync.Mutex
	var postMs []float64 // each POST /v1/replicate's time in the handler
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			srv.ServeHTTP(w, req)
			return
		}
		t := time.Now()
		srv.ServeHTTP(w, req)
		d := ms(time.Since(t))
		postMu.Lock()
		postMs = append(postMs, d)
		postMu.Unlock()
	})}
	go hs.Serve(ln)
	defer hs.Close()
	url := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: cfg.Nodes, MaxIdleConnsPerHost: cfg.Nodes, IdleConnTimeout: time.Minute}}

	nodes := make([]*fleetNode, cfg.Nodes)
	defer func() {
		for _, n := range nodes {
			if n != nil {
				n.ro.Close()
				n.st.Close()
			}
		}
	}()
	for i := range nodes {
		n := &fleetNode{id: fmt.Sprintf("fleet-%04d", i), path: filepath.Join(dir, fmt.Sprintf("node-%04d.db", i))}
		if n.st, err = sqlite.Open(ctx, n.path, sqlite.Options{}); err != nil {
			return r, err
		}
		if n.ro, err = sqlite.OpenReadOnly(ctx, n.path); err != nil {
			n.st.Close()
			return r, err
		}
		if n.fw, err = forward.New(forward.Config{URL: url, Token: token, Client: client, Source: n.ro,
			Batch: cfg.Batch, Poll: cfg.Poll}); err != nil {
			return r, err
		}
		nodes[i] = n
	}
	walStart, err := walLSN(ctx, dsn)
	if err != nil {
		return r, err
	}

	fctx, stopForwarders := context.WithCancel(ctx)
	var fwg sync.WaitGroup
	for _, n := range nodes {
		fwg.Go(func() { n.fw.Run(fctx) })
	}
	defer func() { stopForwarders(); fwg.Wait() }()

	// Sample every forwarder's Status, and the collector's heads, every
	// 100 ms until stop.
	var lagSec, e2eSec []float64
	var lagEvents int64
	sampleStop := make(chan struct{})
	var swg sync.WaitGroup
	var sampleErr error
	swg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-sampleStop:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for _, n := range nodes {
				s := n.fw.Status()
				lagSec = append(lagSec, s.LagSeconds)
				lagEvents = max(lagEvents, s.LagEvents)
			}
			heads, err := coll.Heads(ctx, "")
			if err != nil {
				sampleErr = err
				return
			}
			now := time.Now()
			at := map[string]int64{}
			for _, h := range heads {
				at[h.NodeID] = h.Seq
			}
			for _, n := range nodes {
				lag := 0.0
				if t, ok := n.firstAfter(at[n.id]); ok {
					lag = now.Sub(t).Seconds()
				}
				e2eSec = append(e2eSec, lag)
			}
		}
	})

	// The generators: each commits what its rate makes due every Commit.
	start := time.Now()
	gctx, stopGenerators := context.WithDeadline(ctx, start.Add(cfg.Duration))
	defer stopGenerators()
	var gwg sync.WaitGroup
	genErr := make([]error, len(nodes))
	for i, n := range nodes {
		gwg.Go(func() { genErr[i] = generate(gctx, cfg, n, uint64(i+1), start) })
	}
	gwg.Wait()
	genEnd := time.Now()
	if err := errors.Join(genErr...); err != nil {
		close(sampleStop)
		swg.Wait()
		return r, err
	}
	var committed int64
	for _, n := range nodes {
		committed += n.seq
	}
	heads, err := coll.Heads(ctx, "")
	if err != nil {
		close(sampleStop)
		swg.Wait()
		return r, err
	}
	var atStop int64
	for _, h := range heads {
		atStop += h.Seq
	}
	elapsed := genEnd.Sub(start).Seconds()
	r.nodeRate, r.collRate, r.backlog = float64(committed)/elapsed, float64(atStop)/elapsed, float64(committed-atStop)
	say(fmt.Sprintf("nodes stopped after %.1f s with %d events; the collector holds %d; waiting for it to catch up", elapsed, committed, atStop))

	// Catch-up: until the collector holds every node's chain.
	deadline := genEnd.Add(cfg.CatchUp)
	for {
		heads, err := coll.Heads(ctx, "")
		if err != nil {
			close(sampleStop)
			swg.Wait()
			return r, err
		}
		var total int64
		for _, h := range heads {
			total += h.Seq
		}
		if total >= committed {
			r.catchUp = time.Since(genEnd).Seconds()
			break
		}
		if time.Now().After(deadline) {
			close(sampleStop)
			swg.Wait()
			return r, fmt.Errorf("bench: fleet: the collector holds %d of %d events %s after the nodes stopped", total, committed, cfg.CatchUp)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(sampleStop)
	swg.Wait()
	stopForwarders()
	fwg.Wait()
	for _, n := range nodes {
		if st := n.fw.Status(); st.Failures > 0 {
			r.failures += float64(st.Failures)
			say(fmt.Sprintf("node %s: %d failed attempts, the last: %s", n.id, st.Failures, st.LastError))
		}
	}
	if sampleErr != nil {
		return r, sampleErr
	}
	walEnd, err := walLSN(ctx, dsn)
	if err != nil {
		return r, err
	}
	r.wal = float64(walEnd-walStart) / float64(committed)
	if err := sizes(ctx, dsn, committed, &r, say); err != nil {
		return r, err
	}
	postMu.Lock()
	if len(postMs) > 0 {
		r.posts = float64(len(postMs)) / time.Since(start).Seconds()
		r.perPost = float64(committed) / float64(len(postMs))
		r.postP50, r.postP99 = newMeasure("", "", postMs).Median, percentile(postMs, 0.99)
	}
	postMu.Unlock()
	s := newMeasure("", "", lagSec)
	r.lagP50, r.lagP99, r.lagMax, r.lagEvents = s.Median, percentile(lagSec, 0.99), s.Max, float64(lagEvents)
	e := newMeasure("", "", e2eSec)
	r.e2eP50, r.e2eP99, r.e2eMax = e.Median, percentile(e2eSec, 0.99), e.Max

	// Verify the collector: the whole store, and each node's chain as the
	// node holds it.
	say("verifying the collector")
	vstart := time.Now()
	rep, err := chainlog.VerifyStore(ctx, coll, chainlog.VerifyOptions{})
	if err != nil {
		return r, fmt.Errorf("bench: fleet: verify the collector: %w", err)
	}
	r.verifyMs, r.status, r.committed = ms(time.Since(vstart)), rep.Status, float64(rep.Checked)
	if rep.Status != chainlog.StatusValid {
		return r, fmt.Errorf("bench: fleet: the collector verifies %s: %v", rep.Status, rep.BrokenAt)
	}
	if rep.Checked != committed {
		return r, fmt.Errorf("bench: fleet: the collector checked %d events; the nodes committed %d", rep.Checked, committed)
	}
	ch, err := coll.Heads(ctx, "")
	if err != nil {
		return r, err
	}
	byNode := map[string]chainlog.Head{}
	for _, h := range ch {
		byNode[h.NodeID] = h
	}
	for _, n := range nodes {
		nh, err := n.st.Heads(ctx, n.id)
		if err != nil {
			return r, err
		}
		if len(nh) != 1 || byNode[n.id].Seq != nh[0].Seq || byNode[n.id].Hash != nh[0].Hash {
			return r, fmt.Errorf("bench: fleet: node %s: the collector's head %d %s is not the node's %v", n.id, byNode[n.id].Seq, byNode[n.id].Hash, nh)
		}
	}
	return r, nil
}

// generate commits cfg.Rate events/s to n's store, what is due every
// cfg.Commit, until ctx ends.
func generate(ctx context.Context, cfg FleetConfig, n *fleetNode, seed uint64, start time.Time) error {
	gen := newGeneratorOf(n.id, 1, seed)
	gen.nodes[0] = n.id
	// Ids random over the whole seed: nodes' ids never collide.
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	copy(key[8:], "chainlog fleet")
	gen.ids = rand.NewChaCha8(key)
	gen.realistic = cfg.Payload != PayloadSmall
	tick := time.NewTicker(cfg.Commit)
	defer tick.Stop()
	var batch []chainlog.Event
	var done int64
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		due := int64(time.Since(start).Seconds()*float64(cfg.Rate)) - done
		if due <= 0 {
			continue
		}
		batch = batch[:0]
		for range due {
			batch = append(batch, chainlog.Event{})
			gen.next(&batch[len(batch)-1])
		}
		res, err := n.st.Ingest(context.WithoutCancel(ctx), batch)
		if err != nil {
			return fmt.Errorf("node %s: %w", n.id, err)
		}
		if res.Inserted != len(batch) {
			return fmt.Errorf("node %s: inserted %d of %d", n.id, res.Inserted, len(batch))
		}
		done += due
		n.mu.Lock()
		n.seq += due
		n.commits = append(n.commits, nodeCommit{seq: n.seq, at: time.Now()})
		n.mu.Unlock()
	}
}

// percentile is the p-quantile of v (nearest rank).
func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(p*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// walLSN is the server's current WAL position, in bytes.
func walLSN(ctx context.Context, dsn string) (int64, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var n int64
	err = conn.QueryRow(ctx, `SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint`).Scan(&n)
	return n, err
}

// sizes reads the collector's sizes per event: the events table, its
// indexes (each one told to say), and every table with its indexes.
func sizes(ctx context.Context, dsn string, events int64, r *fleetRun, say func(string)) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var table, index int64
	if err := conn.QueryRow(ctx, `SELECT pg_table_size('events'), pg_indexes_size('events')`).Scan(&table, &index); err != nil {
		return err
	}
	rows, err := conn.Query(ctx, `SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index
		WHERE indrelid = 'events'::regclass ORDER BY 1`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return err
		}
		say(fmt.Sprintf("collector index %s: %.1f bytes/event", name, float64(n)/float64(events)))
	}
	if err := rows.Err(); err != nil {
		return err
	}
	all, err := tableBytes(ctx, dsn)
	if err != nil {
		return err
	}
	n := float64(events)
	r.tableB, r.indexB, r.allB = float64(table)/n, float64(index)/n, float64(all)/n
	return nil
}
