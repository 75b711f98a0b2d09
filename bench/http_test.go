package bench

import "testing"

// TestHTTPLoads: each HTTP load is sent whole, and every event is
// acknowledged once committed and stored as a new event (httpRun checks
// the tree's size): the OTLP records become one event each.
func TestHTTPLoads(t *testing.T) {
	for _, tc := range []struct {
		name    string
		make    func() (*load, error)
		clients int
	}{
		{"ndjson", func() (*load, error) { return ndjsonLoad(1100, 512) }, 3},
		{"otlp", func() (*load, error) { return otlpLoad(1100, 512) }, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := tc.make()
			if err != nil {
				t.Fatal(err)
			}
			if got := len(l.bodies); got != 3 || l.events[2] != 1100-2*512 {
				t.Fatalf("%d bodies of %v events; want 3: 512, 512, 76", got, l.events)
			}
			rate, err := httpRun(t.Context(), t.TempDir(), l, tc.clients)
			if err != nil {
				t.Fatal(err)
			}
			if rate <= 0 {
				t.Errorf("rate %v", rate)
			}
		})
	}
}
