package main

// Fault tests of a fleet: "chainlog serve --collector" on PostgreSQL and
// nodes ("chainlog serve --forward") on SQLite, as real processes. After
// each fault the collector's copy of every node's chain is the node's own,
// row for row, nothing doubled, and the collector verifies VALID.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"chainlog"
	"chainlog/forward"
	"chainlog/internal/pgtest"
)

// fleetToken is the collector's bearer token, which the nodes forward with.
const fleetToken = "fleet-token"

// startCollector runs "chainlog serve --collector" on dsn at
// 127.0.0.1:port. env must be the same at every restart: it holds the
// store's signer key (auto-key) under HOME.
func startCollector(t *testing.T, bin string, env []string, dsn, port string) *serveProc {
	t.Helper()
	return startDaemon(t, bin, env, fleetToken, "--collector", "--store", dsn, "--listen", "127.0.0.1:"+port,
		"--token", fleetToken, "--node-id", "collector")
}

// startNode runs a node on the SQLite store path that forwards to the
// collector at collectorURL; events without a node_id get nodeID.
func startNode(t *testing.T, bin string, env []string, path, nodeID, collectorURL string, args ...string) *serveProc {
	t.Helper()
	return startDaemon(t, bin, env, "", append([]string{"--store", path, "--listen", "127.0.0.1:0", "--node-id", nodeID,
		"--forward", collectorURL, "--forward-token", fleetToken}, args...)...)
}

// terminate stops d with SIGTERM and waits for its exit, whatever its log
// holds (the fault tests' daemons log errors on purpose).
func terminate(t *testing.T, d *serveProc) {
	t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	d.wait(45 * time.Second)
	if log := d.log.String(); strings.Contains(log, "panic: ") || strings.Contains(log, "WARNING: DATA RACE") {
		t.Fatalf("chainlog serve:\n%s", log)
	}
}

// sigkill kills d with SIGKILL and waits until it is gone.
func sigkill(t *testing.T, d *serveProc) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("chainlog serve survived SIGKILL for 15s")
	}
}

// fleetClient is the tests' HTTP client, closed at cleanup.
func fleetClient(t *testing.T) *http.Client {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// getJSON GETs u (with token, when not empty) into v and returns the
// status code.
func getJSON(c *http.Client, u, token string, v any) (int, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			return resp.StatusCode, fmt.Errorf("GET %s: %d %.200q: %v", u, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode, nil
}

// collectorHead asks the collector where node's chain stands (GET
// /v1/replicate), as a node's forwarder does.
func collectorHead(c *http.Client, col *serveProc, node string) (chainlog.ReplicaAck, error) {
	var ack chainlog.ReplicaAck
	code, err := getJSON(c, col.url+"/v1/replicate?node_id="+url.QueryEscape(node), fleetToken, &ack)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("GET /v1/replicate: %d %s", code, ack.Error)
	}
	return ack, err
}

// nodeHealth is a forwarding node's /healthz answer.
type nodeHealth struct {
	Status  string         `json:"status"`
	Forward forward.Status `json:"forward"`
}

func healthOf(t *testing.T, c *http.Client, d *serveProc) nodeHealth {
	t.Helper()
	var h nodeHealth
	code, err := getJSON(c, d.url+"/healthz", "", &h)
	if err != nil || code != http.StatusOK {
		t.Fatalf("%s/healthz: %d %v %+v\n%s", d.url, code, err, h, d.log)
	}
	return h
}

// metricValue scrapes d's /metrics and returns the value of the sample
// named name (without labels); -1 when it is missing.
func metricValue(t *testing.T, c *http.Client, d *serveProc, name string) float64 {
	t.Helper()
	resp, err := c.Get(d.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatalf("/metrics %q: %v", sc.Text(), err)
			}
			return v
		}
	}
	return -1
}

