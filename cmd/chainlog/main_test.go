package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// TestMain lets the test binary act as the chainlog command: testscript
// installs it in $PATH under that name, and runs it in a child process, so
// that scripts see real exit codes and real standard streams.
func TestMain(m *testing.M) {
	// Under -race every chainlog child process would sleep 1s at exit
	// (the race detector's default atexit_sleep_ms); testscript passes
	// GORACE on to the scripts' processes.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=10")
	}
	if filepath.Base(os.Args[0]) != "chainlog" { // not a script's chainlog
		defaultParallel(4)
	}
	testscript.Main(m, map[string]func(){
		"chainlog": func() {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			code := run(ctx, osEnv(), os.Args[1:])
			stop()
			os.Exit(code)
		},
	})
}

// defaultParallel runs up to n parallel tests at once unless -parallel was
// given (its default is GOMAXPROCS): these tests spend most of their time
// waiting for child processes, daemons and disk syncs, not on the CPU.
func defaultParallel(n int) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given && runtime.GOMAXPROCS(0) < n {
		flag.Set("test.parallel", strconv.Itoa(n))
	}
}

// TestScripts runs the end-to-end CLI scripts in testdata/script.
//
// Besides the standard testscript commands the scripts have:
//
//	exitcode N prog [args...]  run prog and require exit code N exactly;
//	                           a Go panic (which also exits 2) always fails
//	sqlexec DB SQL...          run each SQL statement on the SQLite file DB
//	                           (never created), printing result rows to
//	                           stdout with columns separated by |; a
//	                           32-byte blob (a stored hash) prints as
//	                           lowercase hex, as lower(hex(x)) shows it
//	subst FILE OLD NEW         replace every OLD in FILE by NEW; both are
//	                           Go string escapes, so NEW may be '\xff'
//	ndjsoncmp A B [FIELD|-FIELD...]
//	                           match the NDJSON records of A and B by "id"
//	                           and compare the listed fields (default: all
//	                           fields of B's records; -FIELD leaves one out)
//
// Every script starts with HOME=$WORK/home (empty) and the repository's
// chain-vectors.* files in $WORK.
func TestScripts(t *testing.T) {
	vectors, err := filepath.Glob(filepath.Join("..", "..", "testdata", "chain-vectors.*"))
	if err != nil || len(vectors) == 0 {
		t.Fatalf("no chain vectors in ../../testdata (err %v)", err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			home := filepath.Join(e.WorkDir, "home")
			if err := os.Mkdir(home, 0o755); err != nil {
				return err
			}
			e.Setenv("HOME", home)
			for _, v := range vectors {
				b, err := os.ReadFile(v)
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(e.WorkDir, filepath.Base(v)), b, 0o644); err != nil {
					return err
				}
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":  cmdExitCode,
			"sqlexec":   cmdSQLExec,
			"subst":     cmdSubst,
			"ndjsoncmp": cmdNDJSONCmp,
		},
	})
}

func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! exitcode")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: exitcode N prog [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: bad exit code %q", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: %v", err)
		}
		got = ee.ExitCode()
	}
	// A Go panic exits with 2 too: make sure a 2 is chainlog's own.
	if stderr := ts.ReadFile("stderr"); strings.HasPrefix(stderr, "panic: ") || strings.Contains(stderr, "\npanic: ") {
		ts.Fatalf("%s panicked", args[1])
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

func cmdSQLExec(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! sqlexec")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: sqlexec DB SQL...")
	}
	conn, err := sqlite.OpenConn(ts.MkAbs(args[0]), sqlite.OpenReadWrite)
	ts.Check(err)
	defer func() { ts.Check(conn.Close()) }()
	out := ts.Stdout()
	for _, q := range args[1:] {
		err := sqlitex.ExecuteTransient(conn, q, &sqlitex.ExecOptions{
			ResultFunc: func(stmt *sqlite.Stmt) error {
				cols := make([]string, stmt.ColumnCount())
				for i := range cols {
					switch {
					case stmt.ColumnType(i) == sqlite.TypeNull:
						cols[i] = "NULL"
					case stmt.ColumnType(i) == sqlite.TypeBlob && stmt.ColumnLen(i) == 32:
						b := make([]byte, 32)
						stmt.ColumnBytes(i, b)
						cols[i] = hex.EncodeToString(b)
					default:
						cols[i] = stmt.ColumnText(i)
					}
				}
				_, err := fmt.Fprintln(out, strings.Join(cols, "|"))
				return err
			},
		})
		if err != nil {
			ts.Fatalf("sqlexec %q: %v", q, err)
		}
	}
}

