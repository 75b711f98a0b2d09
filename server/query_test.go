package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"chainlog"
)

// eventsPage is the body of GET /v1/events.
type eventsPage struct {
	Events []record `json:"events"`
	Next   *string  `json:"next"`
}

// record is a stored event's JSON form, as a client reads it.
type record struct {
	ID            string          `json:"id"`
	AgentType     string          `json:"agent_type"`
	NodeID        string          `json:"node_id"`
	AgentID       string          `json:"agent_id"`
	SessionID     *string         `json:"session_id"`
	WorkspaceID   *string         `json:"workspace_id"`
	EventType     string          `json:"event_type"`
	TS            string          `json:"ts"`
	Data          json.RawMessage `json:"data"`
	CostUSD       *float64        `json:"cost_usd"`
	TokenCount    *int64          `json:"token_count"`
	Model         *string         `json:"model"`
	CreatedAt     string          `json:"created_at"`
	ChainSeq      *int64          `json:"chain_seq"`
	ChainPrevHash *string         `json:"chain_prev_hash"`
	ChainHash     *string         `json:"chain_hash"`
	PayloadDigest *string         `json:"payload_digest"`
	LeafIndex     *int64          `json:"leaf_index"`
}

func getPage(t *testing.T, d *daemon, query string) eventsPage {
	t.Helper()
	r := d.get(t, "/v1/events?"+query)
	if r.status != http.StatusOK {
		t.Fatalf("GET /v1/events?%s = %s", query, r)
	}
	var p eventsPage
	decodeJSON(t, r, &p)
	if p.Events == nil {
		t.Fatalf("GET /v1/events?%s: events is %s; want an array", query, r.body)
	}
	return p
}

func recordIDs(rs []record) []string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids
}

// walkPages follows next from the first page of query and returns every
// id and the number of pages.
func walkPages(t *testing.T, d *daemon, query string, limit int) ([]string, int) {
	t.Helper()
	var ids []string
	pages := 0
	after := ""
	for {
		q := query + fmt.Sprintf("&limit=%d", limit) + after
		p := getPage(t, d, q)
		pages++
		if len(p.Events) > limit {
			t.Fatalf("page %d of %q: %d events; want at most %d", pages, query, len(p.Events), limit)
		}
		ids = append(ids, recordIDs(p.Events)...)
		if p.Next == nil {
			return ids, pages
		}
		if len(p.Events) != limit {
			t.Errorf("page %d of %q: %d events with a next cursor; want a full page of %d", pages, query, len(p.Events), limit)
		}
		after = "&after=" + url.QueryEscape(*p.Next)
		if pages > 1000 {
			t.Fatal("pagination does not end")
		}
	}
}

// queryFixture posts 130 events of two nodes in four requests and returns
// them in commit order.
func queryFixture(t *testing.T) (*daemon, []spec) {
	t.Helper()
	d := newDaemon(t, daemonConfig{})
	var all []spec
	for _, batch := range [][]spec{specs("n1", 0, 40), specs("n2", 0, 25), specs("n1", 40, 80), specs("n2", 25, 50)} {
		wantPosted(t, d.do(t, http.MethodPost, "/v1/events", []byte(ndjson(batch)), "Content-Type", "application/x-ndjson"),
			postResult{len(batch), 0})
		all = append(all, batch...)
	}
	return d, all
}