// waitFor polls cond every 50 ms until it holds, and fails after timeout
// saying what.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitCaughtUp waits until the collector's head for node is seq.
func waitCaughtUp(t *testing.T, c *http.Client, col *serveProc, node string, seq int64, timeout time.Duration) {
	t.Helper()
	var last chainlog.ReplicaAck
	var lastErr error
	deadline := time.Now().Add(timeout)
	for {
		last, lastErr = collectorHead(c, col, node)
		if lastErr == nil && last.Seq == seq {
			return
		}
		if lastErr == nil && last.Seq > seq {
			t.Fatalf("the collector's head of %s is seq %d, past the node's %d", node, last.Seq, seq)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v the collector's head of %s is seq %d (%v), want %d\ncollector log:\n%s", timeout, node, last.Seq, lastErr, seq, col.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// chainRow is what of an exported row must be the same on node and
// collector.
type chainRow struct {
	ID   string `json:"id"`
	Seq  int64  `json:"chain_seq"`
	Hash string `json:"chain_hash"`
}

// exportChain exports store's rows (node's only, when node is not empty).
func exportChain(t *testing.T, bin string, env []string, store, node string) []chainRow {
	t.Helper()
	args := []string{"export", "--store", store}
	if node != "" {
		args = append(args, "--node-id", node)
	}
	r := runChainlog(t, bin, env, args...)
	if r.code != 0 {
		t.Fatalf("export %s: exit %d\n%s", node, r.code, r.stderr)
	}
	var out []chainRow
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e chainRow
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

// storeHead reads node's head from the store at loc.
func storeHead(t *testing.T, loc, node string) chainlog.Head {
	t.Helper()
	st, err := openRead(t.Context(), loc)
	if err != nil {
		t.Fatalf("open %s: %v", loc, err)
	}
	defer st.Close()
	heads, err := st.Heads(t.Context(), node)
	if err != nil {
		t.Fatal(err)
	}
	if len(heads) != 1 {
		t.Fatalf("%d heads of %s, want 1", len(heads), node)
	}
	return heads[0]
}

// requireFleetEqual checks the collector at dsn against each node's store
// (node_id -> SQLite path): equal heads, the same rows in the same order
// (id, chain_seq, chain_hash), no row twice, no row of another node, and
// verify-integrity VALID.
func requireFleetEqual(t *testing.T, bin string, env []string, dsn string, nodes map[string]string) {
	t.Helper()
	total := 0
	for node, path := range nodes {
		nh, ch := storeHead(t, path, node), storeHead(t, dsn, node)
		if nh.Seq != ch.Seq || nh.Hash != ch.Hash {
			t.Fatalf("node %s: the node's head is seq %d %s, the collector's seq %d %s", node, nh.Seq, nh.Hash, ch.Seq, ch.Hash)
		}
		want, got := exportChain(t, bin, env, path, node), exportChain(t, bin, env, dsn, node)
		if len(got) != len(want) {
			t.Fatalf("node %s: the collector holds %d rows, the node %d", node, len(got), len(want))
		}
		seen := map[string]bool{}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("node %s row %d: the collector holds %+v, the node %+v", node, i, got[i], want[i])
			}
			if seen[got[i].ID] {
				t.Fatalf("node %s: event %s twice", node, got[i].ID)
			}
			seen[got[i].ID] = true
		}
		if int64(len(want)) != nh.Seq {
			t.Fatalf("node %s: %d rows exported, head seq %d", node, len(want), nh.Seq)
		}
		total += len(want)
	}
	if all := exportChain(t, bin, env, dsn, ""); len(all) != total {
		t.Fatalf("the collector holds %d rows in all, the nodes %d", len(all), total)
	}
	rep := requireValid(t, bin, env, dsn)
	t.Logf("collector VALID: %d events checked", rep.Checked)
}

// stream posts batches of events (without node_id) to a node until
// stopped, and counts what the node acknowledged.
type stream struct {
	stop    chan struct{}
	done    chan struct{}
	oks     atomic.Int64 // batches answered 200
	events  atomic.Int64 // events acknowledged
	mu      sync.Mutex
	failure error
}

func startStream(d *serveProc, prefix string, batch int, every time.Duration) *stream {
	s := &stream{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		p := newPoster(d.url, "")
		defer p.close()
		for b := 0; ; b++ {
			select {
			case <-s.stop:
				return
			case <-time.After(every):
			}
			lines := make([]string, batch)
			for i := range lines {
				lines[i] = testEvent(fmt.Sprintf("%s-%d-%d", prefix, b, i), "", b*batch+i)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			a, err := p.post(ctx, lines, false)
			cancel()
			if err == nil && (a.status != http.StatusOK || a.accepted != batch) {
				err = fmt.Errorf("batch %d: status %d, accepted %d: %s", b, a.status, a.accepted, a.body)
			}
			if err != nil {
				s.mu.Lock()
				s.failure = err
				s.mu.Unlock()
				return
			}
			s.oks.Add(1)
			s.events.Add(int64(batch))
		}
	}()
	return s
}

func (s *stream) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failure
}

// end stops the stream and fails the test if a post failed.
func (s *stream) end(t *testing.T) int64 {
	t.Helper()
	close(s.stop)
	<-s.done
	if err := s.err(); err != nil {
		t.Fatalf("the node refused a post: %v", err)
	}
	return s.events.Load()
}

// postEvents posts n events id prefix-0.. (without node_id) to d, in one
// request, and requires them all accepted.
func postEvents(t *testing.T, d *serveProc, prefix string, n int) {
	t.Helper()
	p := newPoster(d.url, "")
	defer p.close()
	lines := make([]string, n)
	for i := range lines {
		lines[i] = testEvent(fmt.Sprintf("%s-%d", prefix, i), "", i)
	}
	a, err := p.post(t.Context(), lines, false)
	if err != nil || a.status != http.StatusOK || a.accepted != n {
		t.Fatalf("post %d events to %s: %v %+v", n, d.url, err, a)
	}
}

// TestFleetPostgresStopped stops the collector's PostgreSQL server (its own
// throwaway cluster, -m immediate, as in a crash) while a node forwards a
// steady stream. The node goes on accepting, with a forward lag; once the
// server is back the node catches up, with nothing lost or doubled.
func TestFleetPostgresStopped(t *testing.T) {
	t.Parallel()
	cluster := pgtest.NewCluster(t)
	began := time.Now()
	bin := chainlogBinary(t)
	env := serveEnv(t)
	c := fleetClient(t)
	dsn := cluster.DSN
	port := freePort(t)
	col := startCollector(t, bin, env, dsn, port)
	nodePath := filepath.Join(t.TempDir(), "node.db")
	node := startNode(t, bin, serveEnv(t), nodePath, "edge-1", col.url)

	s := startStream(node, "ev", 20, 10*time.Millisecond)
	waitFor(t, 20*time.Second, "the collector took none of the stream", func() bool {
		ack, err := collectorHead(c, col, "edge-1")
		return err == nil && ack.Seq >= 200
	})
	cluster.StopImmediate()
	stoppedAt, okAtStop := time.Now(), s.oks.Load()
	// While the database is down the node accepts (its store is its own)
	// and reports a lag.
	var lag nodeHealth
	waitFor(t, 15*time.Second, "no forward lag on the node's /healthz while the collector's database is down", func() bool {
		lag = healthOf(t, c, node)
		return lag.Forward.LagEvents > 0 && lag.Forward.Failures > 0
	})
	time.Sleep(max(0, 2*time.Second-time.Since(stoppedAt)))
	if n := s.oks.Load() - okAtStop; n < 10 {
		t.Fatalf("the node acknowledged %d batches in the 2s the collector's database was down: %v", n, s.err())
	}
	if v := metricValue(t, c, node, "chainlog_forward_lag_events"); v <= 0 {
		t.Fatalf("chainlog_forward_lag_events = %v while the collector's database is down", v)
	}
	lag = healthOf(t, c, node)
	t.Logf("database down for %v: the node took %d batches, forward status %+v", time.Since(stoppedAt).Round(time.Millisecond),
		s.oks.Load()-okAtStop, lag.Forward)
	// What the collector does meanwhile: it stays up and answers; its
	// reads and /v1/replicate fail with 500 (the pool cannot connect) and
	// the node backs off. Its checkpoints fail too, and after 10 in a row
	// (server.DefaultMaxCheckpointFailures) its writer would halt until one
	// succeeds again; 2 s is well short of that.
	var down chainlog.ReplicaAck
	code, err := getJSON(c, col.url+"/v1/replicate?node_id=edge-1", fleetToken, &down)
	t.Logf("collector while its database is down: GET /v1/replicate %d %v %q; /healthz %d", code, err, down.Error,
		getStatus(t, col.url+"/healthz", fleetToken))
	select {
	case <-col.exited:
		t.Logf("the collector exited while its database was down: %v", col.err)
	default:
	}

	cluster.Start()
	select {
	case <-col.exited:
		// Not seen so far: the collector stays up. Should it ever give up
		// on its database, a supervisor restarts it; so does the test.
		t.Logf("the collector exited (%v); starting it again\n%s", col.err, col.log)
		col = startCollector(t, bin, env, dsn, port)
	default:
	}
	time.Sleep(time.Second) // the stream goes on across the restart
	total := s.end(t)
	waitCaughtUp(t, c, col, "edge-1", total, 45*time.Second)
	h := healthOf(t, c, node)
	if h.Forward.LagEvents != 0 {
		t.Fatalf("caught up, but the node reports a lag: %+v", h.Forward)
	}
	terminate(t, node)
	terminate(t, col)
	requireFleetEqual(t, bin, env, dsn, map[string]string{"edge-1": nodePath})
	t.Logf("%d events forwarded across the outage; node forward status at the end %+v; %v", total, h.Forward, time.Since(began).Round(time.Millisecond))
	if testing.Verbose() {
		for _, l := range strings.Split(col.log.String(), "\n") {
			if strings.Contains(l, "level=ERROR") || strings.Contains(l, "level=WARN") {
				t.Logf("collector: %.300s", l)
			}
		}
	}
}

// TestFleetCollectorKilled kills the collector with SIGKILL while a node
// forwards a 20,000-event backlog, in batches of 1,000, and starts a new
// collector on the same database and port: the node resumes from the
// collector's head (at least once: a batch committed but not answered
// comes again, as duplicates) and the end state is exact.
func TestFleetCollectorKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("forwards 20,000 events")
	}
	dsn := pgtest.Schema(t)
	t.Parallel()
	began := time.Now()
	bin := chainlogBinary(t)
	env, nodeEnv := serveEnv(t), serveEnv(t)
	c := fleetClient(t)
	dir := t.TempDir()

	// The backlog: 20,000 events in the node's store before it starts.
	const backlog = 20000
	var sb strings.Builder
	for i := range backlog {
		sb.WriteString(testEvent(fmt.Sprintf("bl-%05d", i), "edge-bulk", i))
		sb.WriteByte('\n')
	}
	nodePath := filepath.Join(dir, "node.db")
	if r := runChainlog(t, bin, nodeEnv, "ingest", "--store", nodePath, writeFile(t, dir, "backlog.ndjson", sb.String())); r.code != 0 {
		t.Fatalf("ingest: %d\n%s", r.code, r.stderr)
	}

	port := freePort(t)
	col := startCollector(t, bin, env, dsn, port)
	// The node reaches the collector through a proxy that counts the bytes
	// it carries to the collector, so that a kill can wait until a batch's
	// request is on its way in.
	px := startByteProxy(t, "127.0.0.1:"+port)
	node := startNode(t, bin, nodeEnv, nodePath, "edge-bulk", "http://"+px.addr, "--forward-batch", "1000")
	// Kill the collector again and again while the backlog drains, each
	// time once the next batch after an acknowledged one has begun to
	// arrive (16 KiB of its request carried): the kill cuts a batch in
	// flight, before, during or after its commit.
	var kills []int64
	for k := range 5 {
		last := int64(0)
		if len(kills) > 0 {
			last = kills[len(kills)-1]
		}
		var at chainlog.ReplicaAck
		waitFor(t, 30*time.Second, "the collector acknowledged no batch", func() bool {
			var err error
			at, err = collectorHead(c, col, "edge-bulk")
			return err == nil && at.Seq > last
		})
		from := px.up.Load()
		waitFor(t, 30*time.Second, "no request after the acknowledged batch", func() bool { return px.up.Load() > from+16<<10 })
		time.Sleep(time.Duration(k%3*20) * time.Millisecond)
		sigkill(t, col)
		seq := storeHead(t, dsn, "edge-bulk").Seq
		kills = append(kills, seq)
		t.Logf("kill %d: the collector held seq %d of %d (seq %d acknowledged before the batch in flight)", k, seq, backlog, at.Seq)
		if seq >= backlog {
			break
		}
		if k == 0 {
			// The node goes on accepting while the collector is gone.
			postEvents(t, node, "during", 100)
			time.Sleep(500 * time.Millisecond)
		}
		col = startCollector(t, bin, env, dsn, port)
	}
	if kills[0] >= backlog {
		t.Fatalf("the node forwarded its whole backlog before the first kill: no batch was in flight")
	}
	if kills[len(kills)-1] >= backlog {
		col = startCollector(t, bin, env, dsn, port)
	}
	postEvents(t, node, "after", 100)
	const total = backlog + 200
	waitCaughtUp(t, c, col, "edge-bulk", total, 50*time.Second)
	h := healthOf(t, c, node)
	if h.Forward.Sent < total || h.Forward.LagEvents != 0 {
		t.Fatalf("node forward status %+v: want at least %d sent and no lag", h.Forward, total)
	}
	terminate(t, node)
	terminate(t, col)
	requireFleetEqual(t, bin, env, dsn, map[string]string{"edge-bulk": nodePath})
	t.Logf("node forward status %+v (%d rows acknowledged twice, as duplicates); %v", h.Forward, h.Forward.Sent-total,
		time.Since(began).Round(time.Millisecond))
}

