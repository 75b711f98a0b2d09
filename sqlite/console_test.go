package sqlite_test

import (
	"fmt"
	"testing"
	"time"

	"chainlog"
	"chainlog/sqlite"
)

// TestCosts: the rows committed since a time, grouped by the day of their
// ts, model and agent; older commits and the store's own events are left
// out. Each batch is committed on its own day (the store's clock).
func TestCosts(t *testing.T) {
	day0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now := day0
	st := openStore(t, newStorePath(t), sqlite.Options{Now: func() time.Time { return now }})
	defer st.Close()
	ev := func(id, agent, model, ts string, cost float64, tokens int) chainlog.Event {
		return decode(t, fmt.Sprintf(`{"id":%q,"node_id":"n","agent_id":%q,"event_type":"model_call","ts":%q,"model":%q,"cost_usd":%g,"token_count":%d}`,
			id, agent, ts, model, cost, tokens))
	}
	for d := range 5 {
		now = day0.AddDate(0, 0, d)
		ts := now.Format("2006-01-02T15:04:05Z")
		ingest(t, st, ev(fmt.Sprintf("a%d", d), "main", "m1", ts, 1, 10), ev(fmt.Sprintf("b%d", d), "main", "m1", ts, 2, 20),
			ev(fmt.Sprintf("c%d", d), "rev", "m2", ts, 0.5, 5))
	}
	if last, err := st.LastCursor(t.Context()); err != nil || last != 15 {
		t.Errorf("LastCursor = %d, %v; want 15", last, err)
	}
	for _, tc := range []struct {
		name  string
		since time.Time
		days  int
	}{
		{"all", day0.AddDate(0, 0, -10), 5},
		{"last two days", day0.AddDate(0, 0, 3).Add(-time.Hour), 2},
		{"since the last commit", now, 1},
		{"after the last commit", now.Add(time.Second), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := st.Costs(t.Context(), tc.since)
			if err != nil {
				t.Fatal(err)
			}
			var want []chainlog.CostDay
			for d := 5 - tc.days; d < 5; d++ {
				day := day0.AddDate(0, 0, d).Format("2006-01-02")
				want = append(want, chainlog.CostDay{Day: day, Model: "m1", AgentID: "main", CostUSD: 3, Tokens: 30, Events: 2},
					chainlog.CostDay{Day: day, Model: "m2", AgentID: "rev", CostUSD: 0.5, Tokens: 5, Events: 1})
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("Costs = %v; want %v", got, want)
			}
		})
	}
	if at, err := st.CheckpointTime(t.Context()); err != nil || at != "" {
		t.Errorf("CheckpointTime before any checkpoint = %q, %v; want none", at, err)
	}
}
