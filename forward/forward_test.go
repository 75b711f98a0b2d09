package forward_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"chainlog"
	"chainlog/forward"
	"chainlog/internal/chainlogtest"
	"chainlog/server"
	"chainlog/sqlite"
)

const token = "fleet-token"

// collector is a collector's HTTP endpoint on a SQLite store.
type collector struct {
	store *sqlite.Store
	path  string
	srv   *httptest.Server
}

func openStore(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// newCollector serves a collector on a new store; with ln, on that
// listener; with tc, over TLS.
func newCollector(t *testing.T, ln net.Listener, tc *tls.Config, requireBinding bool) *collector {
	return newCollectorToken(t, ln, tc, requireBinding, token)
}

// newCollectorToken is newCollector with its bearer token; "" for none
// (mutual TLS alone).
func newCollectorToken(t *testing.T, ln net.Listener, tc *tls.Config, requireBinding bool, token string) *collector {
	t.Helper()
	c := &collector{path: filepath.Join(t.TempDir(), "collector.db")}
	c.store = openStore(t, c.path)
	h := server.New(server.Config{Replica: c.store, Token: token, RequireNodeBinding: requireBinding})
	c.srv = httptest.NewUnstartedServer(h)
	if ln != nil {
		c.srv.Listener.Close()
		c.srv.Listener = ln
	}
	if tc != nil {
		c.srv.TLS = tc
		c.srv.StartTLS()
	} else {
		c.srv.Start()
	}
	t.Cleanup(c.srv.Close)
	return c
}

// node is a node's store, with its read-only view for the forwarder.
type node struct {
	store *sqlite.Store
	ro    *sqlite.Store
}

func newNode(t *testing.T) *node {
	t.Helper()
	path := filepath.Join(t.TempDir(), "node.db")
	n := &node{store: openStore(t, path)}
	ro, err := sqlite.OpenReadOnly(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	n.ro = ro
	return n
}

// ingest commits count events of nodeID, ids prefix-0000..., in batches.
func ingest(t *testing.T, st chainlog.Store, nodeID, prefix string, count int) {
	t.Helper()
	var evs []chainlog.Event
	for i := range count {
		line := fmt.Sprintf(`{"id":"%s-%05d","node_id":%q,"event_type":"tool.call","ts":"2026-03-01T12:00:00Z","data":{"i":%d},"model":"m","token_count":%d}`,
			prefix, i, nodeID, i, i)
		e, err := chainlog.DecodeEvent([]byte(line), "")
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
		if len(evs) == 700 || i == count-1 {
			if _, err := st.Ingest(t.Context(), evs); err != nil {
				t.Fatal(err)
			}
			evs = evs[:0]
		}
	}
}

func startForwarder(t *testing.T, cfg forward.Config) *forward.Forwarder {
	t.Helper()
	cfg.MinBackoff, cfg.MaxBackoff = cmpOr(cfg.MinBackoff, 10*time.Millisecond), cmpOr(cfg.MaxBackoff, 100*time.Millisecond)
	cfg.Poll = 20 * time.Millisecond
	fw, err := forward.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fw.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return fw
}

type tlog struct{ t *testing.T }

func (l tlog) Write(p []byte) (int, error) { l.t.Log(strings.TrimSpace(string(p))); return len(p), nil }

func cmpOr(a, b time.Duration) time.Duration {
	if a != 0 {
		return a
	}
	return b
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func heads(t *testing.T, st chainlog.Source, node string) chainlog.Head {
	t.Helper()
	hs, err := st.Heads(t.Context(), node)
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) == 0 {
		return chainlog.Head{NodeID: node}
	}
	return hs[0]
}

// caughtUp waits until the collector's head of each node is the node's.
func caughtUp(t *testing.T, n *node, c *collector, nodes ...string) {
	t.Helper()
	waitFor(t, "the collector to catch up", func() bool {
		for _, id := range nodes {
			if heads(t, c.store, id).Hash != heads(t, n.store, id).Hash {
				return false
			}
		}
		return true
	})
}

// sameChains checks that the collector holds each node's chain row for row.
func sameChains(t *testing.T, n *node, c *collector, nodes ...string) {
	t.Helper()
	for _, id := range nodes {
		var want, got []chainlog.StoredEvent
		for st, rows := range map[chainlog.Store]*[]chainlog.StoredEvent{n.store: &want, c.store: &got} {
			if err := st.Export(t.Context(), id, func(e *chainlog.StoredEvent) error { *rows = append(*rows, *e); return nil }); err != nil {
				t.Fatal(err)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("node %s: the collector holds %d rows, the node %d", id, len(got), len(want))
		}
		for i := range want {
			if got[i].ID != want[i].ID || got[i].Seq != want[i].Seq || got[i].Hash != want[i].Hash || got[i].PayloadDigest != want[i].PayloadDigest {
				t.Fatalf("node %s row %d: collector %s %d %s, node %s %d %s", id, i, got[i].ID, got[i].Seq, got[i].Hash, want[i].ID, want[i].Seq, want[i].Hash)
			}
		}
	}
	rep, err := chainlog.VerifyStore(t.Context(), c.store, chainlog.VerifyOptions{})
	if err != nil || rep.Status != chainlog.StatusValid {
		t.Fatalf("collector: VerifyStore = %+v, %v; want VALID", rep, err)
	}
}

func TestForwardCatchesUp(t *testing.T) {
	t.Parallel()
	c := newCollector(t, nil, nil, false)
	n := newNode(t)
	ingest(t, n.store, "n1", "a", 2500)
	ingest(t, n.store, "n2", "b", 300)
	fw := startForwarder(t, forward.Config{URL: c.srv.URL, Token: token, Source: n.ro, Batch: 1000})
	caughtUp(t, n, c, "n1", "n2")
	// The node goes on committing; the forwarder follows.
	ingest(t, n.store, "n1", "c", 50)
	caughtUp(t, n, c, "n1", "n2")
	sameChains(t, n, c, "n1", "n2")
	waitFor(t, "the lag to reach 0", func() bool { s := fw.Status(); return s.LagEvents == 0 && s.LagSeconds == 0 })
	if s := fw.Status(); s.Sent != 2850 || s.Failures != 0 {
		t.Errorf("status = %+v; want 2850 sent, no failure", s)
	}
}

func TestForwardWhileCollectorDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	n := newNode(t)
	fw := startForwarder(t, forward.Config{URL: "http://" + addr, Token: token, Source: n.ro})
	// The node accepts while the collector is down, and knows its lag.
	ingest(t, n.store, "n1", "a", 500)
	waitFor(t, "failed attempts and a lag", func() bool {
		s := fw.Status()
		return s.Failures >= 2 && s.LagEvents == 500 && s.LastError != ""
	})
	ingest(t, n.store, "n1", "b", 100)
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the address %s was taken meanwhile: %v", addr, err)
	}
	c := newCollector(t, ln, nil, false)
	caughtUp(t, n, c, "n1")
	sameChains(t, n, c, "n1")
	waitFor(t, "the lag to reach 0", func() bool { return fw.Status().LagEvents == 0 })
}

func TestForwardResumesAtTheCollectorsHead(t *testing.T) {
	t.Parallel()
	c := newCollector(t, nil, nil, false)
	n := newNode(t)
	ingest(t, n.store, "n1", "a", 1200)
	// The collector took the first 300 earlier (another run of the node).
	var rows []chainlog.StoredEvent
	if err := n.store.Export(t.Context(), "n1", func(e *chainlog.StoredEvent) error { rows = append(rows, *e); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := c.store.Replicate(t.Context(), rows[:300]); err != nil {
		t.Fatal(err)
	}
	fw := startForwarder(t, forward.Config{URL: c.srv.URL, Token: token, Source: n.ro, Batch: 500})
	caughtUp(t, n, c, "n1")
	sameChains(t, n, c, "n1")
	// The row at the collector's head is sent again, for the collector to
	// compare with its own (a duplicate here), then the 900 after it.
	if s := fw.Status(); s.Sent != 901 {
		t.Errorf("sent %d events; want 901: the forwarder resumes at the collector's head", s.Sent)
	}
}

func TestForwardForkQuarantinesTheNode(t *testing.T) {
	t.Parallel()
	c := newCollector(t, nil, nil, false)
	// Another machine claimed n1 first.
	impostor := newNode(t)
	ingest(t, impostor.store, "n1", "x", 5)
	startForwarder(t, forward.Config{URL: c.srv.URL, Token: token, Source: impostor.ro})
	caughtUp(t, impostor, c, "n1")

	n := newNode(t)
	ingest(t, n.store, "n1", "a", 20)
	ingest(t, n.store, "n2", "b", 20)
	fw := startForwarder(t, forward.Config{URL: c.srv.URL, Token: token, Source: n.ro, Quarantine: time.Hour})
	caughtUp(t, n, c, "n2")
	waitFor(t, "n1 blocked", func() bool { return strings.Contains(fw.Status().Blocked["n1"], "quarantined") })
	// The forwarder sent its row at the collector's head (seq 5) again,
	// for the collector to compare: another chain hash at seq 5.
	forks, err := c.store.Forks(t.Context(), "n1")
	if err != nil || len(forks) != 1 || forks[0].Seq != 5 || forks[0].EventID != "a-00004" || forks[0].StoredID != "x-00004" {
		t.Fatalf("forks = %+v, %v; want one at seq 5 between x-00004 and a-00004", forks, err)
	}
	if got := heads(t, c.store, "n1"); got.Seq != 5 {
		t.Errorf("the collector's n1 is at seq %d; want 5, the first history, untouched", got.Seq)
	}
	// n2 is acknowledged; n1 counts whole: the collector holds another
	// history of it.
	waitFor(t, "a lag of n1's 20 events", func() bool { return fw.Status().LagEvents == 20 })
}

func TestForwardMutualTLS(t *testing.T) {
	t.Parallel()
	ca := chainlogtest.NewCA(t, "fleet CA")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	certPEM, keyPEM := ca.Issue(t, "collector", true)
	srvCert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c := newCollectorToken(t, nil, &tls.Config{Certificates: []tls.Certificate{srvCert}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}, true, "")
	client := func(uris ...string) *http.Client {
		cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		if uris != nil {
			cp, kp := ca.Issue(t, "host-1", false, uris...)
			cert, err := tls.X509KeyPair(cp, kp)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	}

	n := newNode(t)
	ingest(t, n.store, "n1", "a", 30)
	ingest(t, n.store, "n2", "b", 30)
	// host-1's certificate is bound to n1 only: n2 is refused.
	fw := startForwarder(t, forward.Config{URL: c.srv.URL, Source: n.ro, Client: client("chainlog-node:n1"), Quarantine: time.Hour,
		Logger: slog.New(slog.NewTextHandler(tlog{t}, nil))})
	caughtUp(t, n, c, "n1")
	waitFor(t, "n2 refused", func() bool { return strings.Contains(fw.Status().LastError, "forbidden node_id") })
	if got := heads(t, c.store, "n2"); got.Seq != 0 {
		t.Errorf("the collector took n2 up to seq %d from a certificate bound to n1", got.Seq)
	}

	// Without a certificate, no connection; with one bound to no node,
	// the collector that requires binding refuses.
	if _, err := client().Get(c.srv.URL + "/v1/replicate?node_id=n1"); err == nil {
		t.Error("a client without a certificate connected")
	}
	resp, err := client("https://example.com/other").Get(c.srv.URL + "/v1/replicate?node_id=n1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "bound to node_ids") {
		t.Errorf("a certificate bound to no node: %d %s; want 403", resp.StatusCode, body)
	}
}

func TestReplicateEndpointRefusals(t *testing.T) {
	t.Parallel()
	c := newCollector(t, nil, nil, false)
	n := newNode(t)
	ingest(t, n.store, "n1", "a", 3)
	var lines []string
	if err := n.store.Export(t.Context(), "n1", func(e *chainlog.StoredEvent) error {
		b, err := e.MarshalJSON()
		lines = append(lines, string(b))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	post := func(body, tok string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, c.srv.URL+"/v1/replicate", strings.NewReader(body))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	forged := strings.Replace(lines[1], `"tool.call"`, `"tool.forged"`, 1)
	tests := []struct {
		name, body, tok string
		code            int
		want            string
	}{
		{"no token", lines[0], "", http.StatusUnauthorized, "bearer token"},
		{"not an exported row", lines[0] + "\n{\"id\":\"x\"}\n", token, http.StatusBadRequest, "line 2: not an exported event"},
		{"empty", "\n", token, http.StatusBadRequest, "no rows"},
		{"forged row", lines[0] + "\n" + forged + "\n", token, http.StatusUnprocessableEntity, `"line":2`},
		{"gap", lines[2] + "\n", token, http.StatusConflict, `"gap":true`},
		{"accepted", lines[0] + "\n" + lines[1] + "\n", token, http.StatusOK, `"inserted":2`},
		{"replayed", strings.Join(lines, "\n"), token, http.StatusOK, `"seq":3,`},
	}
	for _, tt := range tests {
		code, body := post(tt.body, tt.tok)
		if code != tt.code || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d %s; want %d with %s", tt.name, code, body, tt.code, tt.want)
		}
	}
}

// TestForwardBusyCollector: a collector that answers 503 with Retry-After
// is up: the forwarder sends again when asked, and counts no failure.
func TestForwardBusyCollector(t *testing.T) {
	t.Parallel()
	c := newCollector(t, nil, nil, false)
	var busy atomic.Int32
	busy.Store(3)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && busy.Add(-1) >= 0 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":"the daemon holds too many request bytes at once; retry later"}`)
			return
		}
		c.srv.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	n := newNode(t)
	ingest(t, n.store, "n1", "a", 100)
	fw := startForwarder(t, forward.Config{URL: front.URL, Token: token, Source: n.ro})
	caughtUp(t, n, c, "n1")
	if s := fw.Status(); s.Failures != 0 {
		t.Errorf("status = %+v; want no failure from a busy collector", s)
	}
}

// TestForwardLagSeconds: the lag counts from the commit of the oldest
// event the collector lacks.
func TestForwardLagSeconds(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	n := newNode(t)
	ingest(t, n.store, "n1", "a", 10)
	fw := startForwarder(t, forward.Config{URL: "http://" + addr, Token: token, Source: n.ro})
	time.Sleep(1200 * time.Millisecond)
	// The collector was never reached: the lag is every event, counted
	// from the first one's commit.
	if s := fw.Status(); s.LagEvents != 10 || s.LagSeconds < 1 {
		t.Errorf("status = %+v; want a lag of 10 events and at least 1 s", s)
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the address %s was taken meanwhile: %v", addr, err)
	}
	c := newCollector(t, ln, nil, false)
	caughtUp(t, n, c, "n1")
	waitFor(t, "no lag", func() bool { s := fw.Status(); return s.LagEvents == 0 && s.LagSeconds == 0 })
}