func filterIDs(all []spec, keep func(spec) bool) []string {
	var ids []string
	for _, s := range all {
		if keep(s) {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

func TestGetEventsFilters(t *testing.T) {
	t.Parallel()
	d, all := queryFixture(t)
	ts := func(i int) string { return mkSpec("n1", i).TS }
	sess := func(s spec, want string) bool { return s.Session != nil && *s.Session == want }
	tests := []struct {
		query string
		keep  func(spec) bool
	}{
		{"", func(spec) bool { return true }},
		{"node_id=n2", func(s spec) bool { return s.Node == "n2" }},
		{"session_id=sess-1", func(s spec) bool { return sess(s, "sess-1") }},
		{"agent_id=agent-2", func(s spec) bool { return s.Agent == "agent-2" }},
		{"event_type=llm_usage", func(s spec) bool { return s.Type == "llm_usage" }},
		{"since=" + url.QueryEscape(ts(30)), func(s spec) bool { return s.TS >= ts(30) }},
		{"until=" + url.QueryEscape(ts(7)), func(s spec) bool { return s.TS < ts(7) }},
		{"since=" + ts(10) + "&until=" + ts(20), func(s spec) bool { return s.TS >= ts(10) && s.TS < ts(20) }},
		{"node_id=n1&agent_id=agent-0&event_type=session.start", func(s spec) bool {
			return s.Node == "n1" && s.Agent == "agent-0" && s.Type == "session.start"
		}},
		{"node_id=n2&session_id=sess-3&since=" + ts(5), func(s spec) bool {
			return s.Node == "n2" && sess(s, "sess-3") && s.TS >= ts(5)
		}},
		{"node_id=nope", func(spec) bool { return false }},
		{"event_type=tool_call&until=" + ts(0), func(spec) bool { return false }},
		{"node_id=", func(spec) bool { return true }}, // empty: no filter
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			want := filterIDs(all, tt.keep)
			p := getPage(t, d, tt.query+"&limit=1000")
			if got := recordIDs(p.Events); !slices.Equal(got, want) {
				t.Errorf("ids = %q (%d); want %q (%d)", got, len(got), want, len(want))
			}
			if p.Next != nil {
				t.Errorf("next = %q on the only page; want null", *p.Next)
			}
			// The same through small pages.
			if got, _ := walkPages(t, d, tt.query, 6); !slices.Equal(got, want) {
				t.Errorf("paged ids = %q; want %q", got, want)
			}
		})
	}
}

// TestGetEventsRecord checks one returned record field by field against
// the store's export.
func TestGetEventsRecord(t *testing.T) {
	t.Parallel()
	d, _ := queryFixture(t)
	p := getPage(t, d, "node_id=n2&limit=3")
	if len(p.Events) != 3 {
		t.Fatalf("%d events; want 3", len(p.Events))
	}
	rec := p.Events[2]
	stored, err := d.ro.Event(t.Context(), "n2/2")
	if err != nil {
		t.Fatal(err)
	}
	want := stored
	if rec.ID != want.ID || *rec.ChainSeq != 3 || *rec.ChainHash != want.Hash ||
		*rec.ChainPrevHash != want.PrevHash || *rec.PayloadDigest != want.PayloadDigest ||
		string(rec.Data) != `{"k":"n2/2"}` || *rec.CostUSD != 0.25 || *rec.TokenCount != 12 || *rec.Model != "m" ||
		rec.CreatedAt != want.CreatedAt || rec.SessionID == nil || *rec.SessionID != "sess-2" || rec.WorkspaceID != nil ||
		rec.AgentType != chainlog.DefaultAgentType {
		t.Errorf("record = %+v; want %+v", rec, want)
	}
	// A NULL session_id is null.
	p = getPage(t, d, "node_id=n1&limit=5")
	if p.Events[4].SessionID != nil {
		t.Errorf("n1/4 session_id = %q; want null", *p.Events[4].SessionID)
	}
}

func TestGetEventsPagination(t *testing.T) {
	t.Parallel()
	d, all := queryFixture(t)
	allIDs := filterIDs(all, func(spec) bool { return true })
	tests := []struct {
		query     string
		limit     int
		wantPages int
	}{
		{"", 7, 19},  // 130 = 18*7 + 4
		{"", 13, 10}, // an exact multiple: no empty last page
		{"", 130, 1},
		{"", 129, 2},
		{"", 1, 130},
		{"", 1000, 1},
		{"node_id=n1", 9, 9}, // 80 = 8*9 + 8
		{"node_id=n2&event_type=tool_call", 4, 5},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s limit %d", tt.query, tt.limit), func(t *testing.T) {
			want := allIDs
			if tt.query != "" {
				want = recordIDs(getPage(t, d, tt.query+"&limit=1000").Events)
			}
			got, pages := walkPages(t, d, tt.query, tt.limit)
			if !slices.Equal(got, want) {
				t.Errorf("ids over pages = %q; want %q", got, want)
			}
			seen := map[string]bool{}
			for _, id := range got {
				if seen[id] {
					t.Errorf("id %s on two pages", id)
				}
				seen[id] = true
			}
			if pages != tt.wantPages {
				t.Errorf("%d pages; want %d", pages, tt.wantPages)
			}
		})
	}
	t.Run("default limit", func(t *testing.T) {
		p := getPage(t, d, "")
		if len(p.Events) != 100 || p.Next == nil {
			t.Fatalf("first page without limit: %d events, next %v; want 100 and a cursor", len(p.Events), p.Next)
		}
		if got := recordIDs(p.Events); !slices.Equal(got, allIDs[:100]) {
			t.Errorf("first page = %q; want the first 100", got)
		}
	})
}

