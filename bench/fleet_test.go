package bench

import (
	"context"
	"os"
	"testing"
	"time"

	"chainlog/internal/pgtest"
)

// TestFleet runs a tiny fleet, two nodes at 200 events/s for a second,
// into a collector on the PostgreSQL server CHAINLOG_TEST_POSTGRES names:
// the collector ends with every node's chain, and verifies.
func TestFleet(t *testing.T) {
	base := os.Getenv(pgtest.Env)
	if base == "" {
		t.Skipf("%s is not set: the fleet simulation's collector needs a PostgreSQL server (e.g. %s=postgres://postgres@127.0.0.1:5432/test?sslmode=disable)", pgtest.Env, pgtest.Env)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Fleet(ctx, FleetConfig{Nodes: 2, Rate: 200, Duration: time.Second, Store: base, Dir: t.TempDir(), CatchUp: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Verified) != 1 || res.Verified[0] != "valid" {
		t.Errorf("collector verified %v, want [valid]", res.Verified)
	}
	byName := map[string]Measure{}
	for _, m := range res.Measures {
		byName[m.Name] = m
	}
	// 2 × 200 events/s for 1 s, committed every 100 ms: about 400.
	n := byName["events at the collector"].Median
	if n < 300 || n > 400 {
		t.Errorf("the collector holds %v events, want about 400", n)
	}
	if r := byName["nodes' commits, all nodes"].Median; r < 300 || r > 420 {
		t.Errorf("nodes committed %v events/s, want about 400", r)
	}
	if m, ok := byName["node commit to collector commit (heads), max"]; !ok || m.Median <= 0 {
		t.Errorf("no forwarding lag measured: %+v", m)
	}
}