// TestFleetSameNodeID runs two nodes that both claim node_id "same": the
// collector takes the first one's chain, and the second's is fork
// evidence. The node_id is quarantined (409 to both nodes), the collector
// verifies INVALID until an operator resolves the fork, and then the
// first node's chain goes on.
func TestFleetSameNodeID(t *testing.T) {
	dsn := pgtest.Schema(t)
	t.Parallel()
	began := time.Now()
	bin := chainlogBinary(t)
	env := serveEnv(t)
	c := fleetClient(t)
	dir := t.TempDir()
	port := freePort(t)
	col := startCollector(t, bin, env, dsn, port)

	pathA, pathB := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	envA := serveEnv(t)
	a := startNode(t, bin, envA, pathA, "same", col.url)
	postEvents(t, a, "a", 30)
	waitCaughtUp(t, c, col, "same", 30, 20*time.Second)

	b := startNode(t, bin, serveEnv(t), pathB, "same", col.url)
	postEvents(t, b, "b", 20)
	waitFor(t, 20*time.Second, "node b is not blocked by the collector", func() bool {
		return healthOf(t, c, b).Forward.Blocked["same"] != ""
	})
	// b's chain is shorter than what the collector holds of "same": b
	// sends its head row again for the collector to compare, and that is
	// the evidence. (b's lag reads 0 then: it counts from the collector's
	// head, which is past b's.)
	hb := healthOf(t, c, b)
	t.Logf("node b's forward status: %+v", hb.Forward)
	if !strings.Contains(hb.Forward.Blocked["same"], "quarantined") || hb.Forward.Failures == 0 {
		t.Fatalf("node b's forward status %+v: want \"same\" quarantined", hb.Forward)
	}

	// The evidence: b's seq 20 against a's.
	r := runChainlog(t, bin, env, "forks", "--store", dsn, "--json")
	var forks []chainlog.Fork
	if err := json.Unmarshal([]byte(r.stdout), &forks); err != nil || r.code != 1 {
		t.Fatalf("forks --json: exit %d (want 1), %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if len(forks) != 1 || forks[0].NodeID != "same" || forks[0].Seq != 20 || forks[0].StoredID != "a-19" || forks[0].EventID != "b-19" || forks[0].Resolved() {
		t.Fatalf("forks: %+v, want one unresolved fork of same at seq 20, a-19 against b-19", forks)
	}

	// b goes on accepting; what it forwards is refused with 409, and so
	// is what a forwards now: the node_id is quarantined, whoever sends.
	postEvents(t, b, "b2", 5)
	rows := runChainlog(t, bin, env, "export", "--store", pathB, "--node-id", "same")
	req, _ := http.NewRequest(http.MethodPost, col.url+"/v1/replicate", strings.NewReader(rows.stdout))
	req.Header.Set("Authorization", "Bearer "+fleetToken)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ack chainlog.ReplicaAck
	err = json.NewDecoder(resp.Body).Decode(&ack)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusConflict || !ack.Quarantined || ack.Seq != 30 {
		t.Fatalf("b's rows posted to the collector: %d %+v %v; want 409, quarantined, head seq 30", resp.StatusCode, ack, err)
	}
	postEvents(t, a, "a2", 5)
	waitFor(t, 20*time.Second, "node a is not blocked by the quarantine", func() bool {
		return healthOf(t, c, a).Forward.Blocked["same"] != ""
	})
	if ack, err := collectorHead(c, col, "same"); err != nil || ack.Seq != 30 || !ack.Quarantined {
		t.Fatalf("the collector's head of same: %+v %v; want seq 30, quarantined", ack, err)
	}

	code, rep, vr := verifyReport(t, bin, env, dsn)
	if code != 1 || rep.Status != chainlog.StatusInvalid || !strings.Contains(vr.stdout, "fork evidence") {
		t.Fatalf("verify-integrity with an unresolved fork: exit %d, status %s\n%s%s", code, rep.Status, vr.stdout, vr.stderr)
	}
	if r := runChainlog(t, bin, env, "verify-integrity", "--store", dsn); r.code != 1 || !strings.Contains(r.stdout, "INVALID") ||
		!strings.Contains(r.stdout, "fork evidence") {
		t.Fatalf("verify-integrity: exit %d, want 1, INVALID for fork evidence\n%s%s", r.code, r.stdout, r.stderr)
	}

	// b is taken out of the fleet; the operator resolves the fork.
	terminate(t, b)
	if r := runChainlog(t, bin, env, "forks", "resolve", "--store", dsn, "--node-id", "same", "--actor", "a", "--reason", "r"); r.code != 0 {
		t.Fatalf("forks resolve: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runChainlog(t, bin, env, "forks", "--store", dsn, "--json")
	forks = nil
	if err := json.Unmarshal([]byte(r.stdout), &forks); err != nil || r.code != 0 {
		t.Fatalf("forks --json after resolve: exit %d (want 0), %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if len(forks) != 1 || !forks[0].Resolved() || forks[0].ResolvedBy != "a" || forks[0].Resolution != "r" {
		t.Fatalf("forks after resolve: %+v, want the one fork resolved by a for r", forks)
	}

	// a's forwarder waits out the quarantine before it asks again; a
	// restarted a asks at once and forwards the rest of its chain.
	terminate(t, a)
	a = startNode(t, bin, envA, pathA, "same", col.url)
	waitCaughtUp(t, c, col, "same", 35, 20*time.Second)
	terminate(t, a)
	terminate(t, col)
	requireFleetEqual(t, bin, env, dsn, map[string]string{"same": pathA})
	t.Logf("%v", time.Since(began).Round(time.Millisecond))
}

// countingProxy carries TCP connections to a target and counts the bytes
// it carries towards it.
type countingProxy struct {
	addr string
	up   atomic.Int64
}

func startByteProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{addr: ln.Addr().String()}
	var conns sync.WaitGroup
	t.Cleanup(func() { ln.Close(); conns.Wait() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Go(func() {
				defer in.Close()
				out, err := net.Dial("tcp", target)
				if err != nil {
					return // the collector is down: the node sees the connection closed
				}
				defer out.Close()
				done := make(chan struct{})
				go func() {
					_, _ = io.Copy(in, out)
					in.Close()
					close(done)
				}()
				_, _ = io.Copy(countingWriter{out, &p.up}, in)
				out.Close()
				<-done
			})
		}
	}()
	return p
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}
