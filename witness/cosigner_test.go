package witness_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chainlog"
	"chainlog/internal/chainlogtest"
	"chainlog/publish"
	"chainlog/witness"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/mod/sumdb/note"
)

// rig is a log (an in-memory store and its key) and its checkpoint file.
type rig struct {
	signer note.Signer
	log    note.Verifier
	src    *chainlogtest.Source
	file   string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	s, v := chainlogtest.NewKey(t, "chainlog/test/fake")
	return &rig{signer: s, log: v, src: chainlogtest.NewSource(), file: filepath.Join(t.TempDir(), "s.checkpoints")}
}

// checkpoint commits n events and signs a checkpoint of the tree.
func (r *rig) checkpoint(t *testing.T, n int) []byte {
	t.Helper()
	commit(r.src, fmt.Sprintf("ev%d", len(r.src.Rows)), n)
	cp := publish.NewCheckpointer(publish.CheckpointerConfig{Signer: r.signer, File: r.file})
	if err := cp.Run(t.Context(), r.src); err != nil {
		t.Fatal(err)
	}
	last, err := publish.File{Path: r.file}.Last()
	if err != nil {
		t.Fatal(err)
	}
	return last
}

func counter(t *testing.T, m *witness.Metrics, w, status string) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Rejections(w, status).Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.Counter.GetValue()
}

func TestCosignEdges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		setup    func(f *fakeWitness)
		timeout  time.Duration
		want     string // "" for success, else in the error
		statuses string
		rejected string // the rejections metric's status label, if any
	}{
		{name: "cosigned", statuses: "[200]"},
		{name: "5xx, then retried", setup: func(f *fakeWitness) {
			f.fail = func(w http.ResponseWriter, n int) int {
				if n <= 2 {
					http.Error(w, "busy", http.StatusServiceUnavailable)
					return 1
				}
				return 0
			}
		}, statuses: "[503 503 200]"},
		{name: "403 unknown log: an alert, not retried", setup: func(f *fakeWitness) {
			_, f.log = chainlogtest.NewKey(t, "chainlog/test/fake") // another key of the same name
		}, want: "403 Forbidden: unknown log", statuses: "[403]", rejected: "403"},
		{name: "404", setup: func(f *fakeWitness) {
			f.fail = func(w http.ResponseWriter, n int) int { http.NotFound(w, nil); return 1 }
		}, want: "404 Not Found", statuses: "[404]", rejected: "404"},
		{name: "422", setup: func(f *fakeWitness) {
			f.fail = func(w http.ResponseWriter, n int) int {
				http.Error(w, "bad consistency proof", http.StatusUnprocessableEntity)
				return 1
			}
		}, want: "422 Unprocessable Entity: bad consistency proof", statuses: "[422]", rejected: "422"},
		{name: "cosigned with another key", setup: func(f *fakeWitness) {
			f.cosigner, _ = chainlogtest.NewWitnessKey(t, "witness.example/a")
		}, want: "no valid cosignature by witness.example/a", statuses: "[200]", rejected: "bad_cosignature"},
		{name: "409 twice: not looped", setup: func(f *fakeWitness) {
			f.fail = func(w http.ResponseWriter, n int) int {
				w.Header().Set("Content-Type", "text/x.tlog.size")
				w.WriteHeader(http.StatusConflict)
				fmt.Fprintf(w, "%d\n", n)
				return 1
			}
		}, want: "its tree size moved again, to 2", statuses: "[409 409]", rejected: "409"},
		{name: "409 without a size", setup: func(f *fakeWitness) {
			f.fail = func(w http.ResponseWriter, n int) int {
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(http.StatusConflict)
				fmt.Fprintf(w, "conflict\n")
				return 1
			}
		}, want: `409 with Content-Type "text/plain"`, statuses: "[409]", rejected: "409"},
		{name: "409 beyond the checkpoint", setup: func(f *fakeWitness) {
			f.fail = func(w http.ResponseWriter, n int) int {
				w.Header().Set("Content-Type", "text/x.tlog.size")
				w.WriteHeader(http.StatusConflict)
				fmt.Fprintf(w, "99\n")
				return 1
			}
		}, want: "it has seen a tree of size 99, larger than this checkpoint's 3", statuses: "[409]", rejected: "409"},
		{name: "a witness that hangs: the timeout", setup: func(f *fakeWitness) {
			f.hang = make(chan struct{})
		}, timeout: 200 * time.Millisecond, want: "gave up: context deadline exceeded", statuses: "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t)
			f := newFakeWitness(t, "witness.example/a", r.log)
			if tc.setup != nil {
				tc.setup(f)
			}
			w, err := witness.ParseWitness(f.spec())
			if err != nil {
				t.Fatal(err)
			}
			metrics := witness.NewMetrics(prometheus.NewRegistry())
			var logs bytes.Buffer
			c, err := witness.New(witness.Config{Witnesses: []witness.Witness{w}, File: witness.CosignedPath(r.file),
				Timeout: cmpOr(tc.timeout, 5*time.Second), MinBackoff: time.Millisecond,
				Logger: slog.New(slog.NewTextHandler(&logs, nil)), Metrics: metrics})
			if err != nil {
				t.Fatal(err)
			}
			signed := r.checkpoint(t, 3)
			err = c.Cosign(t.Context(), signed, r.src)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !c.Cosigned(signed) {
					t.Error("Cosigned = false after a quorum cosigned")
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Cosign = %v; want an error with %q", err, tc.want)
			}
			if got := fmt.Sprint(f.requests()); got != tc.statuses {
				t.Errorf("statuses = %s; want %s", got, tc.statuses)
			}
			if tc.rejected != "" {
				if n := counter(t, metrics, w.Name(), tc.rejected); n != 1 {
					t.Errorf("rejections{status=%s} = %v; want 1", tc.rejected, n)
				}
				if !strings.Contains(logs.String(), "level=ERROR") {
					t.Errorf("log = %q; want an error", logs.String())
				}
			}
			if f.hang != nil {
				close(f.hang)
			}
		})
	}
}

