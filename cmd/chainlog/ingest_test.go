package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestIngestListsBadLinesInOrder validates an input of many chunks, decoded
// on several goroutines, with bad lines of each kind spread over it (bad
// JSON, a missing field, an over-long line, blank lines between): every
// bad line is listed once, in input order, with its line number and field,
// and nothing is committed. With --skip-invalid the good lines go in.
func TestIngestListsBadLinesInOrder(t *testing.T) {
	dir := t.TempDir()
	var in strings.Builder
	type bad struct {
		line  int
		field string
	}
	var want []bad
	good := 0
	for n := 1; n <= 2000; n++ {
		switch {
		case n%331 == 0:
			in.WriteString(`{"id":"x` + fmt.Sprint(n) + `","node_id":"n","event_type":"e"}` + "\n") // no ts
			want = append(want, bad{n, "ts"})
		case n%257 == 0:
			in.WriteString(`{"id": oops}` + "\n")
			want = append(want, bad{n, ""})
		case n == 1500:
			in.WriteString(`{"id":"long","node_id":"n","event_type":"e","ts":"t","data":"` + strings.Repeat("a", 300) + `"}` + "\n")
			want = append(want, bad{n, ""})
		case n%100 == 0:
			in.WriteString("  \n")
		default:
			fmt.Fprintf(&in, `{"id":"e%d","node_id":"n%d","event_type":"e","ts":"t"}`+"\n", n, n%3)
			good++
		}
	}
	input := writeFile(t, dir, "in.ndjson", in.String())
	store := filepath.Join(dir, "s.db")

	r := runCLI(t, nil, "", "ingest", "--store", store, "--max-line-bytes", "256", "--json", input)
	if r.code == exitOK {
		t.Fatalf("ingest of an input with bad lines: exit 0")
	}
	var sum struct {
		Inserted, Rejected int
		Errors             []struct {
			Line  int
			Field string
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("ingest --json: %v\n%s\n%s", err, r.stdout, r.stderr)
	}
	if sum.Inserted != 0 || sum.Rejected != len(want) || len(sum.Errors) != len(want) {
		t.Fatalf("inserted %d, rejected %d, %d errors; want 0, %d, %d", sum.Inserted, sum.Rejected, len(sum.Errors), len(want), len(want))
	}
	for i, w := range want {
		if got := sum.Errors[i]; got.Line != w.line || got.Field != w.field {
			t.Errorf("error %d: line %d field %q; want line %d field %q", i, got.Line, got.Field, w.line, w.field)
		}
	}

	r = runCLI(t, nil, "", "ingest", "--store", store, "--max-line-bytes", "256", "--skip-invalid", "--json", input)
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("ingest --skip-invalid --json: %v\n%s\n%s", err, r.stdout, r.stderr)
	}
	if sum.Inserted != good || sum.Rejected != len(want) {
		t.Errorf("--skip-invalid: inserted %d, rejected %d; want %d, %d", sum.Inserted, sum.Rejected, good, len(want))
	}
}
