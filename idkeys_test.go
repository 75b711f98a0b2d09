package chainlog

import (
	"math/rand/v2"
	"testing"
)

func TestIDKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		n    int // keys, all distinct
		dup  int // -1: none; else the index of a key added again at the end
	}{
		{"none", 0, -1},
		{"few, unique", 10, -1},
		{"few, one repeated", 10, 3},
		{"several runs, unique", 3*idKeysRun + 17, -1},
		{"several runs, a key of the first run repeated in the last", 3*idKeysRun + 17, 5},
		{"several runs, a key of the last run repeated", 3*idKeysRun + 17, 3*idKeysRun + 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(1, uint64(tt.n)))
			seen := map[uint64]bool{}
			var k idKeys
			var keys []uint64
			for len(keys) < tt.n {
				x := r.Uint64()
				if seen[x] {
					continue
				}
				seen[x] = true
				keys = append(keys, x)
				k.add(x)
			}
			if tt.dup >= 0 {
				k.add(keys[tt.dup])
			}
			got, err := k.repeated()
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.dup >= 0; got != want {
				t.Errorf("repeated = %v; want %v", got, want)
			}
		})
	}
}