func cmdSubst(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! subst")
	}
	if len(args) != 3 {
		ts.Fatalf("usage: subst FILE OLD NEW")
	}
	unq := func(s string) []byte {
		u, err := strconv.Unquote(`"` + s + `"`)
		if err != nil {
			ts.Fatalf("subst: bad escape in %q: %v", s, err)
		}
		return []byte(u)
	}
	name := ts.MkAbs(args[0])
	b, err := os.ReadFile(name)
	ts.Check(err)
	old := unq(args[1])
	if !bytes.Contains(b, old) {
		ts.Fatalf("subst: %s does not contain %q", args[0], old)
	}
	ts.Check(os.WriteFile(name, bytes.ReplaceAll(b, old, unq(args[2])), 0o644))
}

func cmdNDJSONCmp(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: ndjsoncmp A B [FIELD|-FIELD...]")
	}
	a, _ := readNDJSON(ts, args[0])
	b, bOrder := readNDJSON(ts, args[1])
	var only []string
	skip := map[string]bool{}
	for _, f := range args[2:] {
		if name, ok := strings.CutPrefix(f, "-"); ok {
			skip[name] = true
		} else {
			only = append(only, f)
		}
	}
	var diffs []string
	if len(a) != len(b) {
		diffs = append(diffs, fmt.Sprintf("%s has %d records, %s has %d", args[0], len(a), args[1], len(b)))
	}
	for _, id := range bOrder {
		ra, ok := a[id]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("id %q: missing from %s", id, args[0]))
			continue
		}
		rb := b[id]
		fields := only
		if fields == nil {
			for k := range rb {
				fields = append(fields, k)
			}
			for k := range ra {
				if _, ok := rb[k]; !ok {
					fields = append(fields, k)
				}
			}
			sort.Strings(fields)
		}
		for _, f := range fields {
			if skip[f] {
				continue
			}
			va, oka := ra[f]
			vb, okb := rb[f]
			if oka != okb || !reflect.DeepEqual(va, vb) {
				diffs = append(diffs, fmt.Sprintf("id %q field %q: %s has %s, %s has %s", id, f, args[0], showJSON(va, oka), args[1], showJSON(vb, okb)))
			}
		}
	}
	switch {
	case len(diffs) > 0 && !neg:
		if len(diffs) > 10 {
			diffs = append(diffs[:10], fmt.Sprintf("... and %d more", len(diffs)-10))
		}
		ts.Fatalf("ndjsoncmp %s %s:\n%s", args[0], args[1], strings.Join(diffs, "\n"))
	case len(diffs) == 0 && neg:
		ts.Fatalf("ndjsoncmp %s %s: records match", args[0], args[1])
	}
}

func showJSON(v any, ok bool) string {
	if !ok {
		return "no such field"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// readNDJSON reads the records of an NDJSON file keyed by their "id", and
// the ids in file order.
func readNDJSON(ts *testscript.TestScript, name string) (map[string]map[string]any, []string) {
	f, err := os.Open(ts.MkAbs(name))
	ts.Check(err)
	defer f.Close()
	recs := map[string]map[string]any{}
	var order []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var rec map[string]any
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		if err := dec.Decode(&rec); err != nil {
			ts.Fatalf("%s:%d: %v", name, n, err)
		}
		id, _ := rec["id"].(string)
		if _, dup := recs[id]; dup || id == "" {
			ts.Fatalf("%s:%d: missing or repeated id %q", name, n, id)
		}
		recs[id] = rec
		order = append(order, id)
	}
	ts.Check(sc.Err())
	return recs, order
}