// TestGetEventsPaginationWhileWriting: events committed while a client
// pages through come after the cursor, so the walk sees each event once.
func TestGetEventsPaginationWhileWriting(t *testing.T) {
	t.Parallel()
	d, all := queryFixture(t)
	want := filterIDs(all, func(spec) bool { return true })
	var got []string
	after := ""
	for page := 0; ; page++ {
		p := getPage(t, d, "limit=25"+after)
		got = append(got, recordIDs(p.Events)...)
		if page < 3 {
			more := specs(fmt.Sprint("late", page), 0, 3)
			wantPosted(t, d.post(t, specArray(more)), postResult{3, 0})
			want = append(want, filterIDs(more, func(spec) bool { return true })...)
		}
		if p.Next == nil {
			break
		}
		after = "&after=" + *p.Next
	}
	if !slices.Equal(got, want) {
		t.Errorf("ids = %q; want %q", got, want)
	}
}

func TestGetEventsBadParams(t *testing.T) {
	t.Parallel()
	d, _ := queryFixture(t)
	tests := []struct {
		query   string
		want    int
		mention string
	}{
		{"limit=0", 400, "limit"},
		{"limit=1001", 400, "limit"},
		{"limit=-1", 400, "limit"},
		{"limit=ten", 400, "limit"},
		{"limit=1.5", 400, "limit"},
		{"limit=99999999999999999999", 400, "limit"},
		{"after=abc", 400, "after"},
		{"after=-1", 400, "after"},
		{"after=1.5", 400, "after"},
		{"after=99999999999999999999", 400, "after"},
		{"after=", 200, ""}, // empty: the first page
		{"after=0", 200, ""},
		{"limit=1000", 200, ""},
		{"limit=1", 200, ""},
		{"after=9223372036854775807", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := d.get(t, "/v1/events?"+tt.query)
			if tt.want != http.StatusOK {
				b := wantError(t, r, tt.want)
				if !strings.Contains(b.Error, tt.mention) {
					t.Errorf("error = %q; want it to mention %q", b.Error, tt.mention)
				}
				return
			}
			if r.status != http.StatusOK {
				t.Fatalf("GET /v1/events?%s = %s; want 200", tt.query, r)
			}
		})
	}
	p := getPage(t, d, "after=9223372036854775807")
	if len(p.Events) != 0 || p.Next != nil {
		t.Errorf("after the last row: %d events, next %v; want none, null", len(p.Events), p.Next)
	}
	if r := d.get(t, "/v1/events?limit=1"); !strings.Contains(string(r.body), `"next":"`) {
		t.Errorf("next cursor is not a JSON string: %s", r.body)
	}
}
