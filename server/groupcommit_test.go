package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"chainlog"
	"chainlog/server"
)

// TestGroupCommitConcurrentClients has 200 clients post concurrently over a
// real HTTP server: single events, small arrays and NDJSON, re-sends of
// their own acknowledged events, and events another client posts at the
// same time. Every acknowledged event is stored exactly once, duplicates
// are counted once per re-delivery, concurrent requests share commits, and
// the store verifies.
func TestGroupCommitConcurrentClients(t *testing.T) {
	t.Parallel()
	var fake *fakeIngester
	d := newDaemon(t, daemonConfig{Wrap: func(st server.Ingester) server.Ingester { fake = newFake(st, false); return fake }})
	const clients, shared = 200, 100

	type request struct {
		ctype string
		body  string
		ids   []string
	}
	// work[c] is client c's requests, in order. Built here: the goroutines
	// only send.
	work := make([][]request, clients)
	for c := range clients {
		node := fmt.Sprint("node-", c%8)
		s := specs(node, c*10, c*10+4)
		// Event 4 of shared is posted by clients k and k+100.
		sh := mkSpec("shared", c%shared)
		work[c] = []request{
			{"application/json", s[0].JSON(), []string{s[0].ID}},
			{"application/json", specArray(s[1:3]), []string{s[1].ID, s[2].ID}},
			{"application/x-ndjson", ndjson(s[3:4]), []string{s[3].ID}},
			{"application/json", sh.JSON(), []string{sh.ID}},
			{"application/json", s[0].JSON(), []string{s[0].ID}}, // re-send
		}
	}

	var mu sync.Mutex
	var total postResult
	acked := map[string]int{} // id -> acknowledgements
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i, req := range work[c] {
				r, err := d.tryDo(t.Context(), http.MethodPost, "/v1/events", []byte(req.body), "Content-Type", req.ctype)
				if err != nil {
					t.Errorf("client %d request %d: %v", c, i, err)
					return
				}
				if r.status != http.StatusOK {
					t.Errorf("client %d request %d: %s", c, i, r)
					return
				}
				var res postResult
				if err := json.Unmarshal(r.body, &res); err != nil {
					t.Errorf("client %d request %d: %v", c, i, err)
					return
				}
				if res.Accepted+res.Duplicates != len(req.ids) {
					t.Errorf("client %d request %d: %+v for %d events", c, i, res, len(req.ids))
				}
				if i == 4 && res != (postResult{0, 1}) {
					t.Errorf("client %d re-send: %+v; want 1 duplicate", c, res)
				}
				mu.Lock()
				total.Accepted += res.Accepted
				total.Duplicates += res.Duplicates
				for _, id := range req.ids {
					acked[id]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	const unique = clients*4 + shared
	const requests = clients * 5
	// Re-delivered: every re-send, and each shared event's second posting.
	const dups = clients + clients - shared
	if want := (postResult{unique, dups}); total != want {
		t.Errorf("sum of answers = %+v; want %+v", total, want)
	}
	if len(acked) != unique {
		t.Errorf("%d distinct ids acknowledged; want %d", len(acked), unique)
	}
	stored := map[string]int{}
	for _, id := range storedIDs(t, d.path) {
		stored[id]++
	}
	for id := range acked {
		if stored[id] != 1 {
			t.Errorf("acknowledged id %s stored %d times; want once", id, stored[id])
		}
	}
	if len(stored) != unique {
		t.Errorf("%d ids stored; want %d", len(stored), unique)
	}

	calls := fake.Calls()
	merged, maxGroups := 0, 0
	for _, c := range calls {
		merged += len(c)
		maxGroups = max(maxGroups, len(c))
	}
	t.Logf("%d requests in %d commits, at most %d in one", requests, len(calls), maxGroups)
	if merged != requests {
		t.Errorf("%d requests committed; want %d", merged, requests)
	}
	if len(calls) >= requests {
		t.Errorf("%d commits for %d requests; want fewer (group commit)", len(calls), requests)
	}
	m := d.scrape(t)
	for name, want := range map[string]float64{
		"chainlog_commit_batch_requests_count": float64(len(calls)),
		"chainlog_commit_batch_requests_sum":   requests,
		"chainlog_commit_batch_events_sum":     clients * 6,
		"chainlog_events_accepted_total":       unique,
		"chainlog_events_duplicate_total":      dups,
		"chainlog_queue_events":                0,
	} {
		if m[name] != want {
			t.Errorf("%s = %v; want %v", name, m[name], want)
		}
	}

	rep := verifyPath(t, d.path, "")
	if rep.Status != chainlog.StatusValid || rep.Checked != unique || rep.Tree == nil || rep.Tree.Leaves != unique {
		t.Errorf("verify-integrity: %s, %d checked, tree %+v; want valid, %d", rep.Status, rep.Checked, rep.Tree, unique)
	}
	got, body := getReport(t, d, "")
	if got.Status != chainlog.StatusValid || got.Checked != unique {
		t.Errorf("GET /v1/integrity = %s; want valid, %d checked", body, unique)
	}
}
