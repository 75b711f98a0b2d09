package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"chainlog"
	"chainlog/sqlite"
)

// changeLine is input line n of changeInput.
func changeLine(n int) string {
	return fmt.Sprintf(`{"id":"e%05d","node_id":"n%d","event_type":"e","ts":"t"}`, n, n%3)
}

// changeInput is lines good events, one a line.
func changeInput(lines int) string {
	var b strings.Builder
	for n := 1; n <= lines; n++ {
		b.WriteString(changeLine(n) + "\n")
	}
	return b.String()
}

// storedIDs returns the ids of a store's events.
func storedIDs(t *testing.T, path string) map[string]bool {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids := map[string]bool{}
	err = st.Export(ctx, "", func(r *chainlog.StoredEvent) error {
		ids[r.ID] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestIngestFileChangedBetweenPasses changes the input file after ingest
// validated it and before it commits it. Appended bytes are not read and
// the summary says how many there were; a change within the validated
// bytes stops the commit at the first batch that differs, and the summary
// says exactly what was stored.
func TestIngestFileChangedBetweenPasses(t *testing.T) {
	const lines = 2500 // batches of 1000, 1000 and 500 lines
	tests := []struct {
		name   string
		change func(t *testing.T, name string)
		code   int
		// stored is how many of the input's first lines are stored;
		// the others are not.
		stored   int
		unread   int64
		inStderr string
	}{{
		name: "bad line appended",
		change: func(t *testing.T, name string) {
			appendTo(t, name, "{\"id\": oops}\n"+changeLine(lines+1)+"\n")
		},
		code: exitOK, stored: lines,
		unread:   int64(len("{\"id\": oops}\n" + changeLine(lines+1) + "\n")),
		inStderr: "bytes after it was validated; they were not read",
	}, {
		name: "good lines appended to a last line without a newline",
		change: func(t *testing.T, name string) {
			appendTo(t, name, "\n"+changeLine(lines+1)+"\n")
		},
		code: exitOK, stored: lines, unread: int64(len(changeLine(lines+1)) + 2),
		inStderr: "the input grew by",
	}, {
		name: "a line of the second batch changed",
		change: func(t *testing.T, name string) {
			replaceIn(t, name, changeLine(1500), strings.Replace(changeLine(1500), "e01500", "x01500", 1))
		},
		code: exitError, stored: 1000,
		inStderr: "the input changed after it was validated: lines 1001 to 2000 differ from the validated ones",
	}, {
		name: "a line of the first batch changed",
		change: func(t *testing.T, name string) {
			replaceIn(t, name, changeLine(7), strings.Replace(changeLine(7), "e00007", "x00007", 1))
		},
		code: exitError, stored: 0,
		inStderr: "the input changed after it was validated: lines 1 to 1000 differ from the validated ones",
	}, {
		name: "a line of the last batch made invalid",
		change: func(t *testing.T, name string) {
			replaceIn(t, name, changeLine(2100), strings.Replace(changeLine(2100), `"ts":"t"}`, `"ts":"t",`, 1))
		},
		code: exitError, stored: 2000,
		inStderr: "the input changed after it was validated: line 2100:",
	}, {
		name: "a line of the last batch changed",
		change: func(t *testing.T, name string) {
			replaceIn(t, name, changeLine(2400), strings.Replace(changeLine(2400), "e02400", "x02400", 1))
		},
		code: exitError, stored: 2000,
		inStderr: "lines 2001 to 2500 differ from the validated ones",
	}, {
		name: "truncated",
		change: func(t *testing.T, name string) {
			if err := os.Truncate(name, int64(1200*(len(changeLine(1))+1))); err != nil {
				t.Fatal(err)
			}
		},
		code: exitError, stored: 1000,
		inStderr: "2500 lines were validated, 1200 are left",
	}, {
		name: "truncated and appended to the same length",
		change: func(t *testing.T, name string) {
			if err := os.Truncate(name, int64(2000*(len(changeLine(1))+1))); err != nil {
				t.Fatal(err)
			}
			appendTo(t, name, strings.Repeat(" ", 500*(len(changeLine(1))+1)-1)+"\n")
		},
		code: exitError, stored: 2000,
		inStderr: "2500 lines were validated, 2000 are left",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			content := changeInput(lines)
			if strings.Contains(tt.name, "without a newline") {
				content = strings.TrimSuffix(content, "\n")
			}
			input := writeFile(t, dir, "in.ndjson", content)
			store := filepath.Join(dir, "s.db")
			setAfterValidate(t, func(name string) {
				if name != input {
					t.Errorf("afterValidate(%q); want %q", name, input)
				}
				tt.change(t, name)
			})
			r := runCLI(t, nil, "", "ingest", "--store", store, "--json", input)
			if r.code != tt.code {
				t.Fatalf("exit %d; want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			var sum ingestSummary
			if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
				t.Fatalf("summary: %v\nstdout: %s\nstderr: %s", err, r.stdout, r.stderr)
			}
			if sum.Inserted != tt.stored || sum.Duplicates != 0 || sum.Rejected != 0 || sum.UnreadBytes != tt.unread || sum.Committed != (tt.stored > 0) {
				t.Errorf("summary %+v; want inserted %d, unread_bytes %d", sum, tt.stored, tt.unread)
			}
			if !strings.Contains(r.stderr, tt.inStderr) {
				t.Errorf("stderr %q does not say %q", r.stderr, tt.inStderr)
			}
			if grew := fmt.Sprintf("the input grew by %d bytes", tt.unread); tt.unread > 0 && !strings.Contains(r.stderr, grew) {
				t.Errorf("stderr %q does not say %q", r.stderr, grew)
			}
			if strings.Contains(r.stderr, "nothing was stored") {
				t.Errorf("stderr says nothing was stored: %q", r.stderr)
			}
			ids := storedIDs(t, store)
			if len(ids) != tt.stored {
				t.Errorf("%d events stored; want %d", len(ids), tt.stored)
			}
			for n := 1; n <= tt.stored; n++ {
				if id := fmt.Sprintf("e%05d", n); !ids[id] {
					t.Fatalf("event %s is not stored", id)
				}
			}

			// The human summary says the same.
			setAfterValidate(t, nil)
			store2 := filepath.Join(dir, "s2.db")
			writeFile(t, dir, "in.ndjson", content)
			setAfterValidate(t, func(name string) { tt.change(t, name) })
			r = runCLI(t, nil, "", "ingest", "--store", store2, input)
			want := fmt.Sprintf("inserted %d, duplicates 0, rejected 0\n", tt.stored)
			if r.code != tt.code || r.stdout != want || !strings.Contains(r.stderr, tt.inStderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr with %q", r.code, r.stdout, r.stderr, tt.code, want, tt.inStderr)
			}
		})
	}
}

// TestIngestServerFileChangedBetweenPasses is the same with --server: the
// batches posted are the validated lines, up to the first that differs.
func TestIngestServerFileChangedBetweenPasses(t *testing.T) {
	var mu sync.Mutex
	var posted []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int
		sc := bufio.NewScanner(r.Body)
		mu.Lock()
		for sc.Scan() {
			posted = append(posted, sc.Text())
			n++
		}
		mu.Unlock()
		fmt.Fprintf(w, `{"accepted":%d,"duplicates":0}`, n)
	}))
	defer srv.Close()

	dir := t.TempDir()
	input := writeFile(t, dir, "in.ndjson", changeInput(2500))
	setAfterValidate(t, func(name string) {
		replaceIn(t, name, changeLine(1500), strings.Replace(changeLine(1500), "e01500", "x01500", 1))
		appendTo(t, name, "{\"id\": oops}\n")
	})
	r := runCLI(t, nil, "", "ingest", "--server", srv.URL, input)
	if r.code != exitError || r.stdout != "inserted 1000, duplicates 0, rejected 0\n" || !strings.Contains(r.stderr, "lines 1001 to 2000 differ") {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if len(posted) != 1000 || posted[999] != changeLine(1000) {
		t.Errorf("%d lines posted; want the first 1000", len(posted))
	}

	posted = nil
	writeFile(t, dir, "in.ndjson", changeInput(2500))
	setAfterValidate(t, func(name string) { appendTo(t, name, "{\"id\": oops}\n") })
	r = runCLI(t, nil, "", "ingest", "--server", srv.URL, input)
	if r.code != exitOK || r.stdout != "inserted 2500, duplicates 0, rejected 0\n" || !strings.Contains(r.stderr, "the input grew by 13 bytes") {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if len(posted) != 2500 {
		t.Errorf("%d lines posted; want 2500", len(posted))
	}
}

// setAfterValidate sets the hook between ingest's passes for the test.
func setAfterValidate(t *testing.T, f func(string)) {
	t.Helper()
	afterValidate = f
	t.Cleanup(func() { afterValidate = nil })
}

func appendTo(t *testing.T, name, s string) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// replaceIn replaces old, which must occur once, by new of the same
// length in place.
func replaceIn(t *testing.T, name, old, new string) {
	t.Helper()
	if len(old) != len(new) {
		t.Fatalf("replaceIn: %d bytes by %d", len(old), len(new))
	}
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte(old))
	if i < 0 || bytes.Count(data, []byte(old)) != 1 {
		t.Fatalf("replaceIn: %q occurs %d times", old, bytes.Count(data, []byte(old)))
	}
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(new), int64(i)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestIngestStdinTwoPasses: standard input is spooled in the first pass
// and the second reads the spool, which matches batch for batch.
func TestIngestStdinTwoPasses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store := filepath.Join(dir, "s.db")
	r := runCLI(t, map[string]string{"TMPDIR": dir}, changeInput(2500), "ingest", "--store", store, "-")
	if r.code != exitOK || r.stdout != "inserted 2500, duplicates 0, rejected 0\n" || r.stderr != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if n := len(storedIDs(t, store)); n != 2500 {
		t.Errorf("%d events stored; want 2500", n)
	}
}