func cmpOr(a, b time.Duration) time.Duration {
	if a != 0 {
		return a
	}
	return b
}

// TestCosignQuorum: two of three witnesses suffice; the cosigned note
// holds both cosignatures, and a later note more.
func TestCosignQuorum(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	var ws []witness.Witness
	var fakes []*fakeWitness
	for _, name := range []string{"a.example/w", "b.example/w", "c.example/w"} {
		f := newFakeWitness(t, name, r.log)
		w, err := witness.ParseWitness(f.spec())
		if err != nil {
			t.Fatal(err)
		}
		fakes, ws = append(fakes, f), append(ws, w)
	}
	fakes[2].fail = func(w http.ResponseWriter, n int) int { http.Error(w, "no", http.StatusForbidden); return 1 }
	c, err := witness.New(witness.Config{Witnesses: ws, Quorum: 2, File: witness.CosignedPath(r.file), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Cosign(t.Context(), r.checkpoint(t, 5), r.src); err != nil {
		t.Fatal(err)
	}
	last, err := publish.File{Path: witness.CosignedPath(r.file)}.Last()
	if err != nil {
		t.Fatal(err)
	}
	vs := []note.Verifier{ws[0].Verifier, ws[1].Verifier, ws[2].Verifier}
	if err := chainlog.CheckCosignatures(last, 2, vs); err != nil {
		t.Errorf("CheckCosignatures(quorum 2) = %v", err)
	}
	var ce *chainlog.CosignatureError
	if err := chainlog.CheckCosignatures(last, 3, vs); !errors.As(err, &ce) || fmt.Sprint(ce.Missing) != "[c.example/w]" {
		t.Errorf("CheckCosignatures(quorum 3) = %v; want c.example/w missing", err)
	}
	// Three of three is too many: the quorum error says who failed.
	c3, err := witness.New(witness.Config{Witnesses: ws, File: witness.CosignedPath(r.file), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = c3.Cosign(t.Context(), r.checkpoint(t, 1), r.src)
	var qe *witness.QuorumError
	if !errors.As(err, &qe) || qe.Cosigned != 2 || qe.Quorum != 3 || !strings.Contains(err.Error(), "c.example/w refused") {
		t.Errorf("Cosign = %v; want 2 of 3 cosigned, c.example/w refusing", err)
	}
}

// TestCosignerResumes: a new Cosigner learns each witness's size from the
// cosigned file's last note, so it sends a proof without a 409 first.
func TestCosignerResumes(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	f := newFakeWitness(t, "a.example/w", r.log)
	w, err := witness.ParseWitness(f.spec())
	if err != nil {
		t.Fatal(err)
	}
	cfg := witness.Config{Witnesses: []witness.Witness{w}, File: witness.CosignedPath(r.file), Timeout: 5 * time.Second}
	for i := range 2 {
		c, err := witness.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Cosign(t.Context(), r.checkpoint(t, 2+i), r.src); err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(f.requests()); got != "[200 200]" {
		t.Errorf("statuses = %s; want [200 200] (no 409)", got)
	}
}

// TestAsyncWitnessNeverBlocks: with Async, Cosign returns while the
// witness hangs, and Close is bounded.
func TestAsyncWitnessNeverBlocks(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	f := newFakeWitness(t, "a.example/w", r.log)
	f.hang = make(chan struct{})
	defer close(f.hang)
	w, err := witness.ParseWitness(f.spec())
	if err != nil {
		t.Fatal(err)
	}
	c, err := witness.New(witness.Config{Witnesses: []witness.Witness{w}, File: witness.CosignedPath(r.file),
		Async: true, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	signed := r.checkpoint(t, 2)
	go func() { done <- c.Cosign(t.Context(), signed, r.src) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Cosign blocked on a witness that does not answer")
	}
	start := time.Now()
	c.Close(50 * time.Millisecond)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	if c.Cosigned(signed) {
		t.Error("Cosigned = true; the witness never answered")
	}
}

func TestNewConfig(t *testing.T) {
	t.Parallel()
	_, vkey := chainlogtest.NewWitnessKey(t, "a.example/w")
	w, err := witness.ParseWitness("http://127.0.0.1:1=" + vkey)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "s.cosigned")
	for _, tc := range []struct {
		name string
		cfg  witness.Config
		want string
	}{
		{"none", witness.Config{File: file}, "none configured"},
		{"quorum too large", witness.Config{Witnesses: []witness.Witness{w}, Quorum: 2, File: file}, "want 1 to 1"},
		{"twice", witness.Config{Witnesses: []witness.Witness{w, w}, File: file}, "given twice"},
		{"no file", witness.Config{Witnesses: []witness.Witness{w}}, "no cosigned checkpoints file"},
	} {
		if _, err := witness.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New = %v; want an error with %q", tc.name, err, tc.want)
		}
	}
}
