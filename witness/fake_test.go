package witness_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"chainlog/internal/chainlogtest"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// fakeWitness is a C2SP tlog-witness for the protocol's edges: it checks
// the log's signature and the consistency proof as litewitness does, and
// can be told to fail.
type fakeWitness struct {
	t      *testing.T
	signer *torchwood.CosignatureSigner
	vkey   string
	log    note.Verifier
	srv    *httptest.Server

	mu       sync.Mutex
	size     int64
	root     tlog.Hash
	statuses []int
	// fail, when set, answers a request instead of the protocol (n counts
	// requests from 1); it returns 0 to go on with the protocol.
	fail func(w http.ResponseWriter, n int) int
	// cosigner, when set, cosigns instead of signer (a wrong key).
	cosigner note.Signer
	hang     chan struct{} // when set, requests wait for it to close
}

func newFakeWitness(t *testing.T, name string, log note.Verifier) *fakeWitness {
	t.Helper()
	f := &fakeWitness{t: t, log: log}
	f.signer, f.vkey = chainlogtest.NewWitnessKey(t, name)
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeWitness) spec() string { return f.srv.URL + "=" + f.vkey }

func (f *fakeWitness) requests() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.statuses...)
}

func (f *fakeWitness) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/add-checkpoint" {
		http.NotFound(w, r)
		return
	}
	if f.hang != nil {
		select {
		case <-f.hang:
		case <-r.Context().Done():
			return
		}
	}
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	rec := &statusWriter{ResponseWriter: w}
	f.answer(rec, body)
	f.statuses = append(f.statuses, rec.status)
}

func (f *fakeWitness) answer(w *statusWriter, body []byte) {
	if f.fail != nil && f.fail(w, len(f.statuses)+1) != 0 {
		return
	}
	head, signed, ok := bytes.Cut(body, []byte("\n\n"))
	lines := strings.Split(string(head), "\n")
	old, err := strconv.ParseInt(strings.TrimPrefix(lines[0], "old "), 10, 64)
	if !ok || err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var proof tlog.TreeProof
	for _, l := range lines[1:] {
		h, err := tlog.ParseHash(l)
		if err != nil {
			http.Error(w, "bad hash", http.StatusBadRequest)
			return
		}
		proof = append(proof, h)
	}
	n, err := note.Open(signed, note.VerifierList(f.log))
	if err != nil {
		http.Error(w, "unknown log", http.StatusForbidden)
		return
	}
	c, err := torchwood.ParseCheckpoint(n.Text)
	if err != nil {
		http.Error(w, "bad checkpoint", http.StatusBadRequest)
		return
	}
	if old != f.size {
		w.Header().Set("Content-Type", "text/x.tlog.size")
		w.WriteHeader(http.StatusConflict)
		fmt.Fprintf(w, "%d\n", f.size)
		return
	}
	if old > 0 && tlog.CheckTree(proof, c.N, c.Hash, old, f.root) != nil {
		http.Error(w, "bad consistency proof", http.StatusUnprocessableEntity)
		return
	}
	f.size, f.root = c.N, c.Hash
	var s note.Signer = f.signer
	if f.cosigner != nil {
		s = f.cosigner
	}
	cosigned, err := note.Sign(&note.Note{Text: n.Text}, s)
	if err != nil {
		f.t.Error(err)
		return
	}
	_, sigs, _ := bytes.Cut(cosigned, []byte("\n\n"))
	w.Write(sigs)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}
