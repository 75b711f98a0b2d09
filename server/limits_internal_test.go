package server

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestBudget(t *testing.T) {
	t.Parallel()
	b := &budget{max: 100}
	steps := []struct {
		take int64
		give int64
		ok   bool
		used int64
	}{
		{take: 60, ok: true, used: 60},
		{take: 50, ok: false, used: 60}, // does not fit: nothing taken
		{take: 40, ok: true, used: 100},
		{give: 100, used: 0},
		{take: 250, ok: true, used: 250}, // more than the whole budget, with nothing held
		{take: 1, ok: false, used: 250},
		{give: 250, used: 0},
	}
	for i, s := range steps {
		if s.give > 0 {
			b.give(s.give)
		} else if got := b.take(s.take); got != s.ok {
			t.Errorf("step %d: take(%d) = %v; want %v", i, s.take, got, s.ok)
		}
		if got := b.used.Load(); got != s.used {
			t.Errorf("step %d: used = %d; want %d", i, got, s.used)
		}
	}
}

func TestBudgetReader(t *testing.T) {
	t.Parallel()
	b := &budget{max: 1000}
	b.take(400) // another request holds 400
	// A body that fits in what is left is read whole, even with buffers
	// larger than it.
	br := &budgetReader{r: strings.NewReader(strings.Repeat("a", 600)), b: b}
	got, err := readBody(br, -1)
	if err != nil || len(got) != 600 {
		t.Fatalf("a 600-byte body with 600 left: %d bytes, %v", len(got), err)
	}
	if br.held < 600 || b.used.Load() != 400+br.held {
		t.Errorf("held %d, used %d", br.held, b.used.Load())
	}
	b.give(br.held)
	// One byte more does not fit.
	br = &budgetReader{r: strings.NewReader(strings.Repeat("a", 601)), b: b}
	if _, err := io.ReadAll(br); !errors.Is(err, errBudget) {
		t.Fatalf("a 601-byte body with 600 left: %v; want errBudget", err)
	}
	b.give(br.held)
	if got := b.used.Load(); got != 400 {
		t.Errorf("used = %d after giving back; want 400", got)
	}
}
